/**
 * A chain that forks and exits every few milliseconds (test/fixtures/hopper.py), in a session of its
 * own and deaf to SIGTERM: no scan of /proc finds it where it last saw it. On every backend it must
 * be stopped when the run is killed (timeout) and when its leader exits (orphans). It writes its
 * current pid and hop number to a file every 10 hops: a file that stops changing is a chain that
 * stopped. A chain that survives is stopped by the test through its group, after checking it carries
 * the test's tag.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { hasEnvEntry } from '../../src/proc/environ.js';
import { readStat } from '../../src/proc/stat.js';
import { availableBackends } from '../helpers/lost-runs.js';
import { ownedTag, tagged } from '../helpers/processes.js';
import { newStateDir, startWrapper } from '../helpers/wrapper.js';

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
      it(`${backend}, ${when}: stopped with the run, nothing hops on`, { timeout: 60_000 }, async () => {
        const dir = mkdtempSync(join(tmpdir(), 'scidex-hopper-'));
        const status = join(dir, 'status');
        const run = await startWrapper(
          ['--quiet', '--tracking', backend, '--timeout', '1s', '--grace', '300ms', '--', 'python3', HOPPER, '20000', status],
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
