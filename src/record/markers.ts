/**
 * Run markers: `<state>/running/<run-id>.json`, one per run whose wrapper has not finished it.
 * Written before the spawn and removed when the run's records are complete, so the directory is
 * the cheap index of runs a reaper may have to finish: every scidex-run start lists it.
 * A marker holds the run's fixed identity (who the wrapper was, where its journal and cgroup are).
 * It is only a claim: the reaper kills nothing on its word, it verifies every process (docs/design.md §8).
 */
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readStateFile } from './state-file.js';
import { join } from 'node:path';
import { isRunId } from '../config/run-id.js';
import { releaseLock, takeLock } from './lock-file.js';
import type { RunRecord } from './types.js';

/** The fixed identity of a run, as the marker stores it: a RunRecord without its changing fields. */
export type RunMarker = Pick<
  RunRecord,
  | 'id' | 'analysis_id' | 'parent_run_id' | 'host' | 'boot_id' | 'pid_ns' | 'wrapper_pid' | 'wrapper_starttime' | 'argv' | 'cwd'
  | 'username' | 'timeout_ms' | 'memory_limit_bytes' | 'grace_ms' | 'orphan_policy' | 'tracking_backend' | 'cgroup_path'
  | 'journal_path' | 'started_at'
>;


function markerDir(stateDir: string): string {
  return join(stateDir, 'running');
}

/** The marker path of a run. @throws Error for a run id that is not a UUID (it names a file) */
export function markerPath(stateDir: string, runId: string): string {
  if (!isRunId(runId)) throw new Error(`not a run id: '${runId}'`);
  return join(markerDir(stateDir), `${runId}.json`);
}

/** Writes (atomically, 0600 in a 0700 directory) the marker of a run. */
export function writeMarker(stateDir: string, marker: RunMarker): void {
  mkdirSync(markerDir(stateDir), { recursive: true, mode: 0o700 });
  const path = markerPath(stateDir, marker.id);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, JSON.stringify(marker) + '\n', { mode: 0o600 });
    renameSync(temporary, path);
  } catch (error) {
    // A full disk: no run starts, and no half-written marker stays behind.
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** Removes a run's marker; never throws. */
export function removeMarker(stateDir: string, runId: string): void {
  rmSync(markerPath(stateDir, runId), { force: true });
  // A cancel request the wrapper never took (it was finishing, or died): nothing will read it now.
  rmSync(join(markerDir(stateDir), `${runId}.cancel`), { force: true });
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
