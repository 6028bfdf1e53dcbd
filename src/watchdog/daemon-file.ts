/**
 * `<state>/watchdog.json`: the heartbeat of this host's `scidex-watchdog serve`, rewritten at every
 * sweep (0600, atomically: a temporary file renamed over it, so a reader never sees half of it).
 * `scidex-watchdog status` reads it to tell whether the daemon is up: the process it names is
 * alive with the same starttime (a reused pid is not the daemon) and its heartbeat is younger than
 * three intervals (a daemon wedged in a sweep is not up).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { readStateFile, replaceStateFile } from '../record/state-file.js';
import { join } from 'node:path';
import { isDead, readStat } from '../proc/stat.js';
import { bootId } from '../proc/system.js';

/** The last sweep, as the daemon reports it. */
export interface SweepReport {
  /** When it ended, ISO (UTC). */
  at: string;
  /** How long it took, milliseconds. */
  ms: number;
  /** Runs marked lost by it. */
  reaped: number;
  /** Records shipped by it (journals of finished runs that still waited for PostgreSQL). */
  shipped: number;
  /** Why it failed (the database was down, ...), when it did. */
  error?: string;
}

/** What watchdog.json holds. */
export interface DaemonFile {
  pid: number;
  /** The daemon's starttime, clock ticks after boot (proc(5) stat field 22). */
  starttime: number;
  /** Boot id at start: after a reboot the pid and starttime name nothing of ours. */
  boot_id: string;
  host: string;
  /** ISO (UTC). */
  started_at: string;
  /** ISO (UTC): the last sweep's end, or the start before the first sweep. */
  heartbeat_at: string;
  interval_ms: number;
  version: string;
  /** HOST:PORT of the HTTP listener. */
  listen: string;
  /** Null before the first sweep has ended. */
  last_sweep: SweepReport | null;
}

/** Heartbeats older than this many intervals mean the daemon is not up. */
export const STALE_INTERVALS = 3;

/** The path of the daemon file of a state directory. */
export function daemonFilePath(stateDir: string): string {
  return join(stateDir, 'watchdog.json');
}

/**
 * Writes the daemon file atomically, mode 0600 (replaceStateFile: a symlink or hard link planted at
 * its name is replaced, never followed).
 * @throws the file system's error (a state directory that went away or became read-only)
 */
export function writeDaemonFile(stateDir: string, content: DaemonFile): void {
  replaceStateFile(daemonFilePath(stateDir), JSON.stringify(content) + '\n');
}

/** The daemon file, or undefined when there is none (never started) or it is not one. */
export function readDaemonFile(stateDir: string): DaemonFile | undefined {
  try {
    const content = JSON.parse(readStateFile(daemonFilePath(stateDir))) as DaemonFile;
    return Number.isInteger(content.pid) && typeof content.heartbeat_at === 'string' ? content : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the daemon is up, and if not, why. */
export interface DaemonVerdict {
  up: boolean;
  /** One phrase: `pid 123 is gone`, `heartbeat 45s old (limit 30s)`, ... (empty when up). */
  why: string;
  /** Milliseconds since the last heartbeat. */
  heartbeatAgeMs: number;
}

/** Judges a daemon file: up when its process lives (pid and starttime, this boot) and its heartbeat is fresh. */
export function judgeDaemon(file: DaemonFile, nowMs = Date.now()): DaemonVerdict {
  const heartbeatAgeMs = Math.max(0, nowMs - Date.parse(file.heartbeat_at));
  const stat = file.pid > 1 ? readStat(file.pid) : undefined;
  const sameBoot = file.boot_id === undefined || file.boot_id === bootId();
  if (!sameBoot) return { up: false, why: 'the host rebooted since', heartbeatAgeMs };
  if (!stat || isDead(stat) || stat.starttime !== file.starttime) return { up: false, why: `its process (pid ${file.pid}) is gone`, heartbeatAgeMs };
  const limit = STALE_INTERVALS * file.interval_ms;
  if (heartbeatAgeMs > limit) {
    return { up: false, why: `pid ${file.pid} lives but its last heartbeat is ${Math.round(heartbeatAgeMs / 1000)}s old (limit ${Math.round(limit / 1000)}s)`, heartbeatAgeMs };
  }
  return { up: true, why: '', heartbeatAgeMs };
}

/**
 * Why there is no daemon file to judge, in one phrase: it was never written (no daemon ever ran
 * with this state directory), it is there but not a heartbeat, or it cannot be read at all (a
 * state directory of another user, mode 0700: EACCES). The last says nothing about the daemon.
 * @returns `missing` or `corrupt` with the phrase, or `unreadable` with the phrase and the errno
 */
export function whyNoDaemonFile(stateDir: string): { kind: 'missing' | 'corrupt' | 'unreadable'; why: string } {
  const path = daemonFilePath(stateDir);
  try {
    accessSync(path, constants.R_OK);
    return { kind: 'corrupt', why: `${path} is not a daemon's heartbeat (unreadable or corrupt)` };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing', why: `no scidex-watchdog serve has run with state directory ${stateDir} (no ${path})` };
    let owner = '';
    try {
      owner = `; the state directory belongs to uid ${statSync(stateDir).uid}, and this is uid ${process.getuid?.()}`;
    } catch {
      // Its owner cannot be read either: the code says enough.
    }
    return { kind: 'unreadable', why: `cannot tell: ${path} cannot be read (${code})${owner}; run as its owner or root, or give --state-dir` };
  }
}
