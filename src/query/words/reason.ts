/**
 * Why a run ended, in words: "killed: tree memory (PSS 2.1 GiB) exceeded its 2 GiB limit", "killed:
 * ran past its 30 min timeout". The run page's header (#reason) and `scidex-watchdog show` (its
 * `why` line) say the same. Pure (text only, no DOM, no Node), so test/unit/run-reason.test.ts
 * checks it for every status and every reason a RunRecord can hold (src/record/types.ts
 * RunRecord.reason; docs/design.md §2).
 */
import type { EventRecord, RunRecord, RunStatus } from '../../record/types.js';
import { bytes, limitBytes, limitDuration } from './format.js';

/** The tree memory at the memory kill: the limit_exceeded event's PSS (the limit applies to PSS), else its RSS, else the run's peaks. */
function memoryAtKill(run: RunRecord, events: readonly EventRecord[], reason: string): string {
  const event = events.find((e) => e.kind === 'limit_exceeded' && e.reason === reason);
  const pss = event?.pss_bytes ?? (event ? null : run.peak_pss_bytes);
  if (pss !== null && pss !== undefined) return `PSS ${bytes(pss)}`;
  return `RSS ${bytes(event?.rss_bytes ?? run.peak_rss_bytes)}`;
}

/** The signal that cancelled the run: the cancel request's, else the first one of ours sent to the tree. */
function cancelSignal(run: RunRecord, events: readonly EventRecord[]): string | null {
  return events.find((e) => e.kind === 'cancel_requested' && e.signal)?.signal ?? events.find((e) => e.kind === 'signal_sent')?.signal ?? run.signal;
}

/** How the command itself ended: `exited with code 3`, `died of SIGSEGV`, or null when unknown. */
function ownEnd(run: RunRecord): string | null {
  if (run.exit_code !== null) return `exited with code ${run.exit_code}`;
  if (run.signal !== null) return `died of ${run.signal}`;
  return null;
}

/** The words of a reason that is one of ours (a stop), or undefined for any other text. */
function stopWords(run: RunRecord, events: readonly EventRecord[], reason: string): string | undefined {
  switch (reason) {
    case 'timeout':
      return `killed: ran past its ${limitDuration(run.timeout_ms)} timeout`;
    case 'slurm_time_limit':
      return `killed: reached the time limit of its Slurm job${run.slurm_job_id ? ` ${run.slurm_job_id}` : ''}`;
    case 'memory':
      return `killed: tree memory (${memoryAtKill(run, events, 'memory')}) exceeded its ${limitBytes(run.memory_limit_bytes)} limit`;
    case 'kernel_oom':
      return `killed by the kernel's OOM killer in the run's memory cgroup (the backstop above its ${limitBytes(run.memory_limit_bytes)} limit)`;
    case 'host_pressure':
      return `stopped by the memory-pressure guard: the largest run (${memoryAtKill(run, events, 'host_pressure')}) of a host short of memory`;
    case 'cancelled': {
      const signal = cancelSignal(run, events);
      return `cancelled${signal ? ` by ${signal}` : ''}`;
    }
    case 'wrapper_gone':
      return 'lost: its wrapper died; the daemon ended what was left of its tree';
    case 'host_rebooted':
      return 'lost: the host rebooted while it ran';
    case 'released':
      return 'released: scidex-watchdog release ended the supervision; the process runs on';
  }
  if (reason.startsWith('cancelled: ')) return `cancelled: ${reason.slice('cancelled: '.length)}`;
  if (reason.startsWith('released; ')) return `released: ${reason.slice('released; '.length)}`;
  return undefined;
}

/** The words of each status when no reason of ours says more. */
const STATUS_WORDS: Record<RunStatus, (run: RunRecord) => string> = {
  running: () => 'running',
  completed: () => 'completed',
  failed: (run) => `failed${ownEnd(run) ? `: ${ownEnd(run)}` : ''}`,
  timeout: (run) => `killed: ran past its ${limitDuration(run.timeout_ms)} timeout`,
  out_of_memory: (run) => `killed: out of memory (limit ${limitBytes(run.memory_limit_bytes)})`,
  cancelled: (run) => `cancelled${run.signal ? ` by ${run.signal}` : ''}`,
  failed_to_start: () => 'failed to start',
  lost: () => 'lost: its wrapper is gone',
  exited: () => 'exited by itself (adopted: its exit status is unknown to us)',
  released: () => 'released: the supervision ended; the process runs on',
};

/**
 * The reason the run ended (or that it runs), in words.
 * @param run the run's latest version
 * @param events its events, oldest first (the limit_exceeded event gives the memory at a memory kill)
 */
export function reasonWords(run: RunRecord, events: readonly EventRecord[]): string {
  const reason = run.reason;
  if (reason === null || reason === '') return STATUS_WORDS[run.status](run);
  if (reason === 'orphans') {
    // The command ended by itself; its leftovers were then killed (--orphans kill).
    return `${STATUS_WORDS[run.status](run)}; its leftover processes were killed`;
  }
  const words = stopWords(run, events, reason);
  if (words !== undefined) return words;
  // Free text: an internal error, a spawn error, a reaper's refusal, a host-pressure request's description.
  if (run.status === 'failed_to_start') return `failed to start: ${reason}`;
  if (reason.startsWith('host_pressure: ')) return `stopped by the memory-pressure guard: ${reason.slice('host_pressure: '.length)}`;
  return `${STATUS_WORDS[run.status](run)}: ${reason}`;
}
