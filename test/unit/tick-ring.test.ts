import { describe, expect, it } from 'vitest';
import { TICK_RING_MAX_AGE_MS, TICK_RING_MAX_TICKS, TickRing, type Tick } from '../../src/supervise/tick-ring.js';
import { largestMembers } from '../../src/supervise/tree-memory.js';
import type { TreeSnapshot } from '../../src/track/tracker.js';

const T0 = Date.parse('2026-12-07T12:00:00.000Z');

function tickAt(atMs: number): Tick {
  return { atMs, rssBytes: 2 ** 20, pssBytes: null, cpuSeconds: 0, processCount: 1, topProcesses: [{ pid: 1000, comm: 'hog', rss_bytes: 2 ** 20 }] };
}

/** A ring of the production bounds, and the instants it journaled, in order. */
function ring(): { ring: TickRing; written: number[] } {
  const written: number[] = [];
  return { ring: new TickRing((tick) => written.push(tick.atMs)), written };
}

describe('TickRing (the seconds before a kill)', () => {
  it('holds the last 600 ticks at most, the newest kept: ticks 10 ms apart reach back 6 s, not 60', () => {
    const { ring: ticks } = ring();
    for (let index = 0; index < 2000; index++) ticks.add(tickAt(T0 + 10 * index));
    const held = ticks.ticks().map((tick) => tick.atMs);
    expect(held).toHaveLength(TICK_RING_MAX_TICKS);
    expect(held[0]).toBe(T0 + 10 * (2000 - TICK_RING_MAX_TICKS));
    expect(held.at(-1)).toBe(T0 + 10 * 1999);
  });

  it('holds the last 60 s at most: ticks 1 s apart reach back 60 s, not 600 ticks', () => {
    const { ring: ticks } = ring();
    for (let second = 0; second < 200; second++) ticks.add(tickAt(T0 + 1000 * second));
    const held = ticks.ticks().map((tick) => tick.atMs);
    expect(held[0]).toBe(T0 + 1000 * 199 - TICK_RING_MAX_AGE_MS);
    expect(held).toHaveLength(TICK_RING_MAX_AGE_MS / 1000 + 1);
    // A long gap (the tick slowed to 1 s, a stopped wrapper) leaves the newest tick alone.
    ticks.add(tickAt(T0 + 1000 * 199 + 5 * TICK_RING_MAX_AGE_MS));
    expect(ticks.ticks()).toHaveLength(1);
  });

  it('keeps its ticks when the wall clock is set back, bounded by count still', () => {
    const { ring: ticks } = ring();
    for (let index = 0; index < 10; index++) ticks.add(tickAt(T0 + 100 * index));
    ticks.add(tickAt(T0 - 3_600_000));
    expect(ticks.ticks()).toHaveLength(11);
  });

  it('takes a scan seen twice once, and its PSS read after it', () => {
    const { ring: ticks } = ring();
    ticks.add(tickAt(T0));
    ticks.add(tickAt(T0));
    ticks.notePss(T0, 3 * 2 ** 20);
    expect(ticks.ticks()).toEqual([{ ...tickAt(T0), pssBytes: 3 * 2 ** 20 }]);
  });

  it('journals nothing before a breach; after one, every tick as taken, and at flush the ticks held not journaled as samples', () => {
    const { ring: ticks, written } = ring();
    for (let index = 0; index < 5; index++) ticks.add(tickAt(T0 + 100 * index));
    ticks.flush();
    expect(written).toEqual([]);
    // A periodic sample of the instant T0 + 200 is journaled first: the ring leaves that instant out.
    expect(ticks.claim(T0 + 200)).toBe(true);
    ticks.breach();
    // The first signal goes out before the ticks held are written (flush); a tick taken meanwhile is written at once.
    ticks.add(tickAt(T0 + 450));
    expect(written).toEqual([T0 + 450]);
    ticks.flush();
    ticks.breach();
    ticks.flush();
    expect(written).toEqual([T0 + 450, T0, T0 + 100, T0 + 300, T0 + 400]);
    // Instants the ring journaled, or holds since the breach, are not journaled again as samples;
    // an older one (a peak flushed at the end) still is.
    expect(ticks.claim(T0 + 100)).toBe(false);
    expect(ticks.claim(T0 + 450)).toBe(false);
    expect(ticks.claim(T0 - 1000)).toBe(true);
    expect(written).toHaveLength(5);
  });

  it('journals a tick held at the breach that leaves the ring before the flush', () => {
    const written: number[] = [];
    const ticks = new TickRing((tick) => written.push(tick.atMs), { maxTicks: 3, maxAgeMs: 60_000 });
    for (const at of [0, 100, 200]) ticks.add(tickAt(T0 + at));
    ticks.breach();
    ticks.add(tickAt(T0 + 300));
    ticks.flush();
    expect(written.map((at) => at - T0).sort((a, b) => a - b)).toEqual([0, 100, 200, 300]);
  });

  it('bounds a ring of smaller bounds alike (age and count together)', () => {
    const written: number[] = [];
    const ticks = new TickRing((tick) => written.push(tick.atMs), { maxTicks: 3, maxAgeMs: 250 });
    for (const at of [0, 100, 200, 300]) ticks.add(tickAt(T0 + at));
    expect(ticks.ticks().map((tick) => tick.atMs - T0)).toEqual([100, 200, 300]);
    ticks.add(tickAt(T0 + 500));
    expect(ticks.ticks().map((tick) => tick.atMs - T0)).toEqual([300, 500]);
  });

  it('names the largest processes of a tick as a full sort would: largest first, ties in scan order', () => {
    // A fixed pseudo-random tree, with ties: RSS in 16 steps over 300 processes.
    const alive = Array.from({ length: 300 }, (_, index) => ({ pid: 1000 + index, comm: `p${index}`, rssBytes: ((index * 7919) % 16) * 4096 }));
    const snapshot = { alive } as unknown as TreeSnapshot;
    const sorted = alive.slice().sort((a, b) => b.rssBytes - a.rssBytes).map((member) => ({ pid: member.pid, comm: member.comm, rss_bytes: member.rssBytes }));
    for (const count of [0, 1, 5, 20, 300, 400]) expect(largestMembers(snapshot, count), `count ${count}`).toEqual(sorted.slice(0, count));
    expect(largestMembers(undefined, 5)).toEqual([]);
  });
});
