import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
// Tests may import the package by its public names; they get the sources, not a stale build.
const self = [
  { find: /^tokenlay$/, replacement: `${root}src/index.ts` },
  { find: /^tokenlay\/(express|koa|fastify|hono|next)$/, replacement: `${root}adapters/$1.ts` },
  { find: /^tokenlay\/dashboard$/, replacement: `${root}src/dashboard/index.ts` },
  { find: /^tokenlay\/gateway$/, replacement: `${root}src/gateway/index.ts` },
];

const shared = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'default', include: ['test/**/*.test.ts'], env: { EXPECT_OPENAI_MAJOR: '6' } }, resolve: { alias: self } },
      {
        // The same client and isolation tests against openai 4.x, through the `openai4` npm alias.
        test: { ...shared, name: 'openai4', include: ['test/core/client.test.ts', 'test/core/isolation.test.ts', 'test/core/misuse.test.ts', 'test/core/sdk-compat.test.ts'], env: { EXPECT_OPENAI_MAJOR: '4' } },
        resolve: { alias: [...self, { find: /^openai(\/.*)?$/, replacement: 'openai4$1' }] },
      },
    ],
  },
});
