/**
 * The one benchmark entry point.
 *
 *   npm run bench                          every bench module, then bench/RESULTS.md is rewritten
 *   npm run bench -- --only mw             one module (or a comma list: --only mw,client)
 *   npm run bench -- --only mw --rounds 5 --duration 3
 *
 * A bench module is any `bench/<name>.bench.ts`: it is found by its file name, run in its own
 * process (`node --import tsx`), and what it prints on stdout (markdown) becomes its section of
 * RESULTS.md; progress goes to stderr. Modules that take rounds and durations read
 * `BENCH_ROUNDS` and `BENCH_DURATION_S`. A run of some modules only replaces their sections
 * and keeps the others as they were.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { writeResults, type Section } from './lib/results.js';
import { ensureBuilt } from '../scripts/ensure-built.mjs';

const here = dirname(fileURLToPath(import.meta.url));

function discover(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => f.slice(0, -'.bench.ts'.length))
    .sort();
}

/** Runs one module; a failing module is recorded as failed (its last lines of stderr), and the run goes on. */
function runModule(name: string, env: NodeJS.ProcessEnv): Promise<Section> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, `${name}.bench.ts`)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err = (err + chunk).slice(-4000);
      process.stderr.write(chunk);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (Date.now() - started) / 1000;
      if (code === 0) return resolve({ name, body: out.trim(), seconds });
      const tail = err.trim().split('\n').slice(-12).join('\n');
      resolve({ name, body: `**Failed** (exit code ${code}) in this run:\n\n\`\`\`\n${tail}\n\`\`\``, seconds, failed: true });
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const all = discover();
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((n) => !all.includes(n)) ?? [];
  if (unknown.length) {
    console.error(`bench: no bench module named ${unknown.map((n) => `"${n}"`).join(', ')}. Known: ${all.join(', ')} (files bench/<name>.bench.ts).`);
    process.exitCode = 2;
    return;
  }
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production' };
  for (const [flag, name] of [['rounds', 'BENCH_ROUNDS'], ['duration', 'BENCH_DURATION_S']] as const) {
    const raw = values[flag];
    if (raw === undefined) continue;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0 || n > 60 || (flag === 'rounds' && !Number.isInteger(n))) {
      console.error(`bench: --${flag} must be ${flag === 'rounds' ? 'a whole number' : 'a number of seconds'} above 0 and at most 60, got "${raw}".`);
      process.exitCode = 2;
      return;
    }
    env[name] = String(n);
  }
  const names = only ?? all;
  // Benchmarks measure the package as it ships.
  ensureBuilt();
  const loadAtStart = loadavg();
  const sections: Section[] = [];
  for (const name of names) {
    console.error(`\n# bench: ${name}`);
    sections.push(await runModule(name, env));
  }
  const failed = sections.filter((s) => s.failed).map((s) => s.name);
  if (failed.length) {
    console.error(`\nbench: ${failed.join(', ')} failed; see above (recorded as failed in RESULTS.md).`);
    process.exitCode = 1;
  }
  if (!values['no-write']) {
    const command = `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;
    const file = writeResults(join(here, 'RESULTS.md'), command, sections, loadAtStart);
    console.error(`\nbench: wrote ${file}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
