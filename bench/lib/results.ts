/** Writes bench/RESULTS.md: a header on the machine and versions, then one section per bench module. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg, totalmem } from 'node:os';

export interface Section {
  name: string;
  /** Markdown printed by the module. */
  body: string;
  seconds: number;
  /** The module exited non-zero; `body` says how. */
  failed?: boolean;
}

const root = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGES = [
  'express', 'fastify', 'koa', 'hono', '@hono/node-server', 'openai', 'autocannon',
  'express-http-context', 'cls-rtracer', '@fastify/request-context', 'better-sqlite3', 'tsx',
];

function versionOf(name: string): string {
  try {
    // Read from the file: not every package exports its package.json.
    return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

const open = (name: string) => `<!-- bench:${name} -->`;
const close = (name: string) => `<!-- /bench:${name} -->`;

/** The sections already in the file, by module name, so a partial run keeps the others. */
function previous(text: string): Map<string, string> {
  const found = new Map<string, string>();
  const re = /<!-- bench:([\w-]+) -->\n([\s\S]*?)\n<!-- \/bench:\1 -->/g;
  for (const m of text.matchAll(re)) found.set(m[1], m[2]);
  return found;
}

/** The hand-written notes between these markers are kept from run to run. */
const NOTES = /<!-- notes -->\n[\s\S]*?\n<!-- \/notes -->/;

export function writeResults(file: string, command: string, sections: Section[], loadAtStart: number[]): string {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const kept = previous(old);
  const notes = old.match(NOTES)?.[0] ?? '<!-- notes -->\n<!-- /notes -->';
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  for (const s of sections) {
    kept.set(s.name, `## ${s.name}\n\n_\`${command}\`, ${date}, ${Math.round(s.seconds)} s._\n\n${s.body}`);
  }
  const cpu = cpus();
  const header = [
    '# Benchmark results',
    '',
    `Last run: \`${command}\` on ${date}. Reproduce everything with \`npm run bench\`; one module with`,
    '`npm run bench -- --only <name>` (each section says the command and date it came from).',
    '',
    `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform}, Node ${process.version}.`,
    // Load above one per core means other work shared the cores during the run.
    Math.max(loadAtStart[0], loadavg()[0]) > cpu.length
      ? '**Shared machine**: other builds and tests ran on these cores during the run, so absolute numbers drift; variants alternate round by round and every ratio is to the baseline of the same round. Read ratios and CPU µs per request, not absolute req/s.'
      : 'Nothing else heavy ran during the run. Variants alternate round by round and every ratio is to the baseline of the same round.',
    `Load average (1 min) at the start of the run ${loadAtStart[0].toFixed(1)}, at the end ${loadavg()[0].toFixed(1)}, on ${cpu.length} cores.`,
    '',
    'Versions: ' + PACKAGES.map((p) => `${p} ${versionOf(p)}`).join(', ') + '.',
    '',
  ].join('\n');
  const body = [...kept.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, text]) => `${open(name)}\n${text}\n${close(name)}`)
    .join('\n\n');
  writeFileSync(file, `${header}\n${notes}\n\n${body}\n`);
  return file;
}
