// Benchmark of issue 16's tick ring (src/supervise/tick-ring.ts), "the seconds before a kill": the heap
// a full ring takes, and what one tick costs the monitor.
//
//   1. heap: a fresh ring filled well past its bounds (3 x TICK_RING_MAX_TICKS ticks 100 ms apart,
//      so it evicts by count), each tick with TOP_PROCESS_COUNT processes whose comm strings are
//      made afresh for every tick (the worst case: the supervisor's ticks share the members' own
//      strings); heap used (process.memoryUsage().heapUsed, after a full GC each side) with the ring
//      held, less the heap before it. Repeated --reps times; median and max.
//   2. cost per tick: largestMembers (the top 5 by RSS) over a tree of --tree processes, plus the
//      ring's add, timed over many ticks.
//   3. the flush at a breach: a full ring's ticks journaled as tick samples (one JSON line each, as
//      RunFigures writes them) into a fresh journal in the bench's work folder (on /tmp), timed.
//
// Options: --reps N (5), --tree N (1000).
//
// Bundled on the fly by scripts/bench/run.mjs (`npm run bench -- --only ticks`) into dist/bench/ticks.mjs.
// Prints a Markdown report on stdout. It starts no process.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { log, newFolder } from '../common/context.js';
import { Journal } from '../../../src/record/journal.js';
import { runPart } from '../common/finish.js';
import { TICK_RING_MAX_AGE_MS, TICK_RING_MAX_TICKS, TickRing, TOP_PROCESS_COUNT } from '../../../src/supervise/tick-ring.js';
import { largestMembers } from '../../../src/supervise/tree-memory.js';
import type { TreeSnapshot } from '../../../src/track/tracker.js';
import { median } from '../tracking/stats.js';

const { values: options } = parseArgs({ options: { reps: { type: 'string' }, tree: { type: 'string' } } });
const REPS = Number(options.reps ?? 5);
const TREE = Number(options.tree ?? 1000);

// A full collection on demand, so that the heap measured is what is reachable, not garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Heap taken by a ring filled past its bounds, bytes; the ring stays reachable until measured. */
function ringHeapBytes(): { bytes: number; held: number } {
  const before = heapUsed();
  const ring = new TickRing(() => undefined);
  const t0 = Date.now();
  for (let index = 0; index < 3 * TICK_RING_MAX_TICKS; index++) {
    const topProcesses = Array.from({ length: TOP_PROCESS_COUNT }, (_, rank) => ({
      pid: 100_000 + rank,
      // 15 bytes, the kernel's most, and a string of its own.
      comm: `worker-${String(index).padStart(4, '0')}-${rank}`.slice(0, 15),
      rss_bytes: (TOP_PROCESS_COUNT - rank) * 2 ** 20 + index,
    }));
    ring.add({ atMs: t0 + 100 * index, rssBytes: 2 ** 30 + index, pssBytes: index % 10 === 0 ? 2 ** 30 : null, cpuSeconds: index / 10, processCount: TREE, topProcesses });
  }
  const bytes = heapUsed() - before;
  return { bytes, held: ring.ticks().length };
}

/** Microseconds per tick of the ring's work over a tree of TREE processes: the top 5, then add. */
function tickCostUs(): number {
  const alive = Array.from({ length: TREE }, (_, index) => ({ pid: 10_000 + index, comm: `p${index % 50}`, rssBytes: ((index * 7919) % TREE) * 4096 }));
  const snapshot = { alive, rssBytes: 0, atMs: 0, born: [], died: [] } as unknown as TreeSnapshot;
  const ring = new TickRing(() => undefined);
  const ticks = 5 * TICK_RING_MAX_TICKS;
  const start = performance.now();
  for (let index = 0; index < ticks; index++) {
    ring.add({ atMs: index * 100, rssBytes: 0, pssBytes: null, cpuSeconds: 0, processCount: TREE, topProcesses: largestMembers(snapshot, TOP_PROCESS_COUNT) });
  }
  return ((performance.now() - start) * 1000) / ticks;
}

/** Milliseconds to journal a full ring's ticks as samples, one line each, into a journal of its own. */
function flushMs(): number {
  const runId = randomUUID();
  const journal = Journal.create(newFolder('journal'), runId);
  const ring = new TickRing((tick) => {
    const record = {
      id: randomUUID(), run_id: runId, at: new Date(tick.atMs).toISOString(), elapsed_ms: tick.atMs, rss_bytes: tick.rssBytes, pss_bytes: tick.pssBytes,
      cpu_seconds: tick.cpuSeconds, process_count: tick.processCount, peak: false, tick: true, top_processes: tick.topProcesses,
    };
    journal.append({ table: 'samples', record });
  });
  const topProcesses = Array.from({ length: TOP_PROCESS_COUNT }, (_, rank) => ({ pid: 100_000 + rank, comm: 'python3', rss_bytes: 2 ** 30 - rank }));
  for (let index = 0; index < TICK_RING_MAX_TICKS; index++) ring.add({ atMs: Date.now() + 100 * index, rssBytes: 2 ** 31, pssBytes: null, cpuSeconds: index, processCount: TREE, topProcesses });
  ring.breach();
  const start = performance.now();
  ring.flush();
  const took = performance.now() - start;
  journal.close();
  return took;
}

async function main(out: string[]): Promise<boolean> {
  const heaps: number[] = [];
  let held = 0;
  for (let rep = 0; rep < REPS; rep++) {
    const measured = ringHeapBytes();
    heaps.push(measured.bytes);
    held = measured.held;
    log(`rep ${rep + 1}: ${measured.bytes} bytes for ${measured.held} ticks`);
  }
  const costs = Array.from({ length: REPS }, tickCostUs);
  const flushes = Array.from({ length: REPS }, flushMs);
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  out.push(
    '| measure | value | bound |',
    '|---|---|---|',
    `| tick ring, full (${held} ticks of ${TOP_PROCESS_COUNT} processes, comm strings unshared): heap | median ${kib(median(heaps))}, max ${kib(Math.max(...heaps))} (${(median(heaps) / held).toFixed(0)} bytes a tick) | ${TICK_RING_MAX_TICKS} ticks, ${TICK_RING_MAX_AGE_MS / 1000} s |`,
    `| tick ring: the top ${TOP_PROCESS_COUNT} of a ${TREE}-process tree and the ring's add, per tick | median ${median(costs).toFixed(1)} µs, max ${Math.max(...costs).toFixed(1)} µs | |`,
    `| tick ring: journaling a full ring at a breach (${TICK_RING_MAX_TICKS} lines, no fsync) | median ${median(flushes).toFixed(1)} ms, max ${Math.max(...flushes).toFixed(1)} ms | after the first signal |`,
    '',
  );
  // A ring over its bound by count is a bug.
  return held !== TICK_RING_MAX_TICKS;
}

await runPart('ticks', main, log);
