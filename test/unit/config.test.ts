import { describe, expect, it } from 'vitest';
import { redactUrl, resolveDatabase } from '../../src/config/database.js';
import { isBareNumber, MAX_DURATION_MS, MAX_TIMER_MS, parseDurationMs } from '../../src/config/duration.js';
import { UsageError } from '../../src/config/errors.js';
import { parseSignal } from '../../src/config/signal.js';
import { parseSizeBytes } from '../../src/config/size.js';

describe('durations', () => {
  it.each([
    ['90s', 90_000], ['30m', 1_800_000], ['1h30m', 5_400_000], ['250ms', 250], ['10', 10_000], ['0', 0], ['1.5h', 5_400_000],
    ['1h 30m', 5_400_000], ['2 days', 172_800_000], ['1e3', 1_000_000], ['30d', 2_592_000_000], ['1y', 31_557_600_000],
    // Only 0 disables: under a millisecond is one millisecond.
    ['1ns', 1], ['0.4ms', 1], ['0.0004', 1],
  ])('%s is %i ms', (text, ms) => expect(parseDurationMs(text, '--timeout')).toBe(ms));
  // parse-duration alone reads each of these as some milliseconds: a date as 2026.011 ms.
  it.each(['5 parsecs', '', '-1', '-1s', 'soon', '2026-11-21', 'd30', '1h-30m', '3 0d', '1.5.5d', '2026-11-21garbage', '1mo'])(
    '%j is refused',
    (text) => {
      expect(() => parseDurationMs(text, '--timeout')).toThrow(UsageError);
    },
  );
  it('keeps to the limits it is given: a timer longer than Node keeps, an interval too short', () => {
    expect(parseDurationMs('24d', '--grace', { maxMs: MAX_TIMER_MS })).toBe(24 * 86_400_000);
    expect(() => parseDurationMs('25d', '--grace', { maxMs: MAX_TIMER_MS })).toThrow(/invalid --grace '25d': at most/);
    expect(() => parseDurationMs('1ms', '--interval', { minMs: 100 })).toThrow(/at least 100ms/);
    expect(parseDurationMs('0', '--interval', { minMs: 100 })).toBe(0);
  });
});

/**
 * What coreutils' own tests of timeout(1) ask of a DURATION (tests/timeout/timeout.sh,
 * timeout-parameters.sh, timeout-large-parameters.sh), and the rest of strtod's number syntax,
 * which is how timeout(1) reads one.
 */
describe('durations as timeout(1) reads them', () => {
  it.each([
    // A point on either side alone (timeout .1, as timeout.sh uses it), with or without a unit.
    ['.5', 500], ['5.', 5000], ['.1', 100], ['.5s', 500], ['5.m', 300_000], ['.5h', 1_800_000], ['5.d', 432_000_000], ['5.e3', 5_000_000],
    ['.5e1m', 300_000], ['5.e3s', 5_000_000], ['1.5ms', 2],
    // Floating point notation, down to nanoseconds (rounded to our millisecond), and with an exponent and a unit.
    ['10.34', 10_340], ['9.999999999', 10_000], ['2.34e+5d', 234_000 * 86_400_000], ['1E3', 1_000_000], ['1e+3s', 1_000_000],
    // The suffixes of timeout.sh: 1d, 0; a sign is strtod's: + ignored.
    ['1d', 86_400_000], ['1h', 3_600_000], ['1m', 60_000], ['1s', 1000], ['+5', 5000], ['+5m', 300_000], [' 7 ', 7000],
    // Hexadecimal, as strtod reads it: 0x1 is 1 s; d is a hex digit, so 0x1d is 29 s; p is a binary exponent.
    ['0x1', 1000], ['0X10', 16_000], ['0x1d', 29_000], ['0x.8', 500], ['0x1p-2', 250], ['0x1P3', 8000], ['0x1.8p1', 3000],
    ['0x1m', 60_000], ['0x1h', 3_600_000], ['0x1p0d', 86_400_000],
  ])('%j is %i ms', (text, ms) => expect(parseDurationMs(text, '--timeout')).toBe(ms));

  it.each(['0', '0.0', '0e5', '0.', '.0', '00', '0e-400', '0s', '0.0m', '0h0m', '0x0', '0x0p99', '0x.0', '-0', '-0.0', '+0', '-0s'])(
    '%j is zero: no limit',
    (text) => expect(parseDurationMs(text, '--timeout')).toBe(0),
  );

  it.each(['1e-400', '1e-10000', '1E-324', '0.1e-330', '1e-400s', '1e-400d', '0x1p-2000', '0x.0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001'])(
    '%j underflows to 0 as a double, yet is positive: the smallest step, 1 ms, never "no limit"',
    (text) => {
      // JavaScript reads the decimal ones as 0 (Number has no hexadecimal fractions or exponents).
      if (!text.startsWith('0x')) expect(Number(text.replace(/[smhd]$/, ''))).toBe(0);
      expect(parseDurationMs(text, '--timeout')).toBe(1);
      // Also where an interval must be positive: the smallest step, and then the option's own minimum applies.
      expect(() => parseDurationMs(text, '--interval', { minMs: 100 })).toThrow(/at least 100ms/);
    },
  );

  it('takes what overflows an unsigned int or a time_t in timeout(1) (timeout-large-parameters.sh) as far as 2^53-1 ms', () => {
    expect(parseDurationMs('4294967296', '--timeout')).toBe(4_294_967_296_000);
    expect(parseDurationMs('9223372036854775808d', '--timeout')).toBe(MAX_DURATION_MS);
    expect(() => parseDurationMs('4294967296', '--grace', { maxMs: MAX_TIMER_MS })).toThrow(/at most/);
  });

  it.each(['1e600', '1e400s', '1.7976931348623157e308', '9223372036854775808d', '2.34e+500d', 'inf', 'INF', 'infinity', 'Infinity', 'infs', 'infh', '1e17', '100000000000y', '0x1p1100'])(
    '%j is too long to represent, or past 2^53-1 ms: --timeout takes it as the longest, a timer option refuses it',
    (text) => {
      expect(parseDurationMs(text, '--timeout')).toBe(MAX_DURATION_MS);
      expect(() => parseDurationMs(text, '--grace', { maxMs: MAX_TIMER_MS })).toThrow(/invalid --grace '.*': at most 596h31m23s/);
    },
  );

  it.each([
    // timeout-parameters.sh: invalid, ' -0.1', ' -1e-10000' (an underflow keeps its sign), 42D (the unit is case-sensitive).
    'invalid', ' -0.1', ' -1e-10000', '-1e-400', '42D', '-1', '-1s', '-.5', '-0x1', '-inf', '-1e600',
    // strtod reads no number, or leaves more than one suffix letter.
    '.', 'e5', '1e', '1e+', '1e3e3', '0x', '0xg', '0x1p', '0x1ps', '0x1p0D', '0x1ms', 'nan', 'NaN', 'inf s', 'infinit', 'infD', 'infd s',
    '+ 5', '- 5', '--5', '+-5', '5 .', '. 5', '5..', '..5', '1H', '5M', '30S', '1Day', '2 Days',
  ])('%j is refused, as timeout(1) refuses it', (text) => {
    expect(() => parseDurationMs(text, '--timeout')).toThrow(UsageError);
    expect(() => parseDurationMs(text, '--timeout')).toThrow(/^invalid --timeout '.*': expected a duration such as 90s, 30m, 1h30m or a number of seconds$/);
  });

  it('tells a bare number of seconds, in any of its forms, from a duration with a unit', () => {
    for (const text of ['30', '.5', '5.', '1e3', '0x1e', '0x1d', 'inf', ' 30 ', '+30', '-0']) expect(isBareNumber(text)).toBe(true);
    for (const text of ['30d', '.5s', '0x1m', 'infs', '1h30m', 'soon', '']) expect(isBareNumber(text)).toBe(false);
  });
});

describe('sizes', () => {
  it.each([
    ['512MiB', 512 * 1024 ** 2], ['2GiB', 2 * 1024 ** 3], ['2G', 2 * 1024 ** 3], ['2GB', 2e9], ['4096', 4096], ['0', 0],
    // A lower-case b is bytes, never bits; under a byte is one byte.
    ['2gb', 2e9], ['512mib', 512 * 1024 ** 2], ['1b', 1], ['0.1B', 1],
  ])('%s is %i bytes', (text, bytes) => expect(parseSizeBytes(text, '--memory-limit')).toBe(bytes));
  it.each(['', '-1GiB', 'lots', '2 parsecs', '9EiB', '99999999999999999999999999G'])('%j is refused', (text) => {
    expect(() => parseSizeBytes(text, '--memory-limit')).toThrow(UsageError);
  });
});

describe('signals', () => {
  it('reads names and numbers', () => {
    expect(parseSignal('SIGTERM', 'x')).toEqual({ name: 'SIGTERM', number: 15 });
    expect(parseSignal('int', 'x')).toEqual({ name: 'SIGINT', number: 2 });
    expect(parseSignal('9', 'x')).toEqual({ name: 'SIGKILL', number: 9 });
    expect(() => parseSignal('SIGFOO', 'x')).toThrow(UsageError);
    expect(() => parseSignal('0', 'x')).toThrow(UsageError);
  });
});

describe('database configuration', () => {
  it('prefers the flag, then DATABASE_URL, then libpq variables', () => {
    expect(resolveDatabase('postgresql://a@h/d', { DATABASE_URL: 'postgresql://b@h/d' })?.url).toBe('postgresql://a@h/d');
    expect(resolveDatabase(undefined, { DATABASE_URL: 'postgresql://b@h/d' })?.url).toBe('postgresql://b@h/d');
    expect(resolveDatabase(undefined, { PGHOST: 'db' })).toEqual({ display: 'PGHOST=db' });
    expect(resolveDatabase(undefined, {})).toBeUndefined();
  });
  it('takes an empty variable (a CI secret that is not set) for unset, but not an empty flag', () => {
    expect(resolveDatabase(undefined, { DATABASE_URL: '' })).toBeUndefined();
    expect(resolveDatabase(undefined, { SCIDEX_RUN_DATABASE_URL: '', DATABASE_URL: 'postgresql://b@h/d' })?.url).toBe('postgresql://b@h/d');
    expect(() => resolveDatabase('', {})).toThrow(/invalid database URL/);
  });
  it('never shows a password', () => {
    expect(redactUrl('postgresql://user:s3cret@host/db')).toBe('postgresql://user:***@host/db');
  });
});
