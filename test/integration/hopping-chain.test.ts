/**
 * A chain that forks and exits every few milliseconds (test/fixtures/hopper.py), in a session of its
 * own and deaf to SIGTERM: no scan of /proc finds it where it last saw it. On every backend it must
 * be stopped when the run is killed (timeout) and when its leader exits (orphans). It writes its
 * current pid and hop number to a file every 10 hops: a file that stops changing is a chain that
 * stopped. A chain that survives is stopped by the test through its group, after checking it carries
 * the test's tag. A last test forces the one hop that matters to the cgroup backend: between its
 * scan's listing of cgroup.procs and its reading of the listed pid; and again with a cgroup.freeze
 * the kernel refuses (test/helpers/refusals.ts), where the run's groups must be stopped instead.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { hasEnvEntry } from '../../src/proc/environ.js';
import { isDead, readStat } from '../../src/proc/stat.js';
import { availableBackends, stoppedAtFailpoint } from '../helpers/lost-runs.js';
import { ownedTag, tagged } from '../helpers/processes.js';
import { mountReadOnly, noMountNamespace, OWN_MOUNT_NAMESPACE } from '../helpers/refusals.js';
import { until } from '../helpers/until.js';
import { journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const HOPPER = join(import.meta.dirname, '..', 'fixtures', 'hopper.py');
const backends = await availableBackends();

function statusOf(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Whether the chain writing `file` still hops: its status changes within 600 ms (it writes every ~25 ms). */
async function stillHopping(file: string): Promise<boolean> {
  const before = statusOf(file);
  // Not a wait on a condition: the window is the measurement (no change within it is the answer).
  await sleep(600);
  return statusOf(file) !== before;
}

/**
 * Stops a surviving chain through its process group, found from the pid its status file names or
 * from any live process of the test's tag outside our own group (a hop lives a few milliseconds:
 * either may miss it, so both are tried each round).
 */
async function stopChain(file: string): Promise<void> {
  const ownGroup = readStat(process.pid)?.pgid;
  for (let attempt = 0; attempt < 100 && (await stillHopping(file)); attempt++) {
    const named = Number(statusOf(file).split(' ')[0]);
    const candidates = [...(named > 1 && hasEnvEntry(named, `SCIDEX_TEST_TAG=${tag}`) ? [named] : []), ...tagged(tag)];
    const groups = new Set(candidates.map((pid) => readStat(pid)?.pgid).filter((pgid): pgid is number => pgid !== undefined && pgid > 1 && pgid !== ownGroup));
    for (const pgid of groups) {
      for (const signal of ['SIGSTOP', 'SIGKILL'] as const) {
        try {
          process.kill(-pgid, signal);
        } catch {
          // Gone already.
        }
      }
    }
  }
}

describe('a chain that forks and exits faster than any scan', () => {
  for (const backend of backends) {
    for (const when of ['timeout', 'orphans'] as const) {
      // The orphans case's run timeout is only a hang bound (its leader exits after 0.2 s): minutes, so that a
      // python3 start starved by the suite's load never lets it win, and the test's own bound above it.
      it(`${backend}, ${when}: stopped with the run, nothing hops on`, { timeout: 420_000 }, async () => {
        const dir = mkdtempSync(join(tmpdir(), 'scidex-hopper-'));
        const status = join(dir, 'status');
        const run = await startWrapper(
          ['--quiet', '--tracking', backend, '--timeout', when === 'timeout' ? '1s' : '5m', '--grace', '300ms', '--', 'python3', HOPPER, '20000', status],
          { tag, stateDir: newStateDir(), env: { LEADER_SLEEP: when === 'timeout' ? '60' : '0.2' }, reportStall: true },
        );
        const hopping = await stillHopping(status);
        if (hopping) await stopChain(status);
        expect(run.exitCode, run.stderr).toBe(when === 'timeout' ? 124 : 0);
        expect(statusOf(status)).toMatch(/^\d+ \d+\n$/);
        expect(hopping, `the chain hops on after the wrapper exited (${backend}, ${when})`).toBe(false);
        rmSync(dir, { recursive: true, force: true });
      });
    }
  }
});

/**
 * The leader forks an orphan (deaf to SIGTERM) and exits once the orphan is ready; on SIGUSR1 the
 * orphan hops once: it forks a child that sleeps on (stdio closed, so the wrapper's pipes close with
 * the wrapper) and exits. Both write their pid to a file in the directory argv[1] names.
 */
const HOP_ON_SIGNAL = `
import os, signal, sys, time
d = sys.argv[1]
def note(name):
    with open(os.path.join(d, name + '.tmp'), 'w') as f:
        f.write(str(os.getpid()))
    os.replace(os.path.join(d, name + '.tmp'), os.path.join(d, name))
def hop(*_):
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        note('child')
        while True:
            time.sleep(60)
    os._exit(0)
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, hop)
    note('orphan')
    while True:
        signal.pause()
while not os.path.exists(os.path.join(d, 'orphan')):
    time.sleep(0.01)
`;

describe('a hop between a scan listing a process and reading it (forced)', () => {
  for (const freezeRefused of [false, true]) {
    const skip = !backends.includes('cgroup') ? 'no cgroup backend' : freezeRefused ? noMountNamespace : undefined;
    const refusal = freezeRefused ? ' with cgroup.freeze refused (EROFS), the groups stopped instead' : '';
    it.skipIf(skip !== undefined)(`cgroup${refusal}: the settle window ending on that scan still stops what the hop left${skip ? ` (skipped: ${skip})` : ''}`, { timeout: 180_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'scidex-hop-once-'));
      const stateDir = newStateDir();
      const run = startWrapper(['--quiet', '--tracking', 'cgroup', '--orphan-settle', '0', '--grace', '300ms', '--', 'python3', '-c', HOP_ON_SIGNAL, dir], {
        tag,
        stateDir,
        env: { SCIDEX_FAILPOINTS: 'settle-listed' },
        reportStall: true,
        via: freezeRefused ? OWN_MOUNT_NAMESPACE : undefined,
      });
      const wrapper = await stoppedAtFailpoint(run.pid);
      const cgroup = journalOf(stateDir).runs.find((record) => record.cgroup_path)!.cgroup_path!;
      let child: number;
      try {
        if (freezeRefused) await mountReadOnly(wrapper, `${cgroup}/cgroup.freeze`);
        const orphan = Number(readFileSync(join(dir, 'orphan'), 'utf8'));
        expect(orphan > 1 && hasEnvEntry(orphan, `SCIDEX_TEST_TAG=${tag}`)).toBe(true);
        process.kill(orphan, 'SIGUSR1');
        child = await until('the hop', () => Number(statusOf(join(dir, 'child'))) || undefined);
        // The pid the stopped scan listed is gone (or a zombie) when the scan goes on to read it.
        await until('the listed orphan gone', () => {
          const stat = readStat(orphan);
          return !stat || isDead(stat);
        });
      } finally {
        process.kill(wrapper, 'SIGCONT');
      }
      const result = await run;
      expect(result.exitCode, result.stderr).toBe(0);
      expect(tagged(tag), 'the hop outlived the run').toEqual([]);
      const { events } = journalOf(stateDir);
      expect(events.filter((event) => event.kind === 'orphan_found').map((event) => event.pid)).toEqual([child]);
      const failed = events.filter((event) => event.kind === 'kill_failed');
      if (freezeRefused) {
        // The settle window's freeze, then the orphans' termination sequence's own.
        expect(failed.map((event) => [event.reason, event.detail.operation, event.detail.errno])).toEqual([
          ['orphans', 'freeze', 'EROFS'],
          ['orphans', 'freeze', 'EROFS'],
        ]);
      } else {
        expect(failed).toEqual([]);
      }
      rmSync(dir, { recursive: true, force: true });
      rmSync(stateDir, { recursive: true, force: true });
    });
  }
});
