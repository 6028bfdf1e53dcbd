/**
 * Retry delays with exponential backoff and jitter: many wrappers that failed together (a database
 * restart, a server out of connection slots) must not retry together. "Equal jitter" (half the
 * delay fixed, half random), after the AWS Architecture Blog's "Exponential Backoff And Jitter".
 */

/** The delay before the retry that follows `failures` failures in a row, milliseconds. */
export function backoffMs(failures: number, bounds: { baseMs: number; capMs: number }, random: () => number = Math.random): number {
  const ceiling = Math.min(bounds.capMs, bounds.baseMs * 2 ** Math.max(0, failures - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * Whether a database error says "busy, try again soon" rather than "down": SQLSTATE 53300
 * too_many_connections, 57P03 cannot_connect_now (starting up or shutting down), or no answer in
 * time (pg's `timeout expired` on connect, `Query read timeout` on a query: a server, or a host,
 * too loaded to answer). These are retried without a warning, up to close()'s deadline: many runs
 * at once against a small max_connections, or on a saturated host, is load, not an outage.
 * A refused or reset connection is "down": one attempt at the end, so that an outage does not
 * slow every run's exit.
 */
export function isBusy(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === '53300' || code === '57P03' || message === 'timeout expired' || message === 'Query read timeout';
}
