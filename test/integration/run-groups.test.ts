/**
 * Which process groups the termination sequence may signal whole (terminate/run-groups.ts), on
 * real processes. The hostile case: a group number that a dead member once used, now led by a
 * stranger (a reused pid). The stranger's group must never count as the run's, including when the
 * stranger's main thread has exited (pthread_exit) while its other threads run: its stat then says
 * Z with vsize 0 and its environment reads empty, which is what an exiting process looks like too.
 */
import { spawn } from 'node:child_process';
import { execaSync } from 'execa';
import { describe, expect, it } from 'vitest';
import { readStat } from '../../src/proc/stat.js';
import { RunGroups } from '../../src/terminate/run-groups.js';
import type { Member } from '../../src/track/member.js';
import { until } from '../helpers/until.js';
import { ownedTag } from '../helpers/processes.js';

const tag = ownedTag();
const root = process.getuid?.() === 0;
const nobody = root ? { uid: Number(execaSync('id', ['-u', 'nobody']).stdout), gid: Number(execaSync('id', ['-g', 'nobody']).stdout) } : undefined;

/**
 * A stranger in a session and group of its own: `python3 -c SCRIPT` under setsid, tagged for
 * cleanup; as `user` (uid and gid) when given, with `env` added to its environment.
 */
function stranger(script: string, user?: { uid: number; gid: number }, env: Record<string, string> = {}): { pid: number; stop(): void } {
  const child = spawn('setsid', ['python3', '-c', script], { stdio: 'ignore', ...user, env: { PATH: process.env.PATH, SCIDEX_TEST_TAG: tag, ...env } });
  const pid = child.pid!;
  return {
    pid,
    stop: () => {
      const stat = readStat(pid);
      if (pid > 1 && stat && stat.pgid === pid) process.kill(-pid, 'SIGKILL');
    },
  };
}

/** A dead member of a run whose pid (and so group number) the stranger now has, under another starttime. */
function deadMemberAt(pid: number): Member {
  return {
    pid, starttime: 1, ppid: 1, pgid: pid, sid: pid, state: 'Z', comm: 'gone', argv: [], foundBy: 'group',
    firstSeenMs: 0, lastSeenMs: 0, rssBytes: 0, peakRssBytes: 0, cpuTicks: 0, alive: false,
  };
}

describe('the groups of a run', () => {
  for (const [what, script] of [
    ['a stranger that sleeps', 'import time; time.sleep(60)'],
    ['a stranger whose main thread exited while another runs', 'import ctypes, threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\nctypes.CDLL(None).pthread_exit(None)'],
  ] as const) {
    it(`never include the group of ${what} under a dead member's number`, async () => {
      const process_ = stranger(script);
      try {
        // setsid(1) execs python3 in place once it has its own session: the group is then the stranger's.
        await until('the stranger to run python3 in a group of its own', () => readStat(process_.pid)?.pgid === process_.pid && readStat(process_.pid)?.comm !== 'setsid', 60_000);
        if (what.includes('main thread')) await until("the stranger's main thread to exit", () => readStat(process_.pid)?.state === 'Z', 60_000);
        const groups = new RunGroups(`SCIDEX_RUN_ID=${crypto.randomUUID()}`, process.getuid?.());
        const members = [deadMemberAt(process_.pid)];
        expect([...groups.ours(members)]).toEqual([]);
        expect(groups.live(members)).toBe(false);
        expect(groups.signal(members, 'SIGSTOP')).toBe(0);
        expect(readStat(process_.pid)?.state).not.toBe('T');
      } finally {
        process_.stop();
      }
    });
  }

  it.skipIf(!root)("never include the group of another user's stranger that carries the run's cookie; the run's user's carrier is the run's", async () => {
    const cookie = `SCIDEX_RUN_ID=${crypto.randomUUID()}`;
    const [name, value] = cookie.split('=');
    const strangers = [stranger('import time; time.sleep(60)', nobody, { [name]: value }), stranger('import time; time.sleep(60)', undefined, { [name]: value })];
    try {
      for (const { pid } of strangers) await until(`stranger ${pid} to run python3 in a group of its own`, () => readStat(pid)?.pgid === pid && readStat(pid)?.comm !== 'setsid', 60_000);
      const [theirs, ours] = strangers.map(({ pid }) => [deadMemberAt(pid)]);
      const groups = new RunGroups(cookie, process.getuid?.());
      expect([...groups.ours(theirs)]).toEqual([]);
      expect(groups.signal(theirs, 'SIGSTOP')).toBe(0);
      expect(readStat(strangers[0].pid)?.state).not.toBe('T');
      // Positive control: root's carrier of the cookie, under a dead member's number, is the run's.
      expect([...groups.ours(ours).keys()]).toEqual([strangers[1].pid]);
    } finally {
      for (const { stop } of strangers) stop();
    }
  });
});
