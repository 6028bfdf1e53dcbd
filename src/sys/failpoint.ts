/**
 * Failpoints: named points where a process of ours stops itself (SIGSTOP), so that a test can force
 * an interleaving instead of hoping to hit it: it waits until the process is stopped there (state
 * `T` in /proc/PID/stat), acts, and resumes it with SIGCONT. A point is armed by naming it in
 * `SCIDEX_FAILPOINTS` (comma-separated); unset, each point costs one lookup of a set built once.
 * It gives no power over anyone else: only whoever sets a process's environment arms it.
 *
 * The points:
 *   - `journal-created`: scidex-run, after creating the run's journal, before writing its marker;
 *   - `ship-written`: a `scidex-watchdog ship` sweep, after writing a journal's lines to PostgreSQL,
 *     before deciding whether to mark it shipped;
 *   - `reap-rows-read`: the reaper's pass over PostgreSQL, after reading the running rows of its
 *     host, before taking any of them;
 *   - `settle-listed`: scidex-run with the cgroup backend, in the settle window after the leader's
 *     exit, after reading cgroup.procs, before reading the listed processes' stat;
 *   - `pressure-request-taken`: scidex-run, after taking the daemon's host-pressure request, before
 *     acting on it: a wrapper that never acts, which the daemon must then end itself;
 *   - `stop-journaled`: scidex-run (or an adopting supervisor), after journaling why the run stops
 *     (limit_exceeded, cancel_requested), before the first signal: a wrapper that dies there.
 */
export const FAILPOINTS_VARIABLE = 'SCIDEX_FAILPOINTS';

/** The names a failpoint may have. */
export type FailpointName = 'journal-created' | 'ship-written' | 'reap-rows-read' | 'settle-listed' | 'pressure-request-taken' | 'stop-journaled';

const armed = new Set((process.env[FAILPOINTS_VARIABLE] ?? '').split(',').filter((name) => name !== ''));

/**
 * Stops this process (SIGSTOP to itself) the first time it passes `name` when `name` is armed;
 * returns once it is continued. Later passes go on: a loop that comes back to the point (a shipper
 * draining again) is not stopped twice.
 */
export function failpoint(name: FailpointName): void {
  if (!armed.delete(name)) return;
  process.kill(process.pid, 'SIGSTOP');
}
