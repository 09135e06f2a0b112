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
  setupFiles: ['test/support/openai-major.ts'],
};

const nodeMajor = Number(process.versions.node.split('.')[0]);
// The client and isolation tests run once more against each other openai major, through npm
// aliases (`openai4`, `openai5`, `openai7`); openai 7 needs Node 22 or later.
const clientSuite = ['test/core/client.test.ts', 'test/core/isolation.test.ts', 'test/core/misuse.test.ts', 'test/core/sdk-compat.test.ts', 'test/core/body-reading.test.ts', 'test/core/debug.test.ts'];
const otherMajors = [4, 5, ...(nodeMajor >= 22 ? [7] : [])];

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'default', include: ['test/**/*.test.ts'], env: { EXPECT_OPENAI_MAJOR: '6' } }, resolve: { alias: self } },
      ...otherMajors.map((major) => ({
        test: { ...shared, name: `openai${major}`, include: clientSuite, env: { EXPECT_OPENAI_MAJOR: String(major) } },
        resolve: { alias: [...self, { find: /^openai(\/.*)?$/, replacement: `openai${major}$1` }] },
      })),
    ],
  },
});
