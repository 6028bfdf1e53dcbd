/**
 * Durations as users write them: `90s`, `30m`, `1h30m`, `1.5h`, `250ms`, or a bare number of
 * seconds as timeout(1) takes it. Unit groups are parse-duration's to compute; this module reads
 * the number forms of timeout(1), rejects what it cannot read, and formats for messages.
 */
import parse from 'parse-duration';
import { UsageError } from './errors.js';

/** The longest delay Node's timers keep (2^31 - 1 ms, about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The longest duration taken, milliseconds (2^53 - 1, some 285,000 years): exact, and within PostgreSQL's bigint. */
export const MAX_DURATION_MS = Number.MAX_SAFE_INTEGER;

/*
 * The number syntax is strtod(3)'s, as timeout(1) reads its DURATION (coreutils' timeout.c parses
 * it with strtod, then takes at most one suffix letter s, m, h or d; tests/timeout/*.sh):
 *  - decimal: `10`, `1.5`, `.5`, `5.`, `1e3`, `2.34e+5`; the exponent letter in either case;
 *  - hexadecimal: `0x1`, `0x.8`, `0x1p-2` (binary exponent); hex digits include d, so `0x1d`
 *    is 29 seconds, as strtod reads it;
 *  - `inf` and `infinity` (any case): the longest duration;
 *  - an optional sign: `+` is ignored; `-` is refused, except on zero (`-0` is 0, as timeout(1)'s
 *    `0 <= s` check lets it through); `nan` is refused.
 * Unit letters are case-sensitive, as timeout(1)'s (`42D` is refused) and systemd's, where `M` is
 * a month and `m` a minute.
 */

/** A sign, optional, before any form: strtod takes one, no space after it. */
const SIGN = /^[+-]/;
/** A decimal number as strtod reads it: digits with an optional point (`.5`, `5.`), an optional exponent. */
const DECIMAL = String.raw`(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?`;
/** A bare number of seconds (timeout(1)'s DURATION without a suffix): `10`, `1.5`, `.5`, `5.`, `1e3`. */
const BARE_SECONDS = new RegExp(`^${DECIMAL}$`);
/** A hexadecimal number as strtod reads it: `0x1`, `0x.8`, `0x1p-2`; group 1 the digits, group 2 the binary exponent. */
const HEX_NUMBER = String.raw`0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP]([+-]?\d+))?`;
/** A hexadecimal number with one of timeout(1)'s suffix letters, or none (group 3): `0x1`, `0x1p0d`. */
const HEX = new RegExp(`^${HEX_NUMBER}([a-zA-Z]?)$`);
/** strtod's infinity (any case), with one of timeout(1)'s suffix letters or none (group 1): `inf`, `infinity`, `infs`. */
const INFINITY = /^inf(?:inity)?([a-z]?)$/i;
/** Seconds per suffix letter of timeout(1): none or s, m, h, d. */
const SUFFIX_SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 };
/**
 * One or more number-and-unit groups, `1h30m`, `1h 30m`, `.5s`, `2.34e+5d`. parse-duration alone
 * reads nearly anything (a date, `d30`, `1h-30m`) as some number of milliseconds, which for
 * `prune --older-than` would mean "delete everything": only this grammar reaches it.
 */
const GROUPS = new RegExp(
  `^(${DECIMAL}\\s*(ns|us|µs|ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?|w|wk|wks|weeks?|y|yr|yrs|years?)\\s*)+$`,
);
/** Each decimal number of a text, to tell a zero from an underflow: group 1 is the mantissa. */
const NUMBERS = /(\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/g;

/**
 * Whether `text` is a bare number of seconds, with no unit, in any form timeout(1) reads
 * (`30`, `.5`, `1e3`, `0x1e`, `inf`); for options that insist on a unit.
 */
export function isBareNumber(text: string): boolean {
  const body = text.trim().replace(SIGN, '');
  return BARE_SECONDS.test(body) || new RegExp(`^${HEX_NUMBER}$`).test(body) || /^inf(inity)?$/i.test(body);
}

/**
 * Parses a duration.
 *
 * A bare number is seconds and takes every form timeout(1) takes (strtod's syntax, see above).
 * Beyond that, one or more number-and-unit groups (`1h30m`); units: ns, us/µs, ms, s/sec, m/min,
 * h/hr, d/day, w/wk, y/yr (365.25 days), with plurals. Only zero disables: a positive duration
 * under a millisecond, or one too small for a double (`1e-400`, which is 0 to JavaScript), is 1 ms,
 * as timeout(1) rounds an underflow up to its smallest step (1 ns; coreutils'
 * tests/timeout/timeout-parameters.sh). A duration too long to represent (`1e600`, `inf`) is
 * MAX_DURATION_MS, as timeout(1) bounds its own to the time_t range
 * (tests/timeout/timeout-large-parameters.sh); it is still refused above `limits.maxMs`.
 * @param text what the user wrote
 * @param what the option's name, for the error message
 * @param limits maxMs: the largest value accepted, milliseconds (MAX_TIMER_MS for what feeds a
 *        timer); minMs: the smallest non-zero one, milliseconds
 * @returns milliseconds, an integer from 0 to MAX_DURATION_MS (0 means "disabled" where the option allows it)
 * @throws UsageError for text that is not a non-negative duration, or one outside the limits
 */
export function parseDurationMs(text: string, what: string, limits: { maxMs?: number; minMs?: number } = {}): number {
  const trimmed = text.trim();
  const negative = trimmed.startsWith('-');
  const body = trimmed.replace(SIGN, '');
  const read = readDuration(body);
  // A negative zero is zero (timeout(1) checks 0 <= s); any other negative, an underflow included
  // (`-1e-400`, which strtod nudges to the smallest negative number), is refused.
  if (read === undefined || Number.isNaN(read.ms) || (negative && read.positive)) {
    throw new UsageError(`invalid ${what} '${text}': expected a duration such as 90s, 30m, 1h30m or a number of seconds`);
  }
  // Only 0 disables: a positive duration under a millisecond, or one that underflowed to 0, is one
  // millisecond, never "no limit"; one too long to represent is the longest.
  const rounded = read.positive ? Math.min(MAX_DURATION_MS, Math.max(1, Math.round(read.ms))) : 0;
  if (limits.maxMs !== undefined && rounded > limits.maxMs) {
    throw new UsageError(`invalid ${what} '${text}': at most ${formatDuration(limits.maxMs)}`);
  }
  if (limits.minMs !== undefined && rounded > 0 && rounded < limits.minMs) {
    throw new UsageError(`invalid ${what} '${text}': at least ${formatDuration(limits.minMs)}`);
  }
  return rounded;
}

/**
 * Reads an unsigned duration in one of the forms above.
 * @returns ms: milliseconds as computed (0 on an underflow, Infinity on an overflow, >= 0);
 *          positive: whether the text names a duration above zero; undefined when it is none of the forms
 */
function readDuration(body: string): { ms: number; positive: boolean } | undefined {
  if (BARE_SECONDS.test(body)) return { ms: Number(body) * 1000, positive: hasNonZeroMantissa(body) };
  const hex = HEX.exec(body);
  if (hex && Object.hasOwn(SUFFIX_SECONDS, hex[3])) {
    const [, digits, exponent, suffix] = hex;
    return { ms: hexValue(digits, Number(exponent ?? 0)) * SUFFIX_SECONDS[suffix] * 1000, positive: /[1-9a-f]/i.test(digits) };
  }
  const infinity = INFINITY.exec(body);
  if (infinity && Object.hasOwn(SUFFIX_SECONDS, infinity[1])) return { ms: Number.POSITIVE_INFINITY, positive: true };
  if (GROUPS.test(body)) {
    // parse-duration reads `5.` as 5 and drops what follows (`5.m` would be 5 ms): the point goes.
    const ms = parse(body.replace(/(\d)\.(?!\d)/g, '$1'));
    return ms === null ? undefined : { ms, positive: hasNonZeroMantissa(body) };
  }
  return undefined;
}

/** Whether any decimal number in `text` has a digit other than 0 before its exponent. */
function hasNonZeroMantissa(text: string): boolean {
  return [...text.matchAll(NUMBERS)].some(([, mantissa]) => /[1-9]/.test(mantissa));
}

/**
 * The value of a hexadecimal mantissa (`1a.8`) times 2^exponent, as strtod computes it (C99
 * 7.20.1.3), to a double's precision: what lies beyond 13 significant hex digits (52 bits) is dropped.
 */
function hexValue(digits: string, exponent: number): number {
  const [whole, fraction = ''] = digits.split('.');
  const all = (whole + fraction).replace(/^0+/, '');
  if (all === '') return 0;
  const kept = all.slice(0, 13);
  // Each hex digit is 4 bits: the dropped digits scale up, the fraction's scale down.
  const scale = exponent + 4 * (all.length - kept.length) - 4 * fraction.length;
  return Number.parseInt(kept, 16) * 2 ** scale;
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
