/**
 * The start sweep: every scidex-run start looks for runs of this host whose wrapper is gone, so
 * safety never depends on a daemon (DESIGN section 7). The check is cheap (one directory listing,
 * one stat per marker); the reaping itself, which waits out a grace period, is handed to a
 * detached `scidex-watchdog reap --run <id>` so that this run does not wait for it.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readStat } from '../proc/stat.js';
import { listMarkers, readMarker } from '../record/markers.js';
import { removeStaleCgroups } from '../track/stale-cgroups.js';
import { wrapperAlive } from '../proc/liveness.js';

const WATCHDOG_BIN = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));

/**
 * Starts a background reaper for each dead run found in `stateDir`.
 * @returns the reapers started (pid, starttime): our children, never members of the run
 */
export function sweepDeadRuns(stateDir: string, info: (line: string) => void): { pid: number; starttime: number }[] {
  const host = hostname();
  const dead = listMarkers(stateDir).filter((runId) => {
    const marker = readMarker(stateDir, runId);
    return marker !== undefined && marker.host === host && !wrapperAlive(marker);
  });
  removeStaleCgroups();
  const reapers: { pid: number; starttime: number }[] = [];
  for (const runId of dead) {
    info(`run ${runId} lost its wrapper: reaping it in the background`);
    try {
      const child = spawn(process.execPath, [WATCHDOG_BIN, 'reap', '--quiet', '--run', runId, '--state-dir', stateDir], {
        stdio: 'ignore',
        detached: true,
      });
      child.on('error', () => undefined);
      child.unref();
      const starttime = child.pid === undefined ? undefined : readStat(child.pid)?.starttime;
      if (starttime !== undefined) reapers.push({ pid: child.pid!, starttime });
    } catch {
      // The next start, the lifeline or `scidex-watchdog reap` will try again.
    }
  }
  return reapers;
}
