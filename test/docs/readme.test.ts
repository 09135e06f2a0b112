/**
 * Every fenced code block of README.md, executed, so the README cannot rot:
 *
 * - `ts`/`js`: type-checked (TypeScript compiler API, `tokenlay` resolved through tsconfig paths to
 *   the sources, as the tests do) and run, in README order, in a temporary folder holding the
 *   README's own `tokenlay.rules.yaml`, against the provider stand-in and a `tokenlay gateway` this
 *   test starts (`PROVIDER_API_*`, `TOKENLAY_KEY` and `TOKENLAY_BASE_URL` point at them, as a
 *   user's environment would). A block marked `<!-- typecheck-only: why -->` is only type-checked.
 *   Fragments get the small preamble below for the names they use and do not declare.
 * - `sh`: `tokenlay …` (the CLI from the sources) and `curl` commands run in the same folder;
 *   `npm` scripts, packages and files named are checked to exist. In a block marked
 *   `<!-- flags-only: why -->`, `tokenlay` commands are checked against their own `--help`.
 * - `yaml`: loaded with `loadRules`.
 * - Any other language, or none, fails.
 *
 * The README's gateway address, http://127.0.0.1:8787, is replaced by the address of the gateway
 * the test started. The README must also name every export of every entry in package.json
 * `exports`, every option, every gateway flag and every error type and code the engine, the
 * gateway and the dashboard answer.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Express } from 'express';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { loadRules } from '../../src/policy/index.js';
import type { TokenlayOpenAI } from '../../src/index.js';
import { startProvider, type Provider } from '../support/provider.js';
import { blockNames, fencedBlocks, flagsOf, section, shellCommands, type Block, type Command } from './readme-blocks.js';
import { watchPrinted } from '../support/printed.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const BLOCKS = fencedBlocks(README);
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
/** Where the README says its gateway listens; replaced by the one this test started. */
const README_GATEWAY = 'http://127.0.0.1:8787';
const PROVIDER_KEY = 'sk-readme-test-provider-key';

/**
 * The preamble of fragments: a block that uses one of these names without declaring or importing
 * it gets its line. Each is what the README's prose assumes the reader already has.
 */
const PREAMBLE: Record<string, string> = {
  app: "import __express from 'express';\nconst app = __express();",
  express: "import express from 'express';",
  providerApiKey: 'const providerApiKey = process.env.PROVIDER_API_KEY!;',
  tokenlayKey: 'const tokenlayKey = process.env.TOKENLAY_KEY!;',
  // Remote mode: the key and the gateway come from the environment.
  openai: "import { TokenlayOpenAI as __TokenlayOpenAI } from 'tokenlay';\nconst openai = new __TokenlayOpenAI();",
  tokenlay: "import { tokenlay } from 'tokenlay/express';",
  requireAdmin: 'const requireAdmin = (_req: unknown, _res: unknown, next: () => void) => next();',
  accounts: "const accounts = { byApiKey: async (_key: unknown) => ({ id: 'alice', orgId: 'acme', plan: 'pro' }) };",
  session: "const session = async (_request: Request) => ({ userId: 'alice' });",
  job: "const job = { userId: 'u_42', plan: 'free', prompt: 'Summarise my week.' };",
};

/** The package's public entries (package.json `exports`) and their sources. */
const ENTRIES: Record<string, string> = {
  tokenlay: 'src/index.ts',
  'tokenlay/express': 'adapters/express.ts',
  'tokenlay/koa': 'adapters/koa.ts',
  'tokenlay/fastify': 'adapters/fastify.ts',
  'tokenlay/hono': 'adapters/hono.ts',
  'tokenlay/next': 'adapters/next.ts',
  'tokenlay/dashboard': 'src/dashboard/index.ts',
  'tokenlay/gateway': 'src/gateway/index.ts',
};

// Generated modules live under the repository, so that they resolve its node_modules; one folder per run.
mkdirSync(join(ROOT, '.tmp'), { recursive: true });
const GENERATED = mkdtempSync(join(ROOT, '.tmp', 'readme-blocks-'));
const BIN = join(GENERATED, 'bin');
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

const isCode = (b: Block) => b.lang === 'ts' || b.lang === 'js';
// A `js` block is checked and run as TypeScript: plain JavaScript is valid TypeScript.
const fileOf = (b: Block) => join(GENERATED, `readme-line-${b.line}.ts`);
const where = (b: Block) => `README.md:${b.line}`;
const firstLine = (b: Block) => b.code.split('\n').find((l) => l.trim() !== '')!.trim().slice(0, 60);

/** A block's module: the preamble lines it needs, its code, and its top-level values exported for the test to close. */
function moduleText(block: Block): string {
  const names = blockNames(block.code);
  const needed = Object.keys(PREAMBLE).filter((name) => names.used.has(name) && !names.bound.has(name));
  const preamble = needed.map((name) => PREAMBLE[name]!).join('\n');
  preambleLines.set(fileOf(block), preamble === '' ? 0 : preamble.split('\n').length);
  const exported = [...names.values, ...needed.filter((n) => n !== 'express' && n !== 'tokenlay')];
  return [preamble, block.code.replaceAll(README_GATEWAY, gatewayUrl), `export { ${exported.join(', ')} };`, ''].join('\n');
}

/** Lines of preamble above each generated module's block, to point a diagnostic at the README's line. */
const preambleLines = new Map<string, number>();

// Set in beforeAll.
let sandbox: string;
let provider: Provider;
let gateway: Gateway;
let gatewayUrl = README_GATEWAY;
let diagnostics: Map<string, string[]>;
let program: ts.Program;
const helps = new Map<string, Set<string>>();
const savedEnv = { ...process.env };
const savedCwd = process.cwd();

/** Type-checks every code block (and the package's entries) in one program. */
function typecheck(blocks: Block[]): void {
  const files = blocks.map(fileOf);
  const readmeLines = new Map(blocks.map((b) => [fileOf(b), b.line]));
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const options: ts.CompilerOptions = { ...parsed.options, noEmit: true };
  program = ts.createProgram([...files, ...Object.values(ENTRIES).map((f) => join(ROOT, f))], options);
  diagnostics = new Map(files.map((f) => [f, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const list = d.file && diagnostics.get(d.file.fileName);
    if (!list) continue;
    const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
    // The module is the preamble (and a blank line when it is empty), the block from the fence's next line, then the export line.
    const inBlock = line - Math.max(preambleLines.get(d.file!.fileName)!, 1);
    const at = inBlock >= 0 ? `README.md:${readmeLines.get(d.file!.fileName)! + 1 + inBlock}` : 'the preamble';
    list.push(`${at}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  }
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...savedEnv };
  for (const key of Object.keys(env)) if (/^(TOKENLAY_|PROVIDER_|OPENAI_|VITEST)/.test(key) || key === 'NODE_OPTIONS') delete env[key];
  return env;
}

/** The environment of the README's shell commands: a user's, with the stand-in and the `tokenlay` bin. */
const shellEnv: NodeJS.ProcessEnv = {};

function runShell(text: string, timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', text], { cwd: sandbox, env: shellEnv, timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** `--flag` names that `tokenlay <command> --help` lists. */
async function helpFlags(command: string): Promise<Set<string>> {
  let flags = helps.get(command);
  if (!flags) {
    const { code, stdout, stderr } = await runShell(`tokenlay ${command} --help`);
    expect(code, `tokenlay ${command} --help: ${stderr}`).toBe(0);
    flags = new Set([...stdout.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]!));
    helps.set(command, flags);
  }
  return flags;
}

/** Background processes a block started (the gateway), stopped after the last block. */
const background: Array<{ proc: ChildProcess; exited: Promise<unknown> }> = [];

async function startBackground(command: Command): Promise<string> {
  const proc = spawn('sh', ['-c', `exec ${command.text}`], { cwd: sandbox, env: shellEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  background.push({ proc, exited });
  const out = watchPrinted([proc.stdout!, proc.stderr!]);
  const listening = await out.until(/listening on (http:\/\/\S+)/, 30_000).catch((err: Error) => {
    throw new Error(`\`${command.text}\` did not say where it listens (exit ${proc.exitCode}): ${err.message}`);
  });
  return listening[1]!;
}

/** What the test learnt from running shell blocks, for later blocks and checks. */
const shellState: { cliGateway?: string; curlOutputs: string[] } = { curlOutputs: [] };

/** Runs one command of a shell block, or checks it; returns what was done, for the test's log. */
async function shellCommand(block: Block, command: Command): Promise<string> {
  let words = command.words;
  let text = command.text;
  if (words[0] === 'npx' && words[1] === 'tokenlay') {
    words = words.slice(1);
    text = text.replace(/^npx\s+/, '');
  }
  const [program0, sub] = words;
  const file = (path: string | undefined) => {
    expect(path, `${where(block)}: \`${command.text}\` names no file`).toBeDefined();
    expect(existsSync(join(ROOT, path!)), `${where(block)}: \`${command.text}\`: ${path} does not exist`).toBe(true);
    return `checked: ${path} exists`;
  };

  if (program0 === 'npm') {
    if (sub === 'install') {
      const known = new Set([PKG.name, ...Object.keys(PKG.peerDependencies)]);
      for (const name of words.slice(2).filter((w) => !w.startsWith('-'))) {
        expect(known.has(name.replace(/(.)@.*$/, '$1')), `${where(block)}: \`${command.text}\`: ${name} is neither this package nor one of its peers`).toBe(true);
      }
      return 'checked: the packages are this package and its peers (not run: no registry installs in tests)';
    }
    const script = sub === 'run' ? words[2] : sub;
    expect(PKG.scripts[script!], `${where(block)}: \`${command.text}\`: package.json has no script "${script}"`).toBeDefined();
    return `checked: package.json has the script "${script}" (not run here: it has its own tests or is the suite itself)`;
  }
  if (program0 === 'bash') return file(words[1]);
  if (program0 === 'npx' && (sub === 'tsx' || sub === 'vitest')) return file(words.slice(2).find((w) => w.includes('/')));
  if (program0 && /^(\.\/)?[\w.-]+\//.test(program0)) {
    file(program0);
    expect(statSync(join(ROOT, program0)).mode & 0o111, `${where(block)}: ${program0} is not executable`).not.toBe(0);
    return `checked: ${program0} exists and is executable`;
  }

  if (program0 === 'tokenlay') {
    const flags = await helpFlags(sub!);
    for (const flag of flagsOf(words.slice(2))) {
      expect(flags.has(flag), `${where(block)}: \`${command.text}\`: tokenlay ${sub} has no --${flag} (its --help lists ${[...flags].join(', ')})`).toBe(true);
    }
    if (block.notes['flags-only'] !== undefined) return `checked: tokenlay ${sub} accepts these flags (flags-only: ${block.notes['flags-only']})`;
    if (sub === 'gateway') {
      shellState.cliGateway = await startBackground({ ...command, text });
      return `started: ${shellState.cliGateway}`;
    }
    const run = await runShell(text.replaceAll(README_GATEWAY, shellState.cliGateway ?? README_GATEWAY));
    expect(run.code, `${where(block)}: \`${command.text}\` exited ${run.code}:\n${run.stderr}${run.stdout}`).toBe(0);
    // `keys create` prints the key as its last line; the README has the reader keep it as TOKENLAY_KEY.
    if (sub === 'keys' && words[2] === 'create') shellEnv.TOKENLAY_KEY = run.stdout.trim().split('\n').at(-1);
    return `ran: exit 0`;
  }
  if (program0 === 'curl') {
    expect(block.notes['flags-only'], `${where(block)}: a curl command cannot be flags-only`).toBeUndefined();
    expect(shellState.cliGateway, `${where(block)}: curl runs before any block started \`tokenlay gateway\``).toBeDefined();
    const run = await runShell(`${text.replaceAll(README_GATEWAY, shellState.cliGateway!)} --silent --show-error --write-out '\\n%{http_code}'`);
    expect(run.code, `${where(block)}: \`${command.text}\`: ${run.stderr}`).toBe(0);
    const status = run.stdout.trim().split('\n').at(-1);
    expect(status, `${where(block)}: \`${command.text}\` was answered ${status}: ${run.stdout}`).toMatch(/^2\d\d$/);
    shellState.curlOutputs.push(run.stdout);
    return `ran: HTTP ${status}`;
  }
  throw new Error(`${where(block)}: the test does not know how to run or check \`${command.text}\`; teach test/docs/readme.test.ts, or write it differently`);
}

/** Values a block left open (clients, gateways, stores): closed once it has run. */
async function closeAll(values: Record<string, unknown>): Promise<void> {
  for (const value of Object.values(values)) {
    const close = (value as { close?: unknown } | null)?.close;
    if (typeof close === 'function') await Promise.race([close.call(value), new Promise((r) => setTimeout(r, 10_000))]);
  }
}

beforeAll(async () => {
  sandbox = mkdtempSync(join(tmpdir(), 'tokenlay-readme-'));
  mkdirSync(BIN);
  // The `tokenlay` bin, from the sources; `npx tokenlay` in the README runs it.
  writeFileSync(join(BIN, 'tokenlay'), `#!/bin/sh\nexec "${process.execPath}" --import "${TSX}" "${join(ROOT, 'src', 'cli', 'main.ts')}" "$@"\n`);
  chmodSync(join(BIN, 'tokenlay'), 0o755);

  // Files the README names and shows (`<!-- file: NAME -->`), for every block to use.
  for (const block of BLOCKS) if (block.notes.file) writeFileSync(join(sandbox, block.notes.file), block.code);
  expect(existsSync(join(sandbox, 'tokenlay.rules.yaml')), 'the README shows a tokenlay.rules.yaml (<!-- file: tokenlay.rules.yaml -->)').toBe(true);

  provider = await startProvider();
  gateway = createGateway({ rules: join(sandbox, 'tokenlay.rules.yaml'), store: 'memory', keys: join(sandbox, 'test-gateway-keys.db'), allowProviderBases: [provider.base], logger: false });
  gatewayUrl = (await gateway.listen(0)).url;
  const key = await gateway.keys.create('readme');

  Object.assign(shellEnv, cleanEnv(), {
    PATH: `${BIN}:${savedEnv.PATH}`,
    PROVIDER_API_KEY: PROVIDER_KEY,
    PROVIDER_API_BASE: provider.base,
    // The gateway the README starts: any free port, by its documented env var. The stand-in is
    // allowed by the README's own command line (--allow-provider-base "$PROVIDER_API_BASE"), as
    // it is for a reader; nothing here allows it for them.
    TOKENLAY_PORT: '0',
  });
  for (const name of Object.keys(process.env)) if (/^(TOKENLAY_|PROVIDER_|OPENAI_API_KEY)/.test(name)) delete process.env[name];
  Object.assign(process.env, { PROVIDER_API_KEY: PROVIDER_KEY, PROVIDER_API_BASE: provider.base, TOKENLAY_KEY: key, TOKENLAY_BASE_URL: gatewayUrl });

  // Read before the type-check, which holds the event loop: a --help read across it passed its
  // time limit on a loaded machine, and execFile then dropped its output.
  await Promise.all(['gateway', 'keys', 'usage', 'export'].map(helpFlags));
  const code = BLOCKS.filter(isCode);
  for (const block of code) writeFileSync(fileOf(block), moduleText(block));
  typecheck(code);
  process.chdir(sandbox);
}, 120_000);

afterAll(async () => {
  process.chdir(savedCwd);
  for (const { proc, exited } of background) {
    if (proc.exitCode === null && proc.signalCode === null) {
      process.kill(-proc.pid!, 'SIGTERM');
      const kill = setTimeout(() => process.kill(-proc.pid!, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    }
  }
  await gateway?.close();
  await provider?.close();
  for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
  Object.assign(process.env, savedEnv);
  rmSync(sandbox, { recursive: true, force: true });
  rmSync(GENERATED, { recursive: true, force: true });
}, 30_000);

describe('README.md', () => {
  it('has only blocks of a language this test executes (ts, js, sh, yaml)', () => {
    const unknown = BLOCKS.filter((b) => !['ts', 'js', 'sh', 'yaml'].includes(b.lang)).map((b) => `${where(b)}: "${b.lang || '(none)'}"`);
    expect(unknown, 'a block this test cannot execute; give it a known language or teach the test').toEqual([]);
    expect(BLOCKS.length).toBeGreaterThan(15);
  });

  it('opens with the two commands, then the install line, then the four lines for an Express app', () => {
    const [first, second, third] = BLOCKS;
    expect(shellCommands(first!.code).map((c) => c.text)).toEqual(['npm install', 'npm run demo', 'npm test']);
    expect(shellCommands(second!.code).map((c) => c.text)).toEqual(['npm install tokenlay openai']);
    expect(third!.lang).toBe('ts');
    expect(third!.code.trim().split('\n').filter((l) => l.trim() !== '')).toHaveLength(4);
    expect(third!.code).toContain('app.use(tokenlay())');
  });

  // One test per block, in README order: later blocks use what earlier ones started.
  for (const block of BLOCKS) {
    const name = `${where(block)} ${block.lang}: ${firstLine(block)}`;
    if (isCode(block)) {
      const only = block.notes['typecheck-only'];
      it(only === undefined ? `${name} (type-checked and run)` : `${name} (type-checked only: ${only})`, async () => {
        expect(only ?? 'a reason', `${where(block)}: say why it is type-checked only`).not.toBe('');
        expect(diagnostics.get(fileOf(block)), `${where(block)} does not type-check (${fileOf(block)})`).toEqual([]);
        if (only !== undefined) return;
        const values = await import(/* @vite-ignore */ pathToFileURL(fileOf(block)).href);
        if (block === BLOCKS.find(isCode)) await quickStartAttributes(values);
        await closeAll(values);
      }, 30_000);
    } else if (block.lang === 'sh') {
      const only = block.notes['flags-only'];
      it(only === undefined ? name : `${name} (flags checked only: ${only})`, async () => {
        const done: string[] = [];
        for (const command of shellCommands(block.code)) done.push(`${command.text} → ${await shellCommand(block, command)}`);
        expect(done.length, `${where(block)} has no command`).toBeGreaterThan(0);
        console.log(`${where(block)}:\n  ${done.join('\n  ')}`);
      }, 60_000);
    } else if (block.lang === 'yaml') {
      it(`${name} (loaded with loadRules)`, () => {
        const path = join(sandbox, `readme-line-${block.line}.yaml`);
        writeFileSync(path, block.code);
        expect(() => loadRules(path), `${where(block)}:\n${block.code}`).not.toThrow();
      });
    }
  }

  it("the gateway's curl call was routed by the rules and shows in the account's usage", () => {
    expect(shellState.curlOutputs.length, 'the README shows curl calls to its gateway').toBeGreaterThanOrEqual(2);
    const chat = provider.requests.filter((r) => r.path.endsWith('/chat/completions') && r.headers.authorization === `Bearer ${PROVIDER_KEY}`);
    // The curl call names no model: the free-tier rule routes it.
    const routed = chat.filter((r) => r.body.messages?.[0]?.content === 'Say hello').map((r) => r.body.model);
    expect(routed, 'the models the stand-in was asked for by the curl call').toEqual(['gpt-4o-mini']);
    const usage = JSON.parse(shellState.curlOutputs[1]!.trim().split('\n').slice(0, -1).join('\n'));
    expect(usage.data).toEqual([expect.objectContaining({ user: 'alice', requests: 1 })]);
  });

  it('names every export of every entry in package.json exports, in its Reference', () => {
    expect(Object.keys(PKG.exports).filter((e) => e !== './package.json').map((e) => e.replace(/^\./, 'tokenlay'))).toEqual(Object.keys(ENTRIES));
    // Inline code spans of the Reference, in order, so that a name counts only inside one.
    const spans = [...section(README, 'Reference').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
    const checker = program.getTypeChecker();
    const missing: string[] = [];
    for (const [entry, file] of Object.entries(ENTRIES)) {
      const symbol = checker.getSymbolAtLocation(program.getSourceFile(join(ROOT, file))!)!;
      for (const name of checker.getExportsOfModule(symbol).map((s) => s.name)) {
        if (!spans.some((span) => new RegExp(`\\b${name}\\b`).test(span))) missing.push(`${entry}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('names every option of the client, the adapters, the gateway and the dashboard', () => {
    const checker = program.getTypeChecker();
    const missing: string[] = [];
    const optionTypes: Array<[string, string]> = [
      ['src/index.ts', 'TokenlayConnectionOptions'],
      ['src/index.ts', 'TokenlayFetchOptions'],
      ['src/index.ts', 'TokenlayMiddlewareOptions'],
      ['src/gateway/index.ts', 'GatewayOptions'],
      ['src/dashboard/index.ts', 'DashboardOptions'],
    ];
    for (const [file, typeName] of optionTypes) {
      const module = checker.getSymbolAtLocation(program.getSourceFile(join(ROOT, file))!)!;
      const symbol = checker.getExportsOfModule(module).find((s) => s.name === typeName)!;
      const type = checker.getDeclaredTypeOfSymbol(symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);
      for (const property of type.getProperties()) if (!README.includes(`\`${property.name}\``)) missing.push(`${typeName}.${property.name}`);
    }
    expect(missing).toEqual([]);
  });

  it("names every flag of every tokenlay command, and each gateway flag's env var", async () => {
    const missing: string[] = [];
    for (const command of ['gateway', 'keys', 'usage', 'export']) {
      for (const flag of await helpFlags(command)) if (flag !== 'help' && !README.includes(`--${flag}`)) missing.push(`tokenlay ${command} --${flag}`);
    }
    const { stdout } = await runShell('tokenlay gateway --help');
    for (const env of stdout.match(/TOKENLAY_[A-Z_]+/g) ?? []) if (!README.includes(`\`${env}\``)) missing.push(env);
    expect(missing).toEqual([]);
  }, 30_000);

  it('says what to do about every error class and every error type and code answered', () => {
    const errors = section(README, 'Errors and what to do');
    const answered = new Set<string>();
    const files = ['src/engine/answer.ts', 'src/policy/model.ts', 'src/store/unavailable.ts', 'src/dashboard/index.ts', ...readdirSync(join(ROOT, 'src/gateway')).map((f) => `src/gateway/${f}`)];
    for (const file of files) {
      const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.ES2022, true);
      const literals = (node: ts.Node) => {
        if (ts.isStringLiteral(node) && /^[a-z]+(_[a-z]+)+$/.test(node.text)) answered.add(node.text);
        ts.forEachChild(node, literals);
      };
      const visit = (node: ts.Node): void => {
        // `{ type: '…', code: '…' }` of an error body, the constant a store's error is answered with, and the gateway's `refuse(res, status, code, …)`.
        if (ts.isPropertyAssignment(node) && ['type', 'code'].includes(node.name.getText(source))) literals(node.initializer);
        if (ts.isVariableDeclaration(node) && /_CODE$/.test(node.name.getText(source)) && node.initializer) literals(node.initializer);
        if (ts.isCallExpression(node) && node.expression.getText(source) === 'refuse' && node.arguments[2]) literals(node.arguments[2]);
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(answered.size).toBeGreaterThan(20);
    const checker = program.getTypeChecker();
    const classes = Object.values(ENTRIES).flatMap((file) => checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(join(ROOT, file))!)!).map((s) => s.name)).filter((n) => /Error$/.test(n) && n !== 'tokenlayErrorHandler');
    expect(classes.length).toBeGreaterThanOrEqual(7);
    const missing = [...answered, ...classes].filter((name) => !errors.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});

/**
 * The four lines of the quick start, made a whole app as the README says: auth (here after
 * `tokenlay()`) sets `req.user`, a route calls the shared client, and the call arrives at the
 * gateway as that user's.
 */
async function quickStartAttributes(values: { app?: Express; openai?: TokenlayOpenAI }): Promise<void> {
  const { app, openai } = values;
  expect(app && openai, 'the quick start block leaves `app` and `openai` for the test').toBeTruthy();
  app!.use((req, _res, next) => {
    (req as { user?: unknown }).user = { id: 'quick-start-user', org: 'acme', plan: 'pro' };
    next();
  });
  app!.get('/quick-start', async (_req, res) => {
    res.json(await openai!.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }));
  });
  const server = app!.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const answer = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/quick-start`);
    expect(answer.status).toBe(200);
    const rows = await gateway.store.ledger({ fields: { user: 'quick-start-user' } });
    expect(rows).toEqual([expect.objectContaining({ fields: expect.objectContaining({ user: 'quick-start-user', org: 'acme', plan: 'pro' }), ruleId: 'pro-tier' })]);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}
