/**
 * The package as it ships: benchmarks load `dist/` (what `npm install tokenlay` gives an app),
 * not the sources through tsx, whose transform adds work to every closure created at run time
 * (`keepNames`) and would bill it to tokenlay. Typed from the sources, which the build mirrors.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as Index from '../../src/index.js';
import type * as Express from '../../adapters/express.js';
import type * as Koa from '../../adapters/koa.js';
import type * as Fastify from '../../adapters/fastify.js';
import type * as Hono from '../../adapters/hono.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds `dist/` with the package's own build when it is missing or older than the sources. */
export function ensureBuilt(): void {
  const marker = join(root, 'dist', 'index.js');
  const built = existsSync(marker) ? statSync(marker).mtimeMs : 0;
  if (built > Math.max(newestSource(join(root, 'src')), newestSource(join(root, 'adapters')))) return;
  console.error('bench: dist/ is missing or older than the sources; building it (npm run build)…');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}

type Entries = {
  index: typeof Index;
  express: typeof Express;
  koa: typeof Koa;
  fastify: typeof Fastify;
  hono: typeof Hono;
};

/** One built entry of the package (`dist/<entry>.js`). */
export function shipped<K extends keyof Entries>(entry: K): Promise<Entries[K]> {
  return import(pathToFileURL(join(root, 'dist', `${entry}.js`)).href);
}
