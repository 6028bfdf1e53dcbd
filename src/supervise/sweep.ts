/**
 * The start sweep: every scidex-run start looks for runs of this host whose wrapper is gone, so
 * safety never depends on a daemon (docs/design.md §7). The check is cheap (one directory listing,
 * one stat per marker); the reaping itself, which waits out a grace period, is handed to a
 * detached `scidex-watchdog reap --run <id>` so that this run does not wait for it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { DatabaseConfig } from '../config/database.js';
import { lockHeld } from '../record/lock-file.js';
import { finishedUnshippedJournals, removeExpiredJournals, shipLockPath } from '../record/journal-files.js';
import { WATCHDOG_BIN } from './lifeline.js';
import { hostname } from 'node:os';
import { readStat } from '../proc/stat.js';
import { listMarkers, markerPath, readMarker } from '../record/markers.js';
import { removeStaleCgroups } from '../track/stale-cgroups.js';
import { wrapperAlive } from '../proc/liveness.js';
import { FAILPOINTS_VARIABLE } from '../sys/failpoint.js';


/**
 * Starts a background reaper for each dead run found in `stateDir`.
 * @returns the reapers started (pid, starttime): our children, never members of the run
 */
export function sweepDeadRuns(stateDir: string, database: DatabaseConfig | undefined, info: (line: string) => void): { pid: number; starttime: number }[] {
  const host = hostname();
  const dead = listMarkers(stateDir).filter((runId) => {
    const marker = readMarker(stateDir, runId);
    // A wrapper that ends normally removes its marker before it exits: one found dead whose
    // marker is gone by then finished between the read and the check, and lost nothing.
    return marker !== undefined && marker.host === host && !wrapperAlive(marker) && existsSync(markerPath(stateDir, runId));
  });
  removeStaleCgroups();
  const reapers: { pid: number; starttime: number }[] = [];
  for (const runId of dead) {
    info(`run ${runId} lost its wrapper: reaping it in the background`);
    const reaper = startWatchdog(['reap', '--quiet', '--run', runId, '--state-dir', stateDir], database);
    if (reaper) reapers.push(reaper);
  }
  return reapers;
}

/**
 * Starts a background `scidex-watchdog ship` when journals of finished runs wait in `stateDir`
 * (the database was down, busy or not configured when they ran) and no shipper is at work on them
 * (one that is takes them: ship.ts shipUntilDrained), and removes the shipped journals past
 * `retentionMs`.
 * @param waitMs how long the shipper keeps retrying (its --wait); 0: one sweep
 * @returns the shipper started; 'held' when one is at work already; undefined when none was
 *          needed or it could not be started (the next start tries again)
 */
export function shipLeftovers(
  stateDir: string,
  database: DatabaseConfig | undefined,
  retentionMs: number,
  waitMs = 0,
): { pid: number; starttime: number } | 'held' | undefined {
  removeExpiredJournals(stateDir, retentionMs);
  if (!database) return undefined;
  if (lockHeld(shipLockPath(stateDir))) return 'held';
  if (finishedUnshippedJournals(stateDir).length === 0) return undefined;
  return startWatchdog(['ship', '--quiet', '--state-dir', stateDir, '--journal-retention', `${retentionMs}ms`, '--wait', `${waitMs}ms`], database);
}

/**
 * A detached scidex-watchdog, given this run's database (a --database-url flag included: the
 * environment alone would not carry it); undefined when it could not be started (the next start
 * tries again).
 */
function startWatchdog(args: string[], database: DatabaseConfig | undefined): { pid: number; starttime: number } | undefined {
  // A failpoint armed for this wrapper is not its helpers' to stop at.
  const env: NodeJS.ProcessEnv = { ...process.env, [FAILPOINTS_VARIABLE]: undefined };
  if (database?.url) env.SCIDEX_RUN_DATABASE_URL = database.url;
  try {
    const child = spawn(process.execPath, [WATCHDOG_BIN, ...args], { stdio: 'ignore', detached: true, env });
    child.on('error', () => undefined);
    child.unref();
    const starttime = child.pid === undefined ? undefined : readStat(child.pid)?.starttime;
    return starttime === undefined ? undefined : { pid: child.pid!, starttime };
  } catch {
    return undefined;
  }
}
