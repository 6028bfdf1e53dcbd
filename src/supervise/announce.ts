/**
 * Saying why a run is being stopped: one event with its full context in the records, and one line
 * for the user with the limit, the tree's memory, the elapsed time and what comes next; and the
 * line that ends a run.
 */
import { formatDuration } from '../config/duration.js';
import type { RunConfig } from '../config/run-config.js';
import { formatSize } from '../config/size.js';
import type { TreeSnapshot } from '../track/tracker.js';
import { graceOf, type StopReason } from './exit-status.js';
import type { RunLog } from '../record/run-log.js';
import type { RunRecord } from '../record/types.js';
import { cancelDetail, describeHostPressure, describeRequester } from '../record/cancel-request.js';
import { largestMembers } from './tree-memory.js';

/** What an announcement needs from the supervisor. */
export interface AnnounceContext {
  config: RunConfig;
  log: RunLog;
  messages: { info(line: string): void };
  /** The tree PSS last read, bytes, or null when it never was. */
  lastPssBytes: number | null;
}

/** Records and prints the stop of a run; `tree` is the scan made at the decision. */
export function announceStop(reason: StopReason, tree: TreeSnapshot | undefined, context: AnnounceContext): void {
  const { config, log, messages } = context;
  const rss = tree?.rssBytes ?? 0;
  const processes = `${tree?.alive.length ?? 0} processes`;
  const escalation = `SIGKILL after ${formatDuration(graceOf(reason, config.graceMs))}`;
  const elapsed = formatDuration(log.elapsedMs());
  switch (reason.kind) {
    case 'cancelled':
      log.event('cancel_requested', { reason: 'cancelled', signal: reason.signal, rss_bytes: rss, detail: cancelDetail(reason.request) }, true);
      messages.info(`cancelled by ${reason.signal}${describeRequester(reason.request)}: forwarding it to ${processes}, ${escalation}`);
      return;
    case 'slurm_time_limit':
      log.event('limit_exceeded', { reason: 'slurm_time_limit', signal: reason.signal, rss_bytes: rss, detail: { slurm_job_id: reason.jobId } }, true);
      messages.info(`Slurm's time limit: job ${reason.jobId} is out of time (${reason.signal} from Slurm); forwarding it to ${processes}, ${escalation}`);
      return;
    case 'timeout':
      log.event(
        'limit_exceeded',
        { reason: 'timeout', rss_bytes: rss, pss_bytes: context.lastPssBytes, detail: { timeout_ms: config.timeoutMs } },
        true,
      );
      messages.info(
        `timeout: the run exceeded its ${formatDuration(config.timeoutMs)} limit; sending ${config.killSignal.name} to ${processes} (tree RSS ${formatSize(rss)}, elapsed ${elapsed}), ${escalation}`,
      );
      return;
    case 'host_pressure': {
      const { pressure, request } = reason;
      log.event(
        'limit_exceeded',
        {
          reason: 'host_pressure',
          rss_bytes: rss,
          pss_bytes: pressure.run_pss_bytes,
          detail: { ...pressure, grace_ms: graceOf(reason, config.graceMs), requested_by: request.requested_by, per_process: largestMembers(tree) },
        },
        true,
      );
      messages.info(
        `host memory pressure: ${describeHostPressure(pressure)}; the host's scidex-watchdog stops this run, the largest on the host (tree PSS ${formatSize(pressure.run_pss_bytes)}); ` +
          `sending ${config.killSignal.name} to ${processes} (elapsed ${elapsed}), ${escalation}`,
      );
      return;
    }
    case 'kernel_oom':
      announceKernelOom(reason, tree, context);
      return;
    case 'memory':
      log.event(
        'limit_exceeded',
        {
          reason: 'memory',
          rss_bytes: reason.rssBytes,
          pss_bytes: reason.pssBytes,
          detail: { memory_limit_bytes: config.memoryLimitBytes, per_process: largestMembers(tree) },
        },
        true,
      );
      messages.info(
        `memory: tree PSS ${formatSize(reason.pssBytes)} exceeds the ${formatSize(config.memoryLimitBytes)} limit (RSS ${formatSize(reason.rssBytes)}); sending ${config.killSignal.name} to ${processes} (elapsed ${elapsed}), ${escalation}`,
      );
  }
}

/**
 * The kernel's OOM killer struck inside the run: one kernel_oom_kill event (the victim when known,
 * the counters, the backstop and the limit) and one line saying what comes next: by default the
 * termination sequence of what is left of `tree`, else `next`.
 */
export function announceKernelOom(
  reason: Extract<StopReason, { kind: 'kernel_oom' }>,
  tree: TreeSnapshot | undefined,
  context: AnnounceContext,
  next?: string,
): void {
  const { config, log, messages } = context;
  const { counts } = reason;
  log.event(
    'kernel_oom_kill',
    {
      reason: 'kernel_oom',
      pid: reason.victimPid,
      rss_bytes: tree?.rssBytes ?? 0,
      detail: {
        hierarchy: counts.hierarchy,
        cgroup: counts.cgroup,
        oom_kill: counts.oomKill,
        oom_group_kill: counts.oomGroupKill,
        failcnt: counts.failcnt,
        max_usage_bytes: counts.maxUsageBytes,
        memory_backstop_bytes: reason.backstopBytes,
        memory_limit_bytes: config.memoryLimitBytes,
      },
    },
    true,
  );
  const killed = counts.oomKill === null ? 'killed' : `killed ${counts.oomKill} process${counts.oomKill === 1 ? '' : 'es'}`;
  const victim = reason.victimPid === null ? '' : ` (the command, pid ${reason.victimPid})`;
  const where =
    reason.backstopBytes === null
      ? `in the run's memory cgroup (cgroup ${counts.hierarchy}; no backstop of ours: a limit above the run)`
      : `at the run's ${formatSize(reason.backstopBytes)} backstop (cgroup ${counts.hierarchy}) above the ${formatSize(config.memoryLimitBytes)} limit`;
  const left = tree?.alive.length ?? 0;
  const then = next ?? (left === 0 ? 'nothing of the tree is left' : `sending ${config.killSignal.name} to ${left} processes, SIGKILL after ${formatDuration(config.graceMs)}`);
  messages.info(`memory: the kernel's OOM killer ${killed}${victim} ${where} (elapsed ${formatDuration(log.elapsedMs())}); ${then}`);
}

/** The one line that ends a run: its status, exit status, duration and the tree's figures. */
export function runEndLine(run: RunRecord, elapsedMs: number): string {
  const pss = run.peak_pss_bytes === null ? '' : ` (PSS ${formatSize(run.peak_pss_bytes)})`;
  const peak = run.peak_rss_bytes > 0 ? formatSize(run.peak_rss_bytes) : 'not measured (no scan saw the tree alive)';
  return (
    `run ${run.id} ${run.status}: exit status ${run.exit_status} after ${formatDuration(elapsedMs)}; ` +
    `peak tree RSS ${peak}${pss}, ${run.peak_process_count} process${run.peak_process_count === 1 ? '' : 'es'} at once, ` +
    `${run.process_count} in all, CPU ${run.cpu_seconds.toFixed(1)}s`
  );
}
