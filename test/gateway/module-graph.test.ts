/**
 * `tokenlay/gateway` is never loaded by the root entry: the built `tokenlay` loads neither the
 * gateway's logger nor its metrics, as ESM or CommonJS, while the built `tokenlay/gateway` does.
 * Built here from tsup.config.ts without declarations, into .tmp/ (not dist/).
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'tsup';
import { beforeAll, describe, expect, it } from 'vitest';
import config from '../../tsup.config.js';

const run = promisify(execFile);
const outDir = resolve('.tmp/gateway-module-graph-dist');
const GATEWAY_DEPS = /\/node_modules\/(pino|prom-client|pino-pretty|better-sqlite3|undici)\//;

async function gatewayDepsLoadedBy(entry: string, mode: 'esm' | 'cjs'): Promise<string[]> {
  const file = resolve(outDir, mode === 'esm' ? `${entry}.js` : `${entry}.cjs`);
  const { stdout } = await run(process.execPath, [resolve('test/adapters/fixtures/loaded-modules.mjs'), file, mode], { encoding: 'utf8' });
  const loaded = JSON.parse(stdout) as string[];
  if (!loaded.some((f) => f.includes('gateway-module-graph-dist'))) throw new Error(`the entry itself was not seen loading: ${loaded.join(', ')}`);
  return [...new Set(loaded.map((f) => GATEWAY_DEPS.exec(f)?.[1]).filter((m): m is string => !!m))].sort();
}

beforeAll(async () => {
  // The ESM and the CJS build, as tsup.config.ts makes them; only the first empties the folder.
  const builds = Array.isArray(config) ? config : [config];
  for (const [i, options] of builds.entries()) await build({ ...(options as object), dts: false, outDir, clean: i === 0, silent: true, config: false });
}, 120_000);

describe('module graph of tokenlay/gateway', () => {
  it.for(['esm', 'cjs'] as const)('the root entry (%s) loads no part of the gateway', async (mode) => {
    expect(await gatewayDepsLoadedBy('index', mode)).toEqual([]);
  });

  it.for(['esm', 'cjs'] as const)('tokenlay/gateway (%s) loads pino, prom-client and undici', async (mode) => {
    expect(await gatewayDepsLoadedBy('gateway', mode)).toEqual(['pino', 'prom-client', 'undici']);
  });
});
