/**
 * Waiting on what a test asserts instead of sleeping a fixed time: the one wait helper of the tests.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** What is awaited, for the error; a function is called at the time-out, to tell what was seen by then (a log, the last answer). */
export type WaitedFor = string | (() => string);

/** A probe: something other than undefined or false once the wait is over. It may be async; what it throws ends the wait. */
export type Probe<T> = () => T | undefined | Promise<T | undefined>;

/** How `until` waits. */
export interface UntilOptions {
  /** Milliseconds between two probes (default 25): longer for a probe that costs, such as a scan of /proc, a query, an HTTP request. */
  every?: number;
  /**
   * 'return': the time-out resolves to undefined instead of throwing, for a bounded wait after which
   * the caller goes on either way (a cleanup that then deals with what is left), or one that must
   * clean up before it fails. Default 'throw'.
   */
  onTimeout?: 'throw' | 'return';
}

/**
 * Polls `probe` until it gives something other than undefined or false, and returns that.
 * The default bound is the house hang bound (60 s): most waits cover a process start, a CLI run or
 * a database round trip, which a host loaded by the suite itself can starve for many seconds.
 * @param what named in the error
 * @throws Error `timed out waiting for <what>` after `timeoutMs` (unless `onTimeout: 'return'`)
 */
export function until<T>(what: WaitedFor, probe: Probe<T>, timeoutMs: number, options: UntilOptions & { onTimeout: 'return' }): Promise<T | undefined>;
export function until<T>(what: WaitedFor, probe: Probe<T>, timeoutMs?: number, options?: UntilOptions): Promise<T>;
export async function until<T>(what: WaitedFor, probe: Probe<T>, timeoutMs = 60_000, options: UntilOptions = {}): Promise<T | undefined> {
  const { every = 25, onTimeout = 'throw' } = options;
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) {
      if (onTimeout === 'return') return undefined;
      throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    }
    await sleep(every);
  }
}
