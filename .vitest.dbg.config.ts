import { defineConfig } from 'vitest/config';
export default defineConfig({
  root: '/work/main',
  resolve: { alias: [{ find: /^graphql$/, replacement: '/work/main/node_modules/graphql/index.js' }] },
  test: { include: ['test/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 120_000, maxWorkers: 2, pool: 'forks' },
});
