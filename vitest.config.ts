import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // 2-core machines: integration files each own a database; a few at a time keeps Postgres responsive
    maxWorkers: 2,
    pool: 'forks',
  },
});
