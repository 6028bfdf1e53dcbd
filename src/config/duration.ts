/**
 * Durations as users write them: `90s`, `30m`, `1h30m`, `1.5h`, `250ms`, or a bare number of
 * seconds as timeout(1) takes it. Parsing is parse-duration's; this module adds the bare-number
 * rule, rejects what it cannot read, and formats for messages.
 */
import parse from 'parse-duration';
import { UsageError } from './errors.js';

/** The longest delay Node's timers keep (2^31 - 1 ms, about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The longest duration taken, milliseconds (2^53 - 1, some 285,000 years): exact, and within PostgreSQL's bigint. */
export const MAX_DURATION_MS = Number.MAX_SAFE_INTEGER;

/** A bare number of seconds, as timeout(1) reads it with strtod: `10`, `1.5`, `1e3`. */
const BARE_SECONDS = /^\d+(\.\d+)?(e[+-]?\d+)?$/i;
/**
 * One or more number-and-unit groups, `1h30m` or `1h 30m`. parse-duration alone reads nearly
 * anything (a date, `d30`, `1h-30m`) as some number of milliseconds, which for `prune
 * --older-than` would mean "delete everything": only this grammar reaches it.
 */
const GROUPS = /^(\d+(\.\d+)?\s*(ns|us|µs|ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|wk|wks|weeks?|y|yr|yrs|years?)\s*)+$/i;

/**
 * Parses a duration.
 * @param text what the user wrote
 * @param what the option's name, for the error message
 * @param limits maxMs: the largest value accepted (MAX_TIMER_MS for what feeds a timer); minMs: the
 *        smallest non-zero one
 * @returns milliseconds, >= 0 (0 means "disabled" where the option allows it)
 * @throws UsageError for text that is not a non-negative duration, or one outside the limits
 */
export function parseDurationMs(text: string, what: string, limits: { maxMs?: number; minMs?: number } = {}): number {
  const trimmed = text.trim();
  const ms = BARE_SECONDS.test(trimmed) ? Number(trimmed) * 1000 : GROUPS.test(trimmed) ? parse(trimmed) : undefined;
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) {
    throw new UsageError(`invalid ${what} '${text}': expected a duration such as 90s, 30m, 1h30m or a number of seconds`);
  }
  // Only 0 disables: a positive duration under a millisecond is one millisecond, never "no limit".
  const rounded = ms > 0 ? Math.max(1, Math.round(ms)) : 0;
  if (rounded > MAX_DURATION_MS) throw new UsageError(`invalid ${what} '${text}': at most ${formatDuration(MAX_DURATION_MS)}`);
  if (limits.maxMs !== undefined && rounded > limits.maxMs) {
    throw new UsageError(`invalid ${what} '${text}': at most ${formatDuration(limits.maxMs)}`);
  }
  if (limits.minMs !== undefined && rounded > 0 && rounded < limits.minMs) {
    throw new UsageError(`invalid ${what} '${text}': at least ${formatDuration(limits.minMs)}`);
  }
  return rounded;
}

/** Formats milliseconds for a human: `850ms`, `12.3s`, `30m0s`, `1h30m0s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const totalSeconds = Math.floor(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  return hours > 0 ? `${hours}h${minutes}m${seconds}s` : `${minutes}m${seconds}s`;
}
