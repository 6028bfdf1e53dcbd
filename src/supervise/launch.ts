/**
 * Everything a run needs before its first process exists, in this order:
 *   1. the run id and the journal (which must be writable, or nothing is spawned);
 *   2. the sweep: runs of this host whose wrapper died are handed to a background reaper;
 *   3. the tracking backend (the cgroup made, or the subreaper flag set) and the kernel memory backstop
 *      (memory.max of the run's cgroup v2, or a cgroup of the v1 memory hierarchy: track/memory-backstop.ts);
 *   4. the run marker and the lifeline, so that from the spawn on a dead wrapper's run gets finished;
 * then the supervisor runs, the records are shipped within a bound (with, at the same time, the
 * run's end reported: a GitHub Actions annotation, a Pushgateway push), the marker is removed.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { existsSync, readlinkSync, rmSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { formatDuration } from '../config/duration.js';
import { UsageError } from '../config/errors.js';
import { databaseUser } from '../config/database.js';
import { graceUnderKillWait, slurmJob, slurmKillWaitMs } from '../config/slurm.js';
import { isRunId } from '../config/run-id.js';
import type { RunConfig } from '../config/run-config.js';
import { readStat } from '../proc/stat.js';
import { readCmdline } from '../proc/cmdline.js';
import { memberKey } from '../track/member.js';
import { giveBack, setUpAdoptedTracking } from '../track/adopt-tree.js';
import { takeProcess, type AdoptTarget, type TakenProcess } from './adopt.js';
import { bootId, pidNamespace, procMatchesOurPidNamespace } from '../proc/system.js';
import { Journal } from '../record/journal.js';
import { shippedMarkPath } from '../record/journal-files.js';
import { removeMarker, unlockMarker, writeMarker } from '../record/markers.js';
import { Recorder } from '../record/recorder.js';
import { redactArgv } from '../record/redact.js';
import { RunLog, runIdentity } from '../record/run-log.js';
import { prepareJournalDir } from '../record/state-dir.js';
import { annotateKill } from '../report/github-actions.js';
import { pushRunMetrics } from '../report/pushgateway.js';
import { runEnd } from '../report/run-end.js';
import { BackendUnavailableError, removeRunCgroups, setUpMemoryBackstop, setUpTracking, type TrackingSetup } from '../track/select.js';
import { failpoint, FAILPOINTS_VARIABLE } from '../sys/failpoint.js';
import { startLifeline } from './lifeline.js';
import { shipLeftovers, sweepDeadRuns } from './sweep.js';
import { Supervisor, type Messages } from './supervisor.js';

/**
 * How long the wrapper may keep trying, after the run, to get its last records into a busy
 * PostgreSQL (one that is down gets one attempt), milliseconds.
 */
const FINAL_SHIP_TIMEOUT_MS = 10_000;
/** How long the background shipper that takes over from a wrapper that met a busy PostgreSQL keeps trying, milliseconds. */
const HANDOVER_WAIT_MS = 10 * 60_000;

/**
 * Prepares, runs and records one analysis; or, with `adopt` (`scidex-watchdog adopt`), supervises a
 * process started elsewhere as a run of its own: the same journal, marker, lifeline, tracking,
 * limits and records, the leader taken by pidfd (adopt.ts) instead of spawned.
 * @returns scidex-run's exit status (an adopting supervisor's means nothing: 0)
 * @throws UsageError when /proc is another PID namespace's, the state directory or journal cannot be
 *         written, or the tracking backend asked for is not available here (nothing spawned); when
 *         the process to adopt may not be (adopt.ts)
 */
export async function launch(asked: RunConfig, messages: Messages & { warn(line: string): void }, adopt?: AdoptTarget): Promise<number> {
  const config = adopt ? asked : withinSlurmKillWait(asked, messages.warn);
  if (!procMatchesOurPidNamespace()) {
    throw new UsageError(`/proc belongs to another PID namespace (pid ${process.pid} here): mount this namespace's /proc, as unshare --pid --fork --mount-proc does`);
  }
  const runId = randomUUID();
  const journalDir = prepareJournalDir(config.stateDir);
  if (!adopt) warnOfLaunchers(config.command, messages.warn);
  const taken = adopt ? takeProcess(adopt, config.stateDir) : undefined;
  try {
    return await launchTaken(config, messages, runId, journalDir, adopt, taken);
  } finally {
    taken?.unlock();
  }
}

async function launchTaken(
  config: RunConfig,
  messages: Messages & { warn(line: string): void },
  runId: string,
  journalDir: string,
  adopt: AdoptTarget | undefined,
  taken: TakenProcess | undefined,
): Promise<number> {
  const reapers = sweepDeadRuns(config.stateDir, config.database, messages.info);
  const shipper = shipLeftovers(config.stateDir, config.database, config.journalRetentionMs);
  if (shipper && shipper !== 'held') reapers.push(shipper);
  const wrapperStat = readStat(process.pid);
  let tracking: TrackingSetup;
  try {
    if (taken) {
      // Never moved into the run's cgroup: the supervisor and its children so far (background reapers).
      const excluded = new Set([memberKey(process.pid, wrapperStat?.starttime ?? 0), ...reapers.map((r) => memberKey(r.pid, r.starttime))]);
      tracking = setUpAdoptedTracking(config.tracking, runId, taken.leader.stat, excluded);
    } else {
      tracking = setUpTracking(config.tracking, runId);
    }
  } catch (error) {
    if (error instanceof BackendUnavailableError) throw new UsageError(error.message);
    throw error;
  }
  // An adopted tree runs already: it is never spawned through a v1 memory cgroup, so only its run
  // cgroup v2's memory.max can be its backstop.
  if (taken) tracking.cgroup?.setMemoryBackstop(config.memoryLimitBytes);
  else setUpMemoryBackstop(tracking, runId, config.memoryLimitBytes);
  // Nothing run after all: an adopted tree goes back to the cgroup it came from, and the run's cgroups go.
  const undoTracking = (): void => {
    if (taken && tracking.cgroup) giveBack(tracking.cgroup);
    removeRunCgroups(tracking);
  };
  let journal: Journal;
  try {
    journal = Journal.create(journalDir, runId);
  } catch (error) {
    undoTracking();
    throw error;
  }
  failpoint('journal-created');
  const recorder = new Recorder(journal, config.database, messages.warn);
  if (!config.database) messages.info(`no database configured: records are kept in the journal ${journal.path}`);

  const leaderPid = taken?.leader.pid;
  const identity = runIdentity(config, {
    id: runId,
    adopted: taken !== undefined,
    // Inherited, so anyone's: kept only when it is a run id (a column PostgreSQL types as uuid).
    parent_run_id: isRunId(process.env.SCIDEX_RUN_ID ?? '') ? process.env.SCIDEX_RUN_ID! : null,
    host: hostname(),
    boot_id: bootId(),
    pid_ns: pidNamespace(),
    wrapper_pid: process.pid,
    wrapper_starttime: wrapperStat?.starttime ?? 0,
    argv: redactArgv(leaderPid === undefined ? config.command : adoptedArgv(leaderPid, taken!.leader.stat.comm)),
    cwd: leaderPid === undefined ? process.cwd() : adoptedCwd(leaderPid),
    username: currentUser(),
    journal_path: journal.path,
    tracking_backend: tracking.backend,
    cgroup_path: tracking.cgroup?.path ?? null,
    ...slurmJob(process.env),
  });
  try {
    // The role its records are written as: a deliverer of cancels trusts the run's own word on it,
    // not the run row, which any writer could have inserted first.
    writeMarker(config.stateDir, { ...identity, db_user: databaseUser(config.database, process.env), memory_cgroup_v1: tracking.memoryV1?.path ?? null });
  } catch (error) {
    undoTracking();
    journal.close();
    // Still empty: no run started, so there is nothing in it to keep.
    rmSync(journal.path, { force: true });
    throw new UsageError(`cannot write the run marker in '${config.stateDir}': ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const lifeline = startLifeline(runId, config.stateDir, config.database?.url);
  const env: NodeJS.ProcessEnv = { ...process.env, SCIDEX_RUN_ID: runId, [FAILPOINTS_VARIABLE]: undefined };
  if (config.analysisId !== undefined) env.SCIDEX_ANALYSIS_ID = config.analysisId;

  const log = new RunLog(identity, recorder);
  const helpers = lifeline ? [...reapers, { pid: lifeline.pid, starttime: lifeline.starttime }] : reapers;
  const adoption = taken && {
    leader: taken.leader,
    ageMs: taken.ageMs,
    spentMs: adopt!.sinceStart ? taken.ageMs : 0,
    onStarted: () => adopt!.onStarted({ runId, pid: taken.leader.pid, backend: tracking.backend }),
  };
  const supervisor = new Supervisor(config, log, messages, tracking, helpers, adoption);
  const status = await supervisor.run(env);
  const [shipped] = await Promise.all([recorder.close(FINAL_SHIP_TIMEOUT_MS), reportRunEnd(config, log, messages)]);
  if (recorder.lostRecords > 0) {
    // Its records are not complete, its ending perhaps among what was lost: the marker stays, and a
    // reaper finishes the run from what the journal holds, as lost (docs/records.md).
    unlockMarker(config.stateDir, runId);
    lifeline?.release();
    return status;
  }
  removeMarker(config.stateDir, runId);
  // After the marker is gone: a shipper counts only the journals of finished runs as its work.
  if (shipped === 'busy') handOverRecords(config, recorder, messages);
  lifeline?.release();
  return status;
}

/**
 * The run's end told to the outside: the kill annotation under GitHub Actions, the metrics to the
 * Pushgateway (bounded, never throws). Both read the run row's last version, as journaled.
 */
async function reportRunEnd(config: RunConfig, log: RunLog, messages: { warn(line: string): void }): Promise<void> {
  if (!log.lastRun) return;
  const end = runEnd(log.lastRun, log.signalledFor);
  annotateKill(end, process.env);
  if (config.pushgatewayUrl) await pushRunMetrics(config.pushgatewayUrl, end, messages.warn);
}

/**
 * PostgreSQL was too busy to take the run's last records before the wrapper's bound: they wait in
 * the journal, and a background `scidex-watchdog ship --wait` (or the one at work on the state
 * directory) brings them in, so that a burst of runs ending together still needs nobody to ship by
 * hand. Said as information, not a warning: nothing is lost and nobody has to act.
 */
function handOverRecords(config: RunConfig, recorder: Recorder, messages: Messages & { warn(line: string): void }): void {
  // Its last line written, the journal is finished: another shipper may have brought it in already.
  const shippedByAnother = () => existsSync(shippedMarkPath(recorder.journal.path));
  if (shippedByAnother()) return;
  const shipper = shipLeftovers(config.stateDir, config.database, config.journalRetentionMs, HANDOVER_WAIT_MS);
  const waiting = `PostgreSQL is busy: the run's last records wait in ${recorder.journal.path}`;
  if (shipper === 'held') messages.info(`${waiting} for the scidex-watchdog ship at work on ${config.stateDir}`);
  else if (shipper) messages.info(`${waiting}; a background scidex-watchdog ship (pid ${shipper.pid}) keeps trying for ${formatDuration(HANDOVER_WAIT_MS)}`);
  else if (!shippedByAnother()) recorder.warnRecordsWait();
}

/** An adopted process's argv (/proc/PID/cmdline), or its comm in brackets when that is empty (a kernel thread's, an exiting one's). */
function adoptedArgv(pid: number, comm: string): string[] {
  const argv = readCmdline(pid);
  return argv.length > 0 ? argv : [`[${comm}]`];
}

/** An adopted process's working directory, or '' when it cannot be read. */
function adoptedCwd(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return '';
  }
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}

/** Commands that start their work through a daemon of their own, by the basename of their program. */
const LAUNCHERS: Record<string, string> = {
  srun: "the step's processes are slurmstepd's children; run `srun scidex-run ...` instead",
  mpirun: 'its ranks on other nodes are started by their own daemons; run scidex-run inside each rank, or the whole job under one',
  mpiexec: 'its ranks on other nodes are started by their own daemons; run scidex-run inside each rank, or the whole job under one',
};

/**
 * Says once when the command is a launcher whose work is not in our tree (srun(1): the step runs
 * under slurmstepd; mpirun: ranks under their daemons): limits, memory and CPU would cover the
 * client alone, and a kill reach the work only through it, without a grace period of ours.
 */
function warnOfLaunchers(command: readonly string[], warn: (line: string) => void): void {
  const program = basename(command[0] ?? '');
  const why = LAUNCHERS[program];
  if (why) warn(`the command is ${program}: only its client process is in this run's tree, so the limits, memory and CPU cover that alone; ${why}`);
}

/**
 * Inside a Slurm job, the grace period capped below the cluster's KillWait (config/slurm.ts), said
 * once when it is cut; elsewhere, or when scontrol cannot tell, the config as asked.
 */
function withinSlurmKillWait(config: RunConfig, warn: (line: string) => void): RunConfig {
  if (slurmJob(process.env).slurm_job_id === null) return config;
  const killWaitMs = slurmKillWaitMs(() => execFileSync('scontrol', ['show', 'config'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }));
  const { graceMs, note } = graceUnderKillWait(config.graceMs, killWaitMs);
  if (note) warn(note);
  return { ...config, graceMs };
}
