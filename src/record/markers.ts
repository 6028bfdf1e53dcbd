/**
 * Run markers: `<state>/running/<run-id>.json`, one per run whose wrapper has not finished it.
 * Written before the spawn and removed when the run's records are complete, so the directory is
 * the cheap index of runs a reaper may have to finish: every scidex-run start lists it.
 * A marker holds the run's fixed identity (who the wrapper was, where its journal and cgroup are).
 * It is only a claim: the reaper kills nothing on its word, it verifies every process (docs/design.md §8).
 */
import { readdirSync, rmSync } from 'node:fs';
import { readStateFile, replaceStateFile } from './state-file.js';
import { stateSubdir } from './state-dir.js';
import { join } from 'node:path';
import { isRunId } from '../config/run-id.js';
import { releaseLock, takeLock } from './lock-file.js';
import type { RunRecord } from './types.js';

/** The fixed identity of a run, as the marker stores it: a RunRecord without its changing fields. */
export type RunMarker = Pick<
  RunRecord,
  | 'id' | 'adopted' | 'analysis_id' | 'parent_run_id' | 'host' | 'boot_id' | 'pid_ns' | 'wrapper_pid' | 'wrapper_starttime' | 'argv' | 'cwd'
  | 'username' | 'timeout_ms' | 'memory_limit_bytes' | 'grace_ms' | 'orphan_policy' | 'tracking_backend' | 'cgroup_path'
  | 'journal_path' | 'started_at'
> & {
  /**
   * The PostgreSQL role the wrapper writes its records as (config/database.ts databaseUser); null
   * without a database, absent in markers of older versions. Only this role, and operators, may
   * cancel the run through PostgreSQL (watchdog/cancel-delivery.ts).
   */
  db_user?: string | null;
  /**
   * The run's cgroup in the v1 memory hierarchy (its kernel memory backstop, track/memory-backstop.ts),
   * else null; absent in markers of older versions. The reaper removes it once the run is over (only
   * a path ending in /scidex-run/<run id> under the v1 memory mount, and only when empty).
   */
  memory_cgroup_v1?: string | null;
};


function markerDir(stateDir: string): string {
  return join(stateDir, 'running');
}

/** The marker path of a run. @throws Error for a run id that is not a UUID (it names a file) */
export function markerPath(stateDir: string, runId: string): string {
  if (!isRunId(runId)) throw new Error(`not a run id: '${runId}'`);
  return join(markerDir(stateDir), `${runId}.json`);
}

/**
 * Writes the marker of a run: 0600, atomically (replaceStateFile: whatever is at its name is
 * replaced, never followed), in `running/`, made 0700 when missing and refused when it is not a
 * directory of ours (state-dir.ts).
 * @throws StateDirRefusal, or the file system's error (a full disk: no half-written marker stays)
 */
export function writeMarker(stateDir: string, marker: RunMarker): void {
  stateSubdir(stateDir, 'running', true);
  replaceStateFile(markerPath(stateDir, marker.id), JSON.stringify(marker) + '\n');
}

/** Removes a run's marker; never throws. */
export function removeMarker(stateDir: string, runId: string): void {
  rmSync(markerPath(stateDir, runId), { force: true });
  // A cancel request the wrapper never took (it was finishing, or died): nothing will read it now.
  rmSync(join(markerDir(stateDir), `${runId}.cancel`), { force: true });
  rmSync(join(markerDir(stateDir), `${runId}.release`), { force: true });
  releaseLock(`${markerPath(stateDir, runId)}.lock`);
}

/** Gives up the lock of a run (the marker stays, for the next reaper); never throws. */
export function unlockMarker(stateDir: string, runId: string): void {
  releaseLock(`${markerPath(stateDir, runId)}.lock`);
}

/** The run ids with a marker. */
export function listMarkers(stateDir: string): string[] {
  try {
    return readdirSync(markerDir(stateDir))
      .filter((name) => name.endsWith('.json'))
      .map((name) => name.slice(0, -'.json'.length))
      .filter((id) => isRunId(id));
  } catch {
    return [];
  }
}

/** A marker's content, or undefined when it is gone or not a marker. */
export function readMarker(stateDir: string, runId: string): RunMarker | undefined {
  try {
    const marker = JSON.parse(readStateFile(markerPath(stateDir, runId))) as RunMarker;
    return marker.id === runId && Number.isInteger(marker.wrapper_pid) ? marker : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock of a run for one reaper (`<marker>.lock`, lock-file.ts); a dead holder's lock is
 * taken over.
 * @returns whether we hold it now
 */
export function lockMarker(stateDir: string, runId: string): boolean {
  return takeLock(`${markerPath(stateDir, runId)}.lock`);
}
