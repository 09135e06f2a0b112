import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startProvider, type Provider } from '../support/provider.js';

// `npm pack` output installed into an empty folder, used from `import` and from `require`.
const root = resolve(__dirname, '../..');
// Async: the provider stand-in answers from this same process, so its event loop must stay free.
const run = promisify(execFile);
let dir: string;
let provider: Provider;
let installLog: string;

beforeAll(async () => {
  provider = await startProvider();
  dir = mkdtempSync(join(tmpdir(), 'tokenlay-pack-'));
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
  // Built just above; prepack (which builds for git installs) need not build again.
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: root, stdio: 'pipe' });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  const installed = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', `./${tarball}`, 'openai@6', 'express@5'], { cwd: dir });
  installLog = installed.stdout + installed.stderr;
}, 240_000);

afterAll(async () => {
  await provider.close();
  rmSync(dir, { recursive: true, force: true });
});

const script = (kind: 'esm' | 'cjs') => `
${kind === 'esm' ? "import OpenAI from 'openai'; import { TokenlayOpenAI, runWithTokenlay, getTokenlayMetadata } from 'tokenlay'; import { tokenlay } from 'tokenlay/express';" : "const OpenAI = require('openai'); const { TokenlayOpenAI, runWithTokenlay } = require('tokenlay'); const { tokenlay } = require('tokenlay/express');"}
const main = async () => {
  const client = new TokenlayOpenAI({ providerApiKey: 'sk-p', tokenlayKey: 'tl-k', tokenlayBaseUrl: process.env.PROXY_URL, maxRetries: 0 });
  const r = await runWithTokenlay({ user: '${kind}-user' }, () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
  console.log(JSON.stringify({ isOpenAI: client instanceof (OpenAI.default ?? OpenAI), answer: r.choices[0].message.content, middleware: typeof tokenlay() }));
};
main().catch((e) => { console.error(e); process.exit(1); });
`;

it.each(['esm', 'cjs'] as const)('installs from npm pack and works from %s', async (kind) => {
  const file = join(dir, kind === 'esm' ? 'main.mjs' : 'main.cjs');
  writeFileSync(file, script(kind));
  const { stdout: out } = await run(process.execPath, [file], { cwd: dir, env: { ...process.env, PROXY_URL: provider.url }, encoding: 'utf8' });
  expect(JSON.parse(out.trim())).toEqual({ isOpenAI: true, answer: `hello ${kind}-user`, middleware: 'function' });
});

it('keeps one scope when the ESM client and the CJS scope functions are mixed', async () => {
  const file = join(dir, 'mixed.mjs');
  writeFileSync(
    file,
    `import { createRequire } from 'node:module';
import { TokenlayOpenAI } from 'tokenlay';
const require = createRequire(import.meta.url);
const { runWithTokenlay } = require('tokenlay');
const client = new TokenlayOpenAI({ providerApiKey: 'sk-p', tokenlayKey: 'tl-k', tokenlayBaseUrl: process.env.PROXY_URL, maxRetries: 0 });
const r = await runWithTokenlay({ user: 'mixed' }, () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
console.log(r.choices[0].message.content);`,
  );
  const { stdout: out } = await run(process.execPath, [file], { cwd: dir, env: { ...process.env, PROXY_URL: provider.url }, encoding: 'utf8' });
  expect(out.trim()).toBe('hello mixed');
});

it('installs with no warning: the packed package has no prepare or install scripts', async () => {
  expect(installLog).not.toMatch(/warn/i);
  const { default: manifest } = await import(join(dir, 'node_modules', 'tokenlay', 'package.json'), { with: { type: 'json' } });
  for (const script of ['prepare', 'preinstall', 'install', 'postinstall']) expect(manifest.scripts?.[script]).toBeUndefined();
});

it('ships a LICENSE and declares the drivers and the tokenizer it may load as optional peers, not dependencies', async () => {
  const pkg = join(dir, 'node_modules', 'tokenlay');
  expect(readdirSync(pkg)).toContain('LICENSE');
  const { default: manifest } = await import(join(pkg, 'package.json'), { with: { type: 'json' } });
  for (const peer of ['better-sqlite3', 'gpt-tokenizer']) {
    expect(manifest.peerDependencies[peer]).toBeTruthy();
    expect(manifest.peerDependenciesMeta[peer]).toEqual({ optional: true });
    expect(manifest.dependencies?.[peer]).toBeUndefined();
  }
  // Remote mode needs neither: a new install has neither.
  expect(readdirSync(join(dir, 'node_modules'))).not.toContain('gpt-tokenizer');
  expect(readdirSync(join(dir, 'node_modules'))).not.toContain('better-sqlite3');
});

it('keeps class names in the CommonJS build, so errors print as what they are', async () => {
  const file = join(dir, 'names.cjs');
  writeFileSync(
    file,
    `const { inspect } = require('node:util');
const t = require('tokenlay');
const names = ['TokenlayError', 'TokenlayConfigError', 'TokenlayHeaderError', 'TokenlayScopeError', 'TokenlayLimitError', 'TokenlayRulesError', 'TokenlayOpenAI'].map((n) => t[n].name);
let configError;
try { new t.TokenlayOpenAI({ tokenlayKey: 'tl-k', providerApiKey: 'sk-p', tokenlayBaseUrl: 'nope' }); } catch (e) { configError = e; }
let rulesError;
try { t.validateRules({ rules: [{ id: 'x' }] }); } catch (e) { rulesError = e; }
console.log(JSON.stringify({ names, config: inspect(configError).split('\\n')[0], rules: inspect(rulesError).split('\\n')[0] }));`,
  );
  const { stdout: out } = await run(process.execPath, [file], { cwd: dir, encoding: 'utf8' });
  const seen = JSON.parse(out.trim());
  expect(seen.names).toEqual(['TokenlayError', 'TokenlayConfigError', 'TokenlayHeaderError', 'TokenlayScopeError', 'TokenlayLimitError', 'TokenlayRulesError', 'TokenlayOpenAI']);
  expect(seen.config).toMatch(/^TokenlayConfigError: tokenlay: tokenlayBaseUrl/);
  expect(seen.rules).toMatch(/^TokenlayRulesError: /);
  expect(seen.rules).not.toMatch(/_class/);
});
