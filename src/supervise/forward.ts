/**
 * Signals sent to the wrapper, tini-style: every one of these is forwarded to the whole run, so
 * `kill -USR1 <wrapper>` works as if the analysis had been started directly. SIGINT, SIGTERM and
 * SIGHUP also cancel the run: they become the first signal of the termination sequence.
 */

export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
export const CANCELLING_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGINT', 'SIGTERM', 'SIGHUP']);

/**
 * Installs `handler` for every forwarded signal (replacing Node's default of dying on them).
 * @returns a function that removes the handlers
 */
export function onWrapperSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  for (const signal of FORWARDED_SIGNALS) process.on(signal, handler);
  return () => {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, handler);
  };
}
