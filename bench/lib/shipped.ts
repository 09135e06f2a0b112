/**
 * The package as it ships: benchmarks load `dist/` (what `npm install tokenlay` gives an app),
 * not the sources through tsx, whose transform adds work to every closure created at run time
 * (`keepNames`) and would bill it to tokenlay. Typed from the sources, which the build mirrors.
 */
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as Index from '../../src/index.js';
import type * as Express from '../../adapters/express.js';
import type * as Koa from '../../adapters/koa.js';
import type * as Fastify from '../../adapters/fastify.js';
import type * as Hono from '../../adapters/hono.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

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
