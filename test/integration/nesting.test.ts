/**
 * Nest, never escape: a run started from a child cgroup (as inside a Slurm job, a pod or a systemd
 * unit) stays beneath it on every backend, so what that cgroup enforces still covers the analysis.
 * The caller here is a shell that moves itself into a fresh child of our own cgroup v2, then execs
 * the wrapper; the command prints its own cgroup.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { cgroup2MountPoint, cgroupOf } from '../../src/proc/cgroup.js';
import { readStat } from '../../src/proc/stat.js';
import { availableBackends } from '../helpers/lost-runs.js';
import { until } from '../helpers/until.js';
import { ownedTag } from '../helpers/processes.js';
import { BIN, journalOf, journalSoFar, newStateDir } from '../helpers/wrapper.js';

const tag = ownedTag();
const mount = cgroup2MountPoint();
const own = cgroupOf('self');
const backends = await availableBackends();

/** A child of our own cgroup we may make and enter (root, or a delegated subtree), or why not. */
function childCgroupSupport(): string | undefined {
  if (!mount || own === undefined) return 'no cgroup v2 here';
  const probe = join(mount, own, `scidex-nest-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return undefined;
  } catch (error) {
    return `cannot make a child cgroup of ${join(mount, own)} (${(error as NodeJS.ErrnoException).code})`;
  }
}
const skip = childCgroupSupport();

const made: string[] = [];
// A cgroup still holding a process stays (and the survivor check fails the test).
afterEach(() => {
  for (const dir of made.splice(0)) removeTree(dir);
});

/** rmdir of a cgroup and those below it, deepest first. */
function removeTree(dir: string): void {
  for (const entry of existsSync(dir) ? readdirSync(dir, { withFileTypes: true }) : []) if (entry.isDirectory()) removeTree(join(dir, entry.name));
  try {
    rmdirSync(dir);
  } catch {
    // Populated or gone.
  }
}

describe.skipIf(skip !== undefined)(`a run started inside a child cgroup${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it.each(backends)('stays beneath it under --tracking %s', async (backend) => {
    const caller = join(own!, `scidex-nest-${randomBytes(4).toString('hex')}`);
    const callerDir = join(mount!, caller);
    mkdirSync(callerDir);
    made.push(callerDir);
    const stateDir = newStateDir();
    const script = 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"';
    const run = await execa('sh', ['-c', script, 'nest', callerDir, BIN, '--quiet', '--tracking', backend, '--', 'sh', '-c', 'grep "^0::" /proc/self/cgroup'], {
      reject: false,
      env: { SCIDEX_RUN_STATE_DIR: stateDir, DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, SCIDEX_TEST_TAG: tag },
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const leaderCgroup = run.stdout.trim().replace(/^0::/, '');
    expect(leaderCgroup === caller || leaderCgroup.startsWith(`${caller}/`), `the leader ran in ${leaderCgroup}, outside ${caller}`).toBe(true);
    const record = journalOf(stateDir).runs.at(-1)!;
    expect(record.tracking_backend).toBe(backend);
    if (backend === 'cgroup') expect(record.cgroup_path).toBe(join(callerDir, 'scidex-run', record.id));
  });

  it.each(backends)("is killed with it by the caller's cgroup.kill under --tracking %s", async (backend) => {
    const callerDir = join(mount!, own!, `scidex-nest-${randomBytes(4).toString('hex')}`);
    mkdirSync(callerDir);
    made.push(callerDir);
    const stateDir = newStateDir();
    const script = 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"';
    const wrapper = execa('sh', ['-c', script, 'nest', callerDir, BIN, '--quiet', '--tracking', backend, '--', 'sleep', '300'], {
      reject: false,
      env: { SCIDEX_RUN_STATE_DIR: stateDir, DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, SCIDEX_TEST_TAG: tag },
    });
    const leader = await until('the leader', () => journalSoFar(stateDir)?.runs.find((run) => run.pid !== null)?.pid ?? undefined);
    // What a Slurm job's or a unit's end does to its cgroup: the run goes with it.
    writeFileSync(join(callerDir, 'cgroup.kill'), '1');
    expect((await wrapper).signal).toBe('SIGKILL');
    await until('the leader to die', () => !existsSync(`/proc/${leader}`) || readStat(leader)?.state === 'Z');
  });
});
