/** What the engine benches share: the rules and call they send, an in-process provider, and the engine of a git ref. */
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { variantSources } from './engine-variants.js';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { createEngine } from '../../src/engine/index.js';

/** Two rules with two limits each: the free plan's (requests a day, cost a month) apply to every call. */
export const benchRules = {
  rules: [
    { id: 'free', if: { plan: 'free' }, then: { model: 'gpt-4o-mini', limits: [{ type: 'requests', max: 1e9, window: 'day', per: 'user' }, { type: 'cost', max: 1e9, window: 'month', per: 'user' }] } },
    { id: 'pro', if: { plan: 'pro' }, then: { limits: [{ type: 'tokens', max: 1e12, window: 'month', per: ['org', 'user'] }, { type: 'concurrent', max: 1000, per: 'user' }] } },
  ],
};

/** A chat completion with max_tokens. */
export const chatBody = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 64, messages: [{ role: 'user', content: 'Summarise the quarterly report in three bullet points.' }] });

/** The headers of call `i`: one of 50 users of one org, on the free plan. */
export const callHeaders = (i: number) => ({ 'content-type': 'application/json', authorization: 'Bearer sk-bench', 'x-tokenlay-user': `user-${i % 50}`, 'x-tokenlay-org': 'acme', 'x-tokenlay-plan': 'free' });

const canned = JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } });

/** A provider answering in-process, to see the engine's own cost without a socket. */
export const inProcess: typeof fetch = async () => new Response(canned, { headers: { 'content-type': 'application/json' } });

/**
 * `createEngine` of a git ref: its sources extracted to a temporary directory (once; this
 * checkout's node_modules linked) and imported from there, to run beside the working tree's.
 */
export async function engineAt(ref: string): Promise<typeof createEngine> {
  const dir = sourcesAt(ref);
  return ((await import(pathToFileURL(join(dir, 'src', 'engine', 'index.ts')).href)) as { createEngine: typeof createEngine }).createEngine;
}

/**
 * `createEngine` as the package ships it: the engine of `ref` (or of the working tree, or of the
 * working tree with a variant of `engine-variants.ts` applied) bundled the
 * way the ESM build is (no `keepNames`, node20, dependencies left outside). Through tsx, every
 * closure made per call also pays an `Object.defineProperty` for its name, which the package does not.
 */
export async function builtEngineAt(ref: string | undefined, variant?: string): Promise<typeof createEngine> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = ref === undefined ? root : sourcesAt(ref);
  const entry = variant === undefined ? join(dir, 'src', 'engine', 'index.ts') : variantSources(join(root, 'src'), variant);
  const own = ref === undefined || variant !== undefined;
  const outfile = join(tmpdir(), `tokenlay-built-${own ? `tree${variant ? `-${variant}` : ''}-${process.pid}` : ref.replace(/[^\w.-]/g, '_')}`, 'engine.mjs');
  await build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', keepNames: false, packages: 'external', logLevel: 'error' });
  // Bare imports resolve from the bundle's folder: this checkout's node_modules, linked beside it.
  const modules = join(dirname(outfile), 'node_modules');
  rmSync(modules, { force: true });
  symlinkSync(join(root, 'node_modules'), modules);
  const built = ((await import(pathToFileURL(outfile).href)) as { createEngine: typeof createEngine }).createEngine;
  // The working tree's bundle is this run's own (its sources change between runs); a ref's is kept.
  // Removed at exit, not now: drivers are imported from beside it on first use.
  if (own) removeAtExit(dirname(outfile));
  return built;
}

const leftovers: string[] = [];
/** Removes `dir` when the bench exits: one exit listener for all of them. */
export function removeAtExit(dir: string): void {
  if (leftovers.length === 0) process.once('exit', () => leftovers.forEach((d) => rmSync(d, { recursive: true, force: true })));
  leftovers.push(dir);
}

/** The sources of a git ref, extracted to a temporary directory once, with this checkout's node_modules linked. */
function sourcesAt(ref: string): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = join(tmpdir(), `tokenlay-baseline-${ref.replace(/[^\w.-]/g, '_')}`);
  if (!existsSync(join(dir, 'src'))) {
    mkdirSync(dir, { recursive: true });
    const tar = execFileSync('git', ['-C', root, 'archive', ref, 'src', 'package.json'], { maxBuffer: 64 * 1024 * 1024 });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
  }
  // Linked to this checkout's node_modules each time: a link left by another checkout may point nowhere now.
  const modules = join(dir, 'node_modules');
  rmSync(modules, { force: true });
  symlinkSync(join(root, 'node_modules'), modules);
  return dir;
}
