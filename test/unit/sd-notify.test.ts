import { afterEach, describe, expect, it, vi } from 'vitest';
import { heartbeat, notifier, notifySocketAddress, startWatchdogPings, watchdogUsecFromEnv, type Notifier } from '../../src/sys/sd-notify.js';

describe('watchdogUsecFromEnv (sd_watchdog_enabled(3) semantics)', () => {
  it('takes a positive WATCHDOG_USEC for us, or for anyone when WATCHDOG_PID is unset', () => {
    expect(watchdogUsecFromEnv({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(30_000_000);
    expect(watchdogUsecFromEnv({ WATCHDOG_USEC: '30000000' }, 42)).toBe(30_000_000);
  });
  it('refuses another pid, a missing, zero or malformed value', () => {
    expect(watchdogUsecFromEnv({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43' }, 42)).toBeUndefined();
    expect(watchdogUsecFromEnv({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42x' }, 42)).toBeUndefined();
    expect(watchdogUsecFromEnv({}, 42)).toBeUndefined();
    expect(watchdogUsecFromEnv({ WATCHDOG_USEC: '0' }, 42)).toBeUndefined();
    expect(watchdogUsecFromEnv({ WATCHDOG_USEC: '-5' }, 42)).toBeUndefined();
    expect(watchdogUsecFromEnv({ WATCHDOG_USEC: '30s' }, 42)).toBeUndefined();
  });
});

describe('notifySocketAddress', () => {
  it('builds a path address with its NUL, an abstract one without a trailing NUL', () => {
    const path = notifySocketAddress('/run/systemd/notify');
    if (typeof path === 'string') throw new Error(path);
    expect(path.length).toBe(2 + '/run/systemd/notify'.length + 1);
    expect(path.address.subarray(2, path.length).toString()).toBe('/run/systemd/notify\0');
    const abstract = notifySocketAddress('@sd-notify/1');
    if (typeof abstract === 'string') throw new Error(abstract);
    expect(abstract.address.subarray(2, abstract.length + 1).toString()).toBe('\0sd-notify/1\0');
    expect(abstract.length).toBe(2 + 1 + 'sd-notify/1'.length);
  });
  it('refuses what it cannot send to', () => {
    expect(notifySocketAddress('vsock:2:1234')).toMatch(/neither an absolute path/);
    expect(notifySocketAddress('/' + 'x'.repeat(107))).toMatch(/too long/);
  });
});

describe('notifier without NOTIFY_SOCKET', () => {
  it('is inactive: no interval, every call a no-op', () => {
    const notify = notifier({ env: { WATCHDOG_USEC: '1000000' } });
    expect(notify.backend).toBe('inactive');
    expect(notify.watchdogIntervalMs).toBeUndefined();
    notify.ready('x');
    notify.status('y');
    notify.watchdog();
    notify.stopping();
  });
});

describe('startWatchdogPings', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const fake = (intervalMs: number | undefined): Notifier & { pings: number } => {
    const notify = {
      backend: 'libc' as const, reason: 'fake', watchdogIntervalMs: intervalMs, pings: 0,
      ready: () => {}, status: () => {}, stopping: () => {},
      watchdog: () => {
        notify.pings++;
      },
    };
    return notify;
  };

  it('pings every interval only while healthy, and stops when told', () => {
    vi.useFakeTimers();
    const notify = fake(1000);
    let healthy = true;
    const stop = startWatchdogPings(notify, () => healthy);
    expect(notify.pings).toBe(1); // at once
    vi.advanceTimersByTime(3000);
    expect(notify.pings).toBe(4);
    healthy = false;
    vi.advanceTimersByTime(5000);
    expect(notify.pings).toBe(4);
    healthy = true;
    vi.advanceTimersByTime(1000);
    expect(notify.pings).toBe(5);
    stop();
    vi.advanceTimersByTime(5000);
    expect(notify.pings).toBe(5);
  });

  it('counts a throwing health check as unhealthy, and does nothing without a watchdog', () => {
    vi.useFakeTimers();
    const notify = fake(1000);
    const stop = startWatchdogPings(notify, () => {
      throw new Error('boom');
    });
    vi.advanceTimersByTime(3000);
    expect(notify.pings).toBe(0);
    stop();
    const none = fake(undefined);
    startWatchdogPings(none, () => true)();
    expect(none.pings).toBe(0);
  });

  it('heartbeat is healthy for maxAgeMs after each beat', () => {
    let now = 0;
    const beat = heartbeat(100, () => now);
    expect(beat.isHealthy()).toBe(true);
    now = 100;
    expect(beat.isHealthy()).toBe(false);
    beat.beat();
    now = 150;
    expect(beat.isHealthy()).toBe(true);
  });
});
