/**
 * Which event kinds are kills: the events of stopping something. /status shows them among its
 * recent events (NOTABLE_KINDS, read by watchdog/journal-cache.ts and query/daemons.ts) and the live page marks them in the
 * colour of a kill (watchdog/http/page/). Both read this one list, so they cannot drift apart; the
 * browser bundles it, which is why this module imports nothing but types.
 */
import type { EventKind } from './types.js';

/**
 * Per kind, whether it is a kill. A limit or cancel decides a termination, signal_sent and
 * process_killed carry it out, orphan_found and run_lost are leftovers being killed,
 * kill_refused is a kill the reaper would not make, kill_failed a cgroup write the kernel refused,
 * and kernel_oom_kill the kernel's OOM killer acting inside the run. Exhaustive over EventKind, so a new kind does
 * not compile until it is placed here.
 */
const IS_KILL: Record<EventKind, boolean> = {
  run_started: false,
  failed_to_start: false,
  limit_exceeded: true,
  cancel_requested: true,
  signal_forwarded: false,
  signal_sent: true,
  process_killed: true,
  orphan_found: true,
  run_finished: false,
  run_lost: true,
  kill_refused: true,
  kill_failed: true,
  kernel_oom_kill: true,
  released: false,
};

/** The event kinds that are kills. */
export const KILL_KINDS: readonly EventKind[] = (Object.keys(IS_KILL) as EventKind[]).filter((kind) => IS_KILL[kind]);

/**
 * The event kinds that make a run a killed run: its tree got a signal of ours (a termination
 * sequence, its signal_sent events) or the kernel's OOM kill inside its memory cgroup
 * (kernel_oom_kill). /status and the fleet view count killed runs by them (query/daemons.ts, query/fleet.ts).
 */
export const KILLED_RUN_KINDS: readonly EventKind[] = ['signal_sent', 'kernel_oom_kill'];

/** Event kinds /status shows in recent_events: the kills, and run_finished (only with a status other than completed). */
export const NOTABLE_KINDS: ReadonlySet<EventKind> = new Set([...KILL_KINDS, 'run_finished']);
