import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    express: 'adapters/express.ts',
    koa: 'adapters/koa.ts',
    fastify: 'adapters/fastify.ts',
    hono: 'adapters/hono.ts',
    next: 'adapters/next.ts',
    cli: 'src/cli/main.ts',
    gateway: 'src/gateway/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  shims: true,
  // Adapters and the core share one copy of the scope code through common chunks.
  splitting: true,
  sourcemap: false,
  target: 'node20',
  // The CJS build lowers class fields through helpers that rename classes (`_class`): keep the
  // names users see in stack traces and `err.name` checks.
  keepNames: true,
  // Peers and optional stores are the app's own copies: never bundle them.
  external: ['openai', 'express', 'koa', 'fastify', 'hono', 'next', 'better-sqlite3', 'ioredis'],
});
