import { defineConfig } from 'vitest/config';

const shared = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: 'default', include: ['test/**/*.test.ts'], env: { EXPECT_OPENAI_MAJOR: '6' } } },
      {
        // The same client and isolation tests against openai 4.x, through the `openai4` npm alias.
        test: { ...shared, name: 'openai4', include: ['test/core/client.test.ts', 'test/core/isolation.test.ts'], env: { EXPECT_OPENAI_MAJOR: '4' } },
        resolve: { alias: [{ find: /^openai(\/.*)?$/, replacement: 'openai4$1' }] },
      },
    ],
  },
});
