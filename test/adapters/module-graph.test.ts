/**
 * Importing one adapter loads no framework, and the core loads none: each built entry is loaded in
 * a fresh `node`, as ESM and as CommonJS, and every module file it pulled in is checked. The entries
 * are built here, from tsup.config.ts without type declarations, into .tmp/ (not dist/).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { build } from 'tsup';
import { beforeAll, describe, it } from 'vitest';
import config from '../../tsup.config.js';

const run = promisify(execFile);
const loadedBy = async (file: string, mode: 'esm' | 'cjs'): Promise<string[]> =>
  JSON.parse((await run(process.execPath, [resolve('test/adapters/fixtures/loaded-modules.mjs'), file, mode], { encoding: 'utf8' })).stdout);

const outDir = resolve('.tmp/module-graph-dist');
const FRAMEWORKS = /\/node_modules\/((?:@koa|@fastify|@hono)\/[^/]+|koa2?|express4?|fastify4?|fastify-plugin[^/]*|hono|next|react|react-dom|passport)\//;

beforeAll(async () => {
  // The ESM and the CJS build, as tsup.config.ts makes them; only the first empties the folder.
  const builds = Array.isArray(config) ? config : [config];
  for (const [i, options] of builds.entries()) await build({ ...(options as object), dts: false, outDir, clean: i === 0, silent: true, config: false });
}, 60_000);

async function frameworksLoadedBy(entry: string, mode: 'esm' | 'cjs'): Promise<string[]> {
  const loaded = await loadedBy(resolve(outDir, mode === 'esm' ? `${entry}.js` : `${entry}.cjs`), mode);
  if (!loaded.some((f) => f.includes('module-graph-dist'))) throw new Error(`the entry itself was not seen loading: ${loaded.join(', ')}`);
  return [...new Set(loaded.map((f) => FRAMEWORKS.exec(f)?.[1]).filter((m): m is string => !!m))];
}

describe.concurrent('module graph of the built package', () => {
  it.for([
    ['index', 'esm'],
    ['index', 'cjs'],
    ['express', 'esm'],
    ['express', 'cjs'],
    ['koa', 'esm'],
    ['koa', 'cjs'],
    ['fastify', 'esm'],
    ['fastify', 'cjs'],
    ['hono', 'esm'],
    ['hono', 'cjs'],
    ['next', 'esm'],
    ['next', 'cjs'],
  ] as const)('loading dist/%s (%s) loads no web framework, not even its own', async ([entry, mode], { expect }) => {
    expect(await frameworksLoadedBy(entry, mode)).toEqual([]);
  });

  it.for([
    ['node_modules/koa/lib/application.js', 'cjs'],
    ['node_modules/hono/dist/index.js', 'esm'],
  ] as const)('would see a framework if one were loaded: %s (%s)', async ([file, mode], { expect }) => {
    expect((await loadedBy(resolve(file), mode)).some((f) => FRAMEWORKS.test(f))).toBe(true);
  });
});
