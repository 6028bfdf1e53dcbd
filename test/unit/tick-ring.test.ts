import { describe, expect, it } from 'vitest';
import { TICK_RING_MAX_AGE_MS, TICK_RING_MAX_TICKS, TickRing, type Tick } from '../../src/supervise/tick-ring.js';
import { largestMembers } from '../../src/supervise/tree-memory.js';
import type { TreeSnapshot } from '../../src/track/tracker.js';

const T0 = Date.parse('2026-12-07T12:00:00.000Z');

function tickAt(atMs: number): Tick {
  return { atMs, rssBytes: 2 ** 20, pssBytes: null, cpuSeconds: 0, processCount: 1, topProcesses: [{ pid: 1000, comm: 'hog', rss_bytes: 2 ** 20 }], peak: false };
}

/** Takes a tick of a scan of its own (the tick object stands for its snapshot). */
function take(ring: TickRing, tick: Tick): void {
  ring.add(tick, tick);
}

/** A ring of the production bounds, and the instants it journaled, in order. */
function ring(): { ring: TickRing; written: number[] } {
  const written: number[] = [];
  return { ring: new TickRing((tick) => written.push(tick.atMs)), written };
}

describe('TickRing (the seconds before a kill)', () => {
  it('holds the last 600 ticks at most, the newest kept: ticks 10 ms apart reach back 6 s, not 60', () => {
    const { ring: ticks } = ring();
    for (let index = 0; index < 2000; index++) take(ticks, tickAt(T0 + 10 * index));
    const held = ticks.ticks().map((tick) => tick.atMs);
    expect(held).toHaveLength(TICK_RING_MAX_TICKS);
    expect(held[0]).toBe(T0 + 10 * (2000 - TICK_RING_MAX_TICKS));
    expect(held.at(-1)).toBe(T0 + 10 * 1999);
  });

  it('holds the last 60 s at most: ticks 1 s apart reach back 60 s, not 600 ticks', () => {
    const { ring: ticks } = ring();
    for (let second = 0; second < 200; second++) take(ticks, tickAt(T0 + 1000 * second));
    const held = ticks.ticks().map((tick) => tick.atMs);
    expect(held[0]).toBe(T0 + 1000 * 199 - TICK_RING_MAX_AGE_MS);
    expect(held).toHaveLength(TICK_RING_MAX_AGE_MS / 1000 + 1);
    // A long gap (the tick slowed to 1 s, a stopped wrapper) leaves the newest tick alone.
    take(ticks, tickAt(T0 + 1000 * 199 + 5 * TICK_RING_MAX_AGE_MS));
    expect(ticks.ticks()).toHaveLength(1);
  });

  it('keeps its ticks when the wall clock is set back, bounded by count still', () => {
    const { ring: ticks } = ring();
    for (let index = 0; index < 10; index++) take(ticks, tickAt(T0 + 100 * index));
    take(ticks, tickAt(T0 - 3_600_000));
    expect(ticks.ticks()).toHaveLength(11);
  });

  it('takes a scan seen twice once, and its PSS read after it; two scans of one millisecond are two ticks', () => {
    const { ring: ticks } = ring();
    const scan = {};
    ticks.add(tickAt(T0), scan);
    ticks.add(tickAt(T0), scan);
    ticks.notePss(scan, 3 * 2 ** 20);
    expect(ticks.ticks()).toEqual([{ ...tickAt(T0), pssBytes: 3 * 2 ** 20 }]);
    // A freeze's scans come back to back: another scan of the same millisecond is a tick of its own,
    // and a PSS read of an older scan is no PSS of it.
    const next = {};
    ticks.add({ ...tickAt(T0), rssBytes: 0 }, next);
    ticks.notePss(scan, 4 * 2 ** 20);
    expect(ticks.ticks().map((tick) => [tick.atMs - T0, tick.rssBytes, tick.pssBytes])).toEqual([[0, 2 ** 20, 3 * 2 ** 20], [0, 0, null]]);
  });

  it('journals nothing before a breach, nor at one, nor as ticks are taken after it: all of it at flush, less the instants journaled as samples', () => {
    const { ring: ticks, written } = ring();
    for (let index = 0; index < 5; index++) take(ticks, tickAt(T0 + 100 * index));
    ticks.flush();
    expect(written).toEqual([]);
    // A periodic sample of the instant T0 + 200 is journaled first: the ring leaves that instant out.
    expect(ticks.claim(T0 + 200, false)).toBe(true);
    ticks.breach();
    // The signals go out, and the scans between them are taken: nothing is written until the flush.
    take(ticks, tickAt(T0 + 450));
    take(ticks, tickAt(T0 + 450));
    expect(written).toEqual([]);
    ticks.flush();
    ticks.breach();
    ticks.flush();
    expect(written).toEqual([T0, T0 + 100, T0 + 300, T0 + 400, T0 + 450, T0 + 450]);
    // Instants the ring journaled, or holds since the breach, are not journaled again as samples.
    expect(ticks.claim(T0 + 100, false)).toBe(false);
    expect(ticks.claim(T0 + 450, false)).toBe(false);
    take(ticks, tickAt(T0 + 500));
    expect(ticks.claim(T0 + 500, false)).toBe(false);
    ticks.flush();
    expect(written).toHaveLength(7);
  });

  it('after a breach, lets a sample of an instant it never held be journaled (the whole-run sample at the end), and one older than the breach', () => {
    const { ring: ticks, written } = ring();
    for (let index = 0; index < 3; index++) take(ticks, tickAt(T0 + 100 * index));
    ticks.breach();
    ticks.flush();
    // close()'s whole-run sample, stamped Date.now(): no scan's instant.
    expect(ticks.claim(T0 + 250, true)).toBe(true);
    expect(ticks.claim(T0 + 5000, true)).toBe(true);
    // A peak flushed at the end that is older than the ring.
    expect(ticks.claim(T0 - 70_000, true)).toBe(true);
    expect(written).toEqual([T0, T0 + 100, T0 + 200]);
  });

  it('journals as a peak the tick of a peak sample claimed after the breach, and not the sample', () => {
    const written: Tick[] = [];
    const ticks = new TickRing((tick) => written.push(tick));
    for (let index = 0; index < 3; index++) take(ticks, tickAt(T0 + 100 * index));
    ticks.breach();
    expect(ticks.claim(T0 + 200, true)).toBe(false);
    expect(ticks.claim(T0 + 100, false)).toBe(false);
    ticks.flush();
    expect(written.map((tick) => [tick.atMs - T0, tick.peak])).toEqual([[0, false], [100, false], [200, true]]);
  });

  it('journals a tick held at the breach that leaves the ring before the flush, at the flush, and refuses samples of its instant', () => {
    const written: number[] = [];
    const ticks = new TickRing((tick) => written.push(tick.atMs), { maxTicks: 3, maxAgeMs: 60_000 });
    for (const at of [0, 100, 200]) take(ticks, tickAt(T0 + at));
    ticks.breach();
    take(ticks, tickAt(T0 + 300));
    take(ticks, tickAt(T0 + 400));
    // Evicted, not written: the kill does not wait for it either.
    expect(written).toEqual([]);
    expect(ticks.claim(T0 + 100, true)).toBe(false);
    ticks.flush();
    expect(written.map((at) => at - T0)).toEqual([0, 100, 200, 300, 400]);
    take(ticks, tickAt(T0 + 500));
    ticks.flush();
    // Journaled and gone from the ring: still refused.
    expect(ticks.claim(T0 + 200, false)).toBe(false);
    expect(written.map((at) => at - T0)).toEqual([0, 100, 200, 300, 400, 500]);
  });

  it('bounds a ring of smaller bounds alike (age and count together)', () => {
    const written: number[] = [];
    const ticks = new TickRing((tick) => written.push(tick.atMs), { maxTicks: 3, maxAgeMs: 250 });
    for (const at of [0, 100, 200, 300]) take(ticks, tickAt(T0 + at));
    expect(ticks.ticks().map((tick) => tick.atMs - T0)).toEqual([100, 200, 300]);
    take(ticks, tickAt(T0 + 500));
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
