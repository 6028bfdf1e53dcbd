// Part 3's peers, each started on a zoo program with a 2 s deadline and a 1 s grace: `timeout -k`,
// execa with a group kill, and scidex-run itself with each backend; and when each decided to kill.
//
// The execa peer escalates exactly as `timeout -k` does, and signals the group only while its leader
// is verified alive (pid, starttime) and still leads it (pgid == pid): the one group kill in the bench,
// never of a pgid <= 1. The tree inherits a file as stderr, never a pipe: a survivor holding a pipe
// would keep execa waiting. scidex-run's decision is its journal's `limit_exceeded` event, timeout's
// the deadline itself.
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type Result, type ResultPromise } from 'execa';
import { readStat } from '../../../src/proc/stat.js';
import type { TrackingBackend } from '../../../src/config/tracking.js';
import { baseEnv, BIN, wallMs, WORK } from './context.js';
import { runIds, track, type Proc } from './processes.js';

export type Peer = { kind: 'timeout' } | { kind: 'execa' } | { kind: 'cli'; backend: TrackingBackend };
export const peerName = (peer: Peer): string =>
  peer.kind === 'timeout' ? '`timeout -k 1 2`' : peer.kind === 'execa' ? 'execa, group kill' : `scidex-run \`--tracking ${peer.backend}\``;

export const DEADLINE_MS = 2000;
export const GRACE_MS = 1000;

export interface PeerProcess {
  child: ResultPromise;
  /** Wall time just before the spawn. */
  tSpawn: number;
  /** Clears the peer's own timers, once the child has ended. */
  stop(): void;
  /** Once the child has ended: the wall time of the kill decision, if there was one, and a note. */
  outcome(finished: Result): { decision?: number; note?: string };
}

/** Starts `argv` under `peer`, its tree writing to `pidfile`. */
export function startPeer(peer: Peer, argv: string[], pidfile: string): PeerProcess {
  const env: NodeJS.ProcessEnv = { ...baseEnv, ZOO_PIDFILE: pidfile };
  const stderrFile = `${pidfile}.stderr`;
  const stderrFd = openSync(stderrFile, 'w');
  const tSpawn = wallMs();
  // execa accepts a file descriptor at run time (its types do not say so): the tree inherits a file, never a pipe.
  const stdio = ['ignore', 'ignore', stderrFd] as unknown as ['ignore', 'ignore', 'ignore'];
  const options = { env, extendEnv: false, stdio, reject: false } as const;
  try {
    switch (peer.kind) {
      case 'timeout': {
        const child = track(execa('timeout', ['-k', String(GRACE_MS / 1000), String(DEADLINE_MS / 1000), ...argv], options));
        // timeout(1) exits 124 after its TERM, or dies of its own group SIGKILL after -k.
        const outcome = (finished: Result) => ({ decision: finished.exitCode === 124 || finished.signal === 'SIGKILL' ? tSpawn + DEADLINE_MS : undefined });
        return { child, tSpawn, stop() {}, outcome };
      }
      case 'execa': {
        const child = track(execa(argv[0], argv.slice(1), { ...options, detached: true, cleanup: false }));
        const leader: Proc = { pid: child.pid!, starttime: readStat(child.pid!)?.starttime ?? -1 };
        let decision: number | undefined;
        const timers: NodeJS.Timeout[] = [];
        timers.push(
          setTimeout(() => {
            if (!killGroupOf(leader, 'SIGTERM')) return;
            decision = wallMs();
            timers.push(setTimeout(() => killGroupOf(leader, 'SIGKILL'), GRACE_MS));
          }, DEADLINE_MS),
        );
        return { child, tSpawn, stop: () => timers.forEach(clearTimeout), outcome: () => ({ decision }) };
      }
      case 'cli': {
        const stateDir = mkdtempSync(join(WORK, 'state-'));
        const cliArgs = ['--quiet', '--tracking', peer.backend, '--timeout', `${DEADLINE_MS / 1000}s`, '--grace', `${GRACE_MS / 1000}s`, '--', ...argv];
        const child = track(execa(BIN, cliArgs, { ...options, env: { ...env, SCIDEX_RUN_STATE_DIR: stateDir } }));
        return { child, tSpawn, stop() {}, outcome: () => cliOutcome(stateDir, peer.backend, stderrFile) };
      }
    }
  } finally {
    closeSync(stderrFd);
  }
}

/** kill(-pgid) for the execa peer: only while the leader (pid, starttime) is unreaped and still leads its group. */
function killGroupOf(leader: Proc, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(leader.pid) || leader.pid <= 1) throw new Error(`refusing to signal group ${leader.pid}`);
  const stat = readStat(leader.pid);
  if (!stat || stat.starttime !== leader.starttime || stat.pgid !== leader.pid) return false;
  try {
    process.kill(-leader.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The decision from the run's journal; its run id (for the cgroup check); a note if the journal names another backend or it wrote to stderr. */
function cliOutcome(stateDir: string, backend: TrackingBackend, stderrFile: string): { decision?: number; note?: string } {
  const events = journalEvents(stateDir);
  const limit = events.find((event) => event.kind === 'limit_exceeded');
  for (const name of readdirSync(join(stateDir, 'journal'))) if (name.endsWith('.jsonl')) runIds.add(name.slice(0, -6));
  const named = events.find((event) => event.kind === 'run_started')?.detail?.tracking?.backend;
  const stderr = readFileSync(stderrFile, 'utf8').trim();
  const notes = [named !== backend ? `journal names backend ${named}` : '', stderr ? `stderr: ${stderr.split('\n')[0]}` : ''];
  return { decision: limit ? Date.parse(limit.at) : undefined, note: notes.filter(Boolean).join('; ') || undefined };
}

function journalEvents(stateDir: string): { kind: string; at: string; detail?: { tracking?: { backend?: string } } }[] {
  const dir = join(stateDir, 'journal');
  if (!existsSync(dir)) return [];
  const file = readdirSync(dir).find((name) => name.endsWith('.jsonl'));
  if (!file) return [];
  return readFileSync(join(dir, file), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { table: string; record: { kind: string; at: string } })
    .filter((entry) => entry.table === 'events')
    .map((entry) => entry.record);
}
