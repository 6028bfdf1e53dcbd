import { describe, expect, it } from 'vitest';
import { redactUrl, resolveDatabase } from '../../src/config/database.js';
import { MAX_TIMER_MS, parseDurationMs } from '../../src/config/duration.js';
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
  it.each(['5 parsecs', '', '-1', '-1s', 'soon', '2026-11-21', 'd30', '1h-30m', '3 0d', '1.5.5d', '2026-11-21garbage', '1mo', 'Infinity', '1e17', '100000000000y'])(
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
