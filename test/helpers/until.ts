/**
 * Waiting on what a test asserts instead of sleeping a fixed time.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `probe` (every 25 ms) until it gives something other than undefined or false, and returns that.
 * @param what named in the error
 * @throws Error `timed out waiting for <what>` after `timeoutMs`
 */
export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
