/**
 * Logging for failures that repeat (a sweep every few seconds, a listener reconnecting every 1 to
 * 30 s while PostgreSQL is down): a new text at once, the same text again at most once a minute.
 */

/** How often a failure that persists is logged again, milliseconds. */
export const REPEAT_FAILURE_MS = 60_000;

/** A limited logger; `clear()` forgets the last line, so the same failure after a recovery is logged again. */
export interface RepeatLimited {
  (line: string, nowMs?: number): void;
  clear(): void;
}

/** Wraps `log` with the repeat rule above. */
export function repeatLimited(log: (line: string) => void): RepeatLimited {
  let last: { line: string; atMs: number } | undefined;
  const limited = (line: string, nowMs = Date.now()): void => {
    if (last && last.line === line && nowMs - last.atMs < REPEAT_FAILURE_MS) return;
    last = { line, atMs: nowMs };
    log(line);
  };
  return Object.assign(limited, { clear: () => (last = undefined) });
}
