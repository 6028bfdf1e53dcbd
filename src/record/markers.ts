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
import { basename, dirname, isAbsolute, join, normalize, resolve } from 'node:path';
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
 * The state directories a dead wrapper's run may have left its marker and journal in: the run's
 * own, named by its record's journal_path when that has the shape a wrapper writes,
 * `<dir>/journal/<run-id>.jsonl` (absolute: a record names no other directory to look in), then
 * `stateDir` (the reader's). What is found there is a claim like any marker or journal. A live
 * wrapper's own is where /proc/PID/fd shows it writes (query/live-figures.ts), never the record's word.
 */
export function runStateDirs(run: Pick<RunRecord, 'id' | 'journal_path'>, stateDir: string): string[] {
  const named = typeof run.journal_path === 'string' && isAbsolute(run.journal_path) ? normalize(run.journal_path) : undefined;
  if (named === undefined || basename(named) !== `${run.id}.jsonl` || basename(dirname(named)) !== 'journal') return [stateDir];
  const own = dirname(dirname(named));
  return own === resolve(stateDir) ? [stateDir] : [own, stateDir];
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

/** A marker's content, or undefined when it is gone or not a marker (parseMarker). */
export function readMarker(stateDir: string, runId: string): RunMarker | undefined {
  try {
    return parseMarker(readStateFile(markerPath(stateDir, runId)), runId);
  } catch {
    return undefined;
  }
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const orNull =
  (check: (value: unknown) => boolean) =>
  (value: unknown): boolean =>
    value === null || check(value);
const orAbsent =
  (check: (value: unknown) => boolean) =>
  (value: unknown): boolean =>
    value === undefined || check(value);

/**
 * The type of every field of RunMarker, as a check of the parsed value. A marker is written by a
 * wrapper of the same user, but a user's file may say anything: a field of the wrong type would
 * throw far from here (a number where a path is expected), so a marker is whole or nothing.
 */
const MARKER_FIELDS: Record<keyof RunMarker, (value: unknown) => boolean> = {
  id: isString,
  adopted: orAbsent((value) => typeof value === 'boolean'),
  analysis_id: orNull(isString),
  parent_run_id: orNull(isString),
  host: isString,
  boot_id: isString,
  pid_ns: orAbsent(orNull(isString)),
  wrapper_pid: (value) => isCount(value) && value > 0,
  wrapper_starttime: isCount,
  argv: (value) => Array.isArray(value) && value.every(isString),
  cwd: isString,
  username: isString,
  timeout_ms: isCount,
  memory_limit_bytes: isCount,
  grace_ms: isCount,
  orphan_policy: isString,
  tracking_backend: isString,
  // Absent in markers of the first version.
  cgroup_path: orAbsent(orNull(isString)),
  journal_path: isString,
  started_at: (value) => isString(value) && !Number.isNaN(Date.parse(value)),
  db_user: orAbsent(orNull(isString)),
  memory_cgroup_v1: orAbsent(orNull(isString)),
};

/**
 * A marker from a file's text: a JSON object of the run `runId` whose every field has its type
 * (null or absent only where RunMarker allows), else undefined. Fields of no RunMarker's are dropped.
 */
export function parseMarker(text: string, runId: string): RunMarker | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const fields = parsed as Record<string, unknown>;
  const marker: Record<string, unknown> = {};
  for (const [name, check] of Object.entries(MARKER_FIELDS)) {
    if (!check(fields[name])) return undefined;
    if (fields[name] !== undefined) marker[name] = fields[name];
  }
  return marker.id === runId ? (marker as RunMarker) : undefined;
}

/**
 * Takes the lock of a run for one reaper (`<marker>.lock`, lock-file.ts); a dead holder's lock is
 * taken over.
 * @returns whether we hold it now
 */
export function lockMarker(stateDir: string, runId: string): boolean {
  return takeLock(`${markerPath(stateDir, runId)}.lock`);
}
