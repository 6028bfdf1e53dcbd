/**
 * Helpers for runs whose wrapper dies: a backend list from the real CLI, processes outside any
 * run (foreign processes a forged record might name), and forged markers.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { isDead, readStat } from '../../src/proc/stat.js';
import { bootId, pidNamespace } from '../../src/proc/system.js';
import type { RunMarker } from '../../src/record/markers.js';
import type { RunRecord } from '../../src/record/types.js';
import { until } from './until.js';
import { BIN } from './wrapper.js';

/** The backends `--explain-tracking --json` reports available here. */
export async function availableBackends(): Promise<string[]> {
  const { stdout } = await execa(BIN, ['--explain-tracking', '--json']);
  const report = JSON.parse(stdout) as { backends: { backend: string; available: boolean }[] };
  return report.backends.filter((entry) => entry.available).map((entry) => entry.backend);
}

/** A process alive now (not a zombie) with this starttime. */
export function aliveWith(pid: number, starttime: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.starttime === starttime && !isDead(stat);
}

/**
 * Waits until process `pid` is stopped (state T), as a failpoint (src/sys/failpoint.ts) leaves it.
 * @returns the pid, for the SIGCONT that resumes it
 * @throws when it is not stopped within 60 s (a hang bound: the wrapper's start comes first)
 */
export async function stoppedAtFailpoint(pid: number | undefined): Promise<number> {
  if (pid === undefined) throw new Error('a process without a pid never reaches its failpoint');
  await until(`process ${pid} to reach its failpoint`, () => readStat(pid)?.state === 'T', 60_000);
  return pid;
}

/** A process that belongs to no run: `sleep 300` with the given extra environment. Kill it with `stop`. */
export function foreignSleep(env: Record<string, string> = {}): { pid: number; starttime: number; stop(): void } {
  const child = spawn('sleep', ['300'], { stdio: 'ignore', env: { PATH: process.env.PATH, ...env } });
  const pid = child.pid!;
  const starttime = readStat(pid)!.starttime;
  return {
    pid,
    starttime,
    stop: () => {
      if (pid > 1 && aliveWith(pid, starttime)) child.kill('SIGKILL');
    },
  };
}

/**
 * Another user's process carrying a run's cookie: python3 as `owner` holding `mib` MiB written
 * (so resident), with `SCIDEX_RUN_ID=<runId>` and the test's tag in its environment; resolves once
 * its RSS holds them. Kill it with `stop`.
 */
export async function cookieCarrierAs(
  owner: { uid: number; gid: number },
  python: string,
  runId: string,
  tag: string,
  mib: number,
): Promise<{ pid: number; starttime: number; stop(): void }> {
  const script = `import time\nheld = b"\\x01" * (${mib} << 20)\ntime.sleep(3600)`;
  const child = spawn(python, ['-c', script], { stdio: 'ignore', uid: owner.uid, gid: owner.gid, env: { PATH: process.env.PATH, SCIDEX_RUN_ID: runId, SCIDEX_TEST_TAG: tag } });
  const pid = child.pid!;
  const starttime = readStat(pid)!.starttime;
  const stop = () => {
    if (pid > 1 && aliveWith(pid, starttime)) child.kill('SIGKILL');
  };
  try {
    // RSS in pages of 4 KiB (proc(5) stat field 24), as on our hosts.
    await until(`the carrier to hold ${mib} MiB`, () => (readStat(pid)?.rssPages ?? 0) * 4096 >= mib << 20, 60_000);
  } catch (error) {
    stop();
    throw error;
  }
  return { pid, starttime, stop };
}

/** A marker (and optionally a journal holding one run row) for a run whose wrapper is long gone. */
export function forgeRun(stateDir: string, overrides: Partial<RunRecord> = {}): RunMarker & Partial<RunRecord> {
  const id = overrides.id ?? randomUUID();
  const journalPath = join(stateDir, 'journal', `${id}.jsonl`);
  const run: RunRecord = {
    id, revision: 1, analysis_id: 'forged', parent_run_id: null, adopted: false, host: hostname(), boot_id: bootId(), pid_ns: pidNamespace(),
    wrapper_pid: 999_999, wrapper_starttime: 1, pid: null, pgid: null, leader_starttime: null, argv: ['forged'],
    cwd: '/', username: 'root', timeout_ms: 0, memory_limit_bytes: 0, grace_ms: 500, orphan_policy: 'kill',
    tracking_backend: 'pgroup', cgroup_path: null, journal_path: journalPath, started_at: new Date().toISOString(),
    heartbeat_at: new Date().toISOString(), ended_at: null, status: 'running', exit_status: null, exit_code: null,
    signal: null, reason: null, peak_rss_bytes: 0, peak_pss_bytes: null, cpu_seconds: 0, peak_process_count: 0,
    process_count: 0, ...overrides,
  };
  mkdirSync(join(stateDir, 'running'), { recursive: true, mode: 0o700 });
  mkdirSync(join(stateDir, 'journal'), { recursive: true, mode: 0o700 });
  writeFileSync(join(stateDir, 'running', `${id}.json`), JSON.stringify(run), { mode: 0o600 });
  writeFileSync(journalPath, JSON.stringify({ table: 'runs', record: run }) + '\n', { mode: 0o600 });
  return run;
}
