/**
 * Signals sent to the wrapper, tini-style: every one of these is forwarded to the whole run, so
 * `kill -USR1 <wrapper>` works as if the analysis had been started directly. SIGINT, SIGTERM and
 * SIGHUP also cancel the run: they become the first signal of the termination sequence.
 */

export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
export const CANCELLING_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGINT', 'SIGTERM', 'SIGHUP']);

/**
 * Installs `handler` for every forwarded signal, replacing Node's default of dying on them, for the
 * rest of the process's life: a signal while the last records are shipped must not kill us either.
 */
export function onWrapperSignals(handler: (signal: NodeJS.Signals) => void): void {
  for (const signal of FORWARDED_SIGNALS) process.on(signal, handler);
}
