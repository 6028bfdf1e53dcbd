import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePressureGuard, minAvailableBytes } from '../../src/config/pressure.js';
import { parseMeminfo, parseMemoryPressure } from '../../src/proc/host-memory.js';
import { takeCancelRequest, type HostPressure } from '../../src/record/cancel-request.js';
import { endingUnderWay } from '../../src/record/ending-under-way.js';
import type { EventRecord, JournalEntry, RunRecord } from '../../src/record/types.js';
import { graceOf, runOutcome } from '../../src/supervise/exit-status.js';
import { killReason } from '../../src/watchdog/metrics.js';
import { nextReadDelay, PressureTrigger, type HostReading } from '../../src/watchdog/pressure-guard.js';
import { pickOrder } from '../../src/watchdog/pressure-stop.js';
import { newStateDir } from '../helpers/wrapper.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describe('the pressure guard options', () => {
  it('reads sizes, shares of MemTotal, percentages and durations', () => {
    expect(parsePressureGuard({})).toEqual({ enabled: true, minAvailable: { percentOfTotal: 5 }, maxMemoryPressure: 40, pressureDurationMs: 10_000 });
    expect(parsePressureGuard({ pressureGuard: 'off', minAvailable: '2G', maxMemoryPressure: '12.5%', pressureDuration: '30s' })).toEqual({
      enabled: false,
      minAvailable: { bytes: 2 * GiB },
      maxMemoryPressure: 12.5,
      pressureDurationMs: 30_000,
    });
    expect(minAvailableBytes(parsePressureGuard({ minAvailable: '10%' }), 24 * GiB)).toBe(Math.round(2.4 * GiB));
    expect(minAvailableBytes(parsePressureGuard({ minAvailable: '512MiB' }), 24 * GiB)).toBe(512 * MiB);
  });

  it('refuses what is not one', () => {
    expect(() => parsePressureGuard({ pressureGuard: 'yes' })).toThrow(/expected on or off/);
    expect(() => parsePressureGuard({ minAvailable: '100%' })).toThrow(/below 100%/);
    expect(() => parsePressureGuard({ minAvailable: 'x%' })).toThrow(/expected a percentage/);
    expect(() => parsePressureGuard({ maxMemoryPressure: '-1' })).toThrow(/expected a percentage/);
    expect(() => parsePressureGuard({ maxMemoryPressure: '101' })).toThrow(/at most 100/);
    expect(() => parsePressureGuard({ pressureDuration: '10' + 'x' })).toThrow(/--pressure-duration/);
  });
});

describe('/proc/meminfo and /proc/pressure/memory', () => {
  it('parses the fields the guard needs', () => {
    expect(parseMeminfo('MemTotal:       24682276 kB\nMemFree:        20000000 kB\nMemAvailable:   22374988 kB\n')).toEqual({
      memTotalBytes: 24682276 * 1024,
      memAvailableBytes: 22374988 * 1024,
    });
    expect(parseMeminfo('MemTotal:       24682276 kB\n')).toBeUndefined();
    const psi = 'some avg10=12.50 avg60=3.00 avg300=0.50 total=123\nfull avg10=7.25 avg60=1.00 avg300=0.10 total=45\n';
    expect(parseMemoryPressure(psi)).toEqual({ someAvg10: 12.5, fullAvg10: 7.25 });
    expect(parseMemoryPressure('some avg10=1.00 avg60=0 avg300=0 total=1\n')).toBeUndefined();
  });
});

describe('PressureTrigger', () => {
  const settings = { minAvailableBytes: GiB, maxMemoryPressure: 40, pressureDurationMs: 10_000 };
  const reading = (atMs: number, availableGiB: number, psi: number | null = 0): HostReading => ({ atMs, memAvailableBytes: availableGiB * GiB, memTotalBytes: 24 * GiB, psiFullAvg10: psi });

  it('acts at once when MemAvailable falls below the floor, with the time it first did', () => {
    const trigger = new PressureTrigger(settings);
    expect(trigger.observe(reading(0, 4))).toBeUndefined();
    expect(trigger.observe(reading(100, 0.9))).toMatchObject({ threshold: 'min_available', crossedAtMs: 100 });
    expect(trigger.observe(reading(200, 0.8))).toMatchObject({ threshold: 'min_available', crossedAtMs: 100 });
    trigger.rearm(250);
    expect(trigger.observe(reading(300, 0.8))).toMatchObject({ threshold: 'min_available', crossedAtMs: 300 });
    expect(trigger.observe(reading(400, 2))).toBeUndefined();
  });

  it('acts on PSI only once it has been held above the threshold for the duration, and again only a whole duration later', () => {
    const trigger = new PressureTrigger(settings);
    expect(trigger.observe(reading(0, 4, 50))).toBeUndefined();
    expect(trigger.observe(reading(9_999, 4, 60))).toBeUndefined();
    expect(trigger.observe(reading(10_000, 4, 60))).toMatchObject({ threshold: 'memory_pressure', crossedAtMs: 0 });
    trigger.rearm(11_000);
    expect(trigger.observe(reading(12_000, 4, 55))).toBeUndefined();
    expect(trigger.observe(reading(21_000, 4, 55))).toMatchObject({ threshold: 'memory_pressure', crossedAtMs: 11_000 });
    // A dip below the threshold starts the hold again.
    expect(trigger.observe(reading(22_000, 4, 10))).toBeUndefined();
    expect(trigger.observe(reading(23_000, 4, 50))).toBeUndefined();
    expect(trigger.observe(reading(32_999, 4, 50))).toBeUndefined();
    // No PSI (an old kernel), or 0 (PSI not acted on): never on PSI.
    expect(new PressureTrigger({ ...settings, maxMemoryPressure: 0 }).observe(reading(0, 4, 100))).toBeUndefined();
    const noPsi = new PressureTrigger(settings);
    expect(noPsi.observe(reading(0, 4, null))).toBeUndefined();
    expect(noPsi.observe(reading(20_000, 4, null))).toBeUndefined();
  });

  it('reads every 100 ms near a threshold or when MemAvailable falls fast, else at the base period', () => {
    const trigger = new PressureTrigger(settings);
    expect(nextReadDelay(trigger, settings, reading(0, 4), undefined, 1000)).toBe(1000);
    expect(nextReadDelay(trigger, settings, reading(0, 1.05), undefined, 1000)).toBe(100);
    expect(nextReadDelay(trigger, settings, reading(0, 4, 37), undefined, 1000)).toBe(100);
    // Falling 1 GiB a second with 3 GiB to go: half of 3 s, capped at the base period.
    expect(nextReadDelay(trigger, settings, reading(1000, 4), reading(0, 5), 1000)).toBe(1000);
    // Falling 2 GiB in 100 ms with 3 GiB to go: 150 ms to the floor, read again in 100 ms.
    expect(nextReadDelay(trigger, settings, reading(100, 4), reading(0, 6), 1000)).toBe(100);
    expect(nextReadDelay(trigger, settings, reading(1000, 4), reading(0, 5.5), 1000)).toBe(1000);
    expect(nextReadDelay(trigger, settings, reading(500, 4), reading(0, 6), 1000)).toBe(375);
  });
});

describe('the choice of the victim', () => {
  it('is the largest tree PSS; on a tie, the youngest run', () => {
    const run = (id: string, pssBytes: number, started_at: string) => ({ pssBytes, marker: { id, started_at } });
    const order = pickOrder([run('a', GiB, '2026-01-01T00:00:00Z'), run('b', 2 * GiB, '2026-01-01T00:00:00Z'), run('c', GiB, '2026-01-02T00:00:00Z')]);
    expect(order.map((candidate) => candidate.marker.id)).toEqual(['b', 'c', 'a']);
  });
});

describe('the host-pressure stop in the records', () => {
  const pressure: HostPressure = {
    threshold: 'min_available',
    crossed_at: '2026-12-07T06:00:00.000Z',
    mem_available_bytes: GiB,
    mem_total_bytes: 24 * GiB,
    min_available_bytes: 1.2 * GiB,
    psi_full_avg10: 3.5,
    max_memory_pressure: 40,
    pressure_duration_ms: 10_000,
    run_pss_bytes: 1.5 * GiB,
    grace_ms: 2000,
  };

  it('is out of memory, 137 (the command\'s own with --preserve-status), with a grace of at most 2 s', () => {
    const stop = { kind: 'host_pressure' as const, pressure, graceMs: 2000, request: { signal: 'SIGTERM' as const, reason: null, requested_by: 'x', requested_at: pressure.crossed_at, request_id: null } };
    expect(runOutcome({ code: null, signal: 'SIGTERM' }, stop, false)).toEqual({ status: 'out_of_memory', exitStatus: 137 });
    expect(runOutcome({ code: null, signal: 'SIGTERM' }, stop, true)).toEqual({ status: 'out_of_memory', exitStatus: 143 });
    expect(graceOf(stop, 10_000)).toBe(2000);
    expect(graceOf(stop, 500)).toBe(500);
    expect(graceOf({ kind: 'timeout' }, 10_000)).toBe(10_000);
  });

  it('is an ending under way for a reaper, and a kill of its own reason in the metrics', () => {
    const event = { table: 'events', record: { kind: 'limit_exceeded', reason: 'host_pressure', signal: null } as EventRecord } as JournalEntry;
    expect(endingUnderWay([event])).toEqual({ status: 'out_of_memory', exit_status: 137, reason: 'host_pressure' });
    const facts = { signalReasons: new Set(['host_pressure']), finishedEvent: true };
    expect(killReason({ status: 'out_of_memory', reason: 'host_pressure' } as RunRecord, facts)).toBe('host_pressure');
    expect(killReason({ status: 'out_of_memory', reason: 'memory' } as RunRecord, facts)).toBe('memory');
  });

  it('travels in the request file; a malformed one is a plain cancel, as an older wrapper reads it', () => {
    const stateDir = newStateDir();
    mkdirSync(`${stateDir}/running`, { mode: 0o700 });
    const runId = '3f1c9a52-6f0e-4e43-9a57-1c2d8b7e4a10';
    const write = (extra: Record<string, unknown>) =>
      writeFileSync(
        `${stateDir}/running/${runId}.cancel`,
        JSON.stringify({ signal: 'SIGTERM', reason: 'host_pressure: ...', requested_by: 'root@vm pid 1 (pressure guard)', requested_at: new Date().toISOString(), request_id: null, ...extra }),
        { mode: 0o600 },
      );
    write({ host_pressure: { ...pressure, grace_ms: 60_000 } });
    expect(takeCancelRequest(stateDir, runId, 'SIGTERM')?.host_pressure).toEqual({ ...pressure, grace_ms: 2000 });
    write({ host_pressure: { ...pressure, run_pss_bytes: 'a lot' } });
    const plain = takeCancelRequest(stateDir, runId, 'SIGTERM');
    expect(plain).toMatchObject({ signal: 'SIGTERM', reason: 'host_pressure: ...' });
    expect(plain?.host_pressure).toBeUndefined();
  });
});
