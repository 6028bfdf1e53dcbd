import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/postgres-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Most of a file's time is real waiting (grace periods, timeouts, Slurm's time limit, servers
    // starting): a whole suite keeps ~0.75 of two cores busy with two files at a time (BENCHMARKS.md,
    // "Light"), so four files at a time fill the two cores without starving any test of CPU.
    maxWorkers: 4,
  },
});
