import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { defineConfig } from 'tsup';

const require = createRequire(import.meta.url);

/** The dashboard page's files, served by the package itself: ours, and uPlot's, copied in. */
function copyDashboardAssets(): void {
  mkdirSync('dist/dashboard-assets', { recursive: true });
  for (const name of ['app.js', 'app.css']) copyFileSync(`src/dashboard/assets/${name}`, `dist/dashboard-assets/${name}`);
  copyFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'dist/dashboard-assets/uplot.js');
  copyFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'dist/dashboard-assets/uplot.css');
}

const shared = {
  entry: {
    index: 'src/index.ts',
    express: 'adapters/express.ts',
    koa: 'adapters/koa.ts',
    fastify: 'adapters/fastify.ts',
    hono: 'adapters/hono.ts',
    next: 'adapters/next.ts',
    cli: 'src/cli/main.ts',
    dashboard: 'src/dashboard/index.ts',
    gateway: 'src/gateway/index.ts',
  },
  // TOKENLAY_BUILD_DTS=0: JavaScript only, for the demo and the examples (scripts/ensure-built.mjs).
  dts: process.env.TOKENLAY_BUILD_DTS !== '0',
  shims: true,
  // Adapters and the core share one copy of the scope code through common chunks.
  splitting: true,
  sourcemap: false,
  target: 'node20' as const,
  // Peers and optional stores are the app's own copies: never bundle them.
  external: ['openai', 'express', 'koa', 'fastify', 'hono', 'next', 'better-sqlite3', 'ioredis', 'pg'],
};

// `npm run build` empties dist/ first; the two builds run side by side and must not clean each other.
export default defineConfig([
  {
    ...shared,
    format: ['esm'],
    // ESM keeps class and function names by itself. keepNames would wrap every named closure in
    // `__name()`, an Object.defineProperty each time one is made: on every request and every call.
    keepNames: false,
    onSuccess: async () => copyDashboardAssets(),
  },
  {
    ...shared,
    format: ['cjs'],
    // The CJS build lowers class fields through helpers that rename classes (`_class`): keep the
    // names users see in stack traces and `err.name` checks.
    keepNames: true,
  },
]);
