/**
 * Issue 10, part 3: helpers of third-party libraries that exit by themselves a few milliseconds after
 * the main process (multiprocessing's resource tracker and fork server, loky's workers and tracker,
 * dask's worker processes, R's PSOCK workers) are not orphans. With the settle window, a process that
 * exits by itself within it after the leader is recorded as exited, never signalled or killed.
 *
 * For each fixture of test/fixtures/third-party/ (skipped, with the reason in its name, where its
 * package or Rscript is missing; see test/helpers/third-party.ts) and each available backend, the
 * real bin/scidex-run runs it under GitHub Actions (GITHUB_ACTIONS=true) with a 120 s grace period, and:
 *   - the run exits 0;
 *   - its journal has no orphan_found, signal_sent or process_killed event, and every process row's
 *     fate is `exited`;
 *   - nothing printed an `::error` annotation (the one a killed run gets);
 *   - the run did not wait out the grace period: ended_at - started_at is under the grace period
 *     (a run that waited it out cannot be shorter; not a speed target: the fixtures take 1-3 s, and a
 *     bound of a few times that failed on a host loaded fifty times over);
 *   - for R, TMPDIR (fresh per run) is empty afterwards: each R process makes an Rtmp* directory
 *     there and removes it when it exits by itself; a killed worker leaks it.
 * Every process of the run carries the test's tag; anything alive after a test fails it (ownedTag).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EventRecord, ProcessRecord, RunRecord } from '../../src/record/types.js';
import { availableBackends } from '../helpers/lost-runs.js';
import { ownedTag } from '../helpers/processes.js';
import { resolveFixtures } from '../helpers/third-party.js';
import { journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const backends = await availableBackends();
const fixtures = resolveFixtures();
/** The grace period given to the run, ms: far longer than any fixture, so waiting it out shows. */
const GRACE_MS = 120_000;
/** The most a run may take, ended_at - started_at in ms, and not have waited out the grace period. */
const MAX_RUN_MS = GRACE_MS;

const KILL_KINDS = new Set(['orphan_found', 'signal_sent', 'process_killed']);

/** One line per kill-related event: kind, ms since the run started, the process (or those a signal pass went to), signal, argv. */
function describeEvent(event: EventRecord, processes: readonly ProcessRecord[]): string {
  const target = event.pids.length > 0 ? event.pids : event.pid !== null ? [event.pid] : [];
  const argv = (event.detail.argv as string[] | undefined) ?? (target.length === 1 ? processes.find((proc) => proc.pid === target[0])?.argv : undefined) ?? [];
  const who = target.length === 1 ? `pid ${target[0]}` : `pids ${target.join(',')}`;
  return `${event.kind} at +${event.elapsed_ms} ms: ${who}${event.signal ? ` ${event.signal}` : ''}${argv.length > 0 ? ` \`${argv.join(' ').slice(0, 100)}\`` : ''}`;
}

/** The last revision of the run's row. */
const finalRun = (runs: readonly RunRecord[]): RunRecord => [...runs].sort((a, b) => a.revision - b.revision).at(-1)!;

describe('third-party helpers that exit by themselves just after the leader', () => {
  for (const fixture of fixtures) {
    for (const backend of backends) {
      const name = `${fixture.file}, ${backend}: exits 0, nothing signalled, killed or reported as an orphan, no grace period waited out`;
      it.skipIf(fixture.skip !== undefined)(fixture.skip ? `${name} (skipped: ${fixture.skip})` : name, { timeout: 2 * GRACE_MS }, async () => {
        const stateDir = newStateDir();
        const tmp = mkdtempSync(join(tmpdir(), 'scidex-third-party-tmp-'));
        try {
          const run = await startWrapper(['--quiet', '--tracking', backend, '--grace', `${GRACE_MS / 1000}s`, '--state-dir', stateDir, '--', ...fixture.argv!], {
            tag,
            stateDir,
            env: { GITHUB_ACTIONS: 'true', TMPDIR: tmp },
          });
          const output = `${run.stdout}\n${run.stderr}`;
          expect(run.exitCode, output).toBe(0);

          const { runs, events, processes } = journalOf(stateDir);
          const record = finalRun(runs);
          const durationMs = Date.parse(record.ended_at!) - Date.parse(record.started_at);
          const killEvents = events.filter((event) => KILL_KINDS.has(event.kind)).map((event) => describeEvent(event, processes));
          const notExited = processes.filter((proc) => proc.fate !== 'exited').map((proc) => `pid ${proc.pid} ${proc.comm}: ${proc.fate}`);

          expect.soft(killEvents, `kill events of the run (status ${record.status}, ${durationMs} ms)`).toEqual([]);
          expect.soft(notExited, 'process rows whose fate is not `exited`').toEqual([]);
          expect.soft(output, 'an ::error annotation').not.toMatch(/^::error/m);
          expect.soft(durationMs, `the run took ${durationMs} ms: did it wait out the ${GRACE_MS / 1000} s grace period?`).toBeLessThan(MAX_RUN_MS);
          if (fixture.language === 'r') expect.soft(readdirSync(tmp), 'R temp dirs left in TMPDIR (a worker that did not exit by itself)').toEqual([]);
        } finally {
          rmSync(tmp, { recursive: true, force: true });
          rmSync(stateDir, { recursive: true, force: true });
        }
      });
    }
  }
});
