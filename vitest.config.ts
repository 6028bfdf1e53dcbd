import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/postgres-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests time real grace periods; two files at a time keep the two cores honest.
    maxWorkers: 2,
  },
});
