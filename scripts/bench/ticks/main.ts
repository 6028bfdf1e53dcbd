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
//   4. the kill with no grace, a full ring held: `scidex-run --memory-limit 150M --grace 0
//      --poll-interval 10ms -- python3 HOG` (the hog ignores SIGTERM, holds 20 MiB for 7 s, so that
//      the ring holds 600 ticks, then grows 8 MiB every 20 ms): SIGTERM -> SIGKILL, the `at` of the two
//      signal_sent events of the journal, and the tick lines journaled between them (line order).
//      --kill-reps runs (3), median and max.
//
// Options: --reps N (5), --tree N (1000), --kill-reps N (3).
//
// Bundled on the fly by scripts/bench/run.mjs (`npm run bench -- --only ticks`) into dist/bench/ticks.mjs.
// Prints a Markdown report on stdout. Only measure 4 starts processes: one wrapper a run, by pid
// (common/processes.ts; runPart checks that none is left).
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { log, newFolder, RUN_BIN } from '../common/context.js';
import { Journal, readJournal } from '../../../src/record/journal.js';
import type { EventRecord, SampleRecord } from '../../../src/record/types.js';
import { runPart } from '../common/finish.js';
import { start } from '../common/processes.js';
import { TICK_RING_MAX_AGE_MS, TICK_RING_MAX_TICKS, TickRing, TOP_PROCESS_COUNT } from '../../../src/supervise/tick-ring.js';
import { largestMembers } from '../../../src/supervise/tree-memory.js';
import type { TreeSnapshot } from '../../../src/track/tracker.js';
import { median } from '../tracking/stats.js';

const { values: options } = parseArgs({ options: { reps: { type: 'string' }, tree: { type: 'string' }, 'kill-reps': { type: 'string' } } });
const REPS = Number(options.reps ?? 5);
const TREE = Number(options.tree ?? 1000);
const KILL_REPS = Number(options['kill-reps'] ?? 3);

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
    const tick = { atMs: t0 + 100 * index, rssBytes: 2 ** 30 + index, pssBytes: index % 10 === 0 ? 2 ** 30 : null, cpuSeconds: index / 10, processCount: TREE, topProcesses, peak: false };
    // Each tick a scan of its own (the supervisor passes the TreeSnapshot).
    ring.add(tick, tick);
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
    // The one snapshot stands for a fresh scan each time: the identity the ring tells scans apart by is a new object's.
    ring.add({ atMs: index * 100, rssBytes: 0, pssBytes: null, cpuSeconds: 0, processCount: TREE, topProcesses: largestMembers(snapshot, TOP_PROCESS_COUNT), peak: false }, {});
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
      cpu_seconds: tick.cpuSeconds, process_count: tick.processCount, peak: tick.peak, tick: true, top_processes: tick.topProcesses,
    };
    journal.append({ table: 'samples', record });
  });
  const topProcesses = Array.from({ length: TOP_PROCESS_COUNT }, (_, rank) => ({ pid: 100_000 + rank, comm: 'python3', rss_bytes: 2 ** 30 - rank }));
  for (let index = 0; index < TICK_RING_MAX_TICKS; index++) ring.add({ atMs: Date.now() + 100 * index, rssBytes: 2 ** 31, pssBytes: null, cpuSeconds: index, processCount: TREE, topProcesses, peak: false }, {});
  ring.breach();
  const start = performance.now();
  ring.flush();
  const took = performance.now() - start;
  journal.close();
  return took;
}

/**
 * Ignores SIGTERM, holds 20 MiB for 7 s (600 ticks at 10 ms fill the ring), then grows by 8 MiB
 * every 20 ms: the 10 ms scans stop it past 150 MiB, well before the kernel's backstop could.
 */
const HOG = [
  'import signal, time',
  'signal.signal(signal.SIGTERM, signal.SIG_IGN)',
  'held = [bytes([1]) * (20 << 20)]',
  'time.sleep(7)',
  'while len(held) < 40:',
  '    held.append(bytes([1]) * (8 << 20))',
  '    time.sleep(0.02)',
  'time.sleep(60)',
].join('\n');

/** One run of measure 4: SIGTERM -> SIGKILL, milliseconds, and the tick lines journaled between them. */
async function killWithoutGrace(): Promise<{ ms: number; ticksBetween: number }> {
  const stateDir = newFolder('no-grace');
  const result = await start(RUN_BIN, ['--quiet', '--memory-limit', '150M', '--grace', '0', '--poll-interval', '10ms', '--', 'python3', '-c', HOG], stateDir, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
  if (result.exitCode !== 137) throw new Error(`the hog's run ended ${result.exitCode}, not 137: ${result.stderr}`);
  const [file] = readdirSync(join(stateDir, 'journal'));
  const entries = readJournal(join(stateDir, 'journal', file)).entries;
  const signalLine = (signal: string) => entries.findIndex((entry) => entry.table === 'events' && (entry.record as EventRecord).kind === 'signal_sent' && (entry.record as EventRecord).signal === signal);
  const [term, kill] = [signalLine('SIGTERM'), signalLine('SIGKILL')];
  if (term < 0 || kill < 0) throw new Error(`the hog's run has no signal_sent ${term < 0 ? 'SIGTERM' : 'SIGKILL'}: ${result.stderr}`);
  const ticksBetween = entries.slice(term + 1, kill).filter((entry) => entry.table === 'samples' && (entry.record as SampleRecord).tick === true).length;
  const at = (line: number) => Date.parse((entries[line].record as EventRecord).at);
  return { ms: at(kill) - at(term), ticksBetween };
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
  const kills: { ms: number; ticksBetween: number }[] = [];
  for (let rep = 0; rep < KILL_REPS; rep++) {
    kills.push(await killWithoutGrace());
    log(`kill ${rep + 1}: SIGTERM -> SIGKILL ${kills.at(-1)!.ms} ms, ${kills.at(-1)!.ticksBetween} tick lines between`);
  }
  const killMs = kills.map((kill) => kill.ms);
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  out.push(
    '| measure | value | bound |',
    '|---|---|---|',
    `| tick ring, full (${held} ticks of ${TOP_PROCESS_COUNT} processes, comm strings unshared): heap | median ${kib(median(heaps))}, max ${kib(Math.max(...heaps))} (${(median(heaps) / held).toFixed(0)} bytes a tick) | ${TICK_RING_MAX_TICKS} ticks, ${TICK_RING_MAX_AGE_MS / 1000} s |`,
    `| tick ring: the top ${TOP_PROCESS_COUNT} of a ${TREE}-process tree and the ring's add, per tick | median ${median(costs).toFixed(1)} µs, max ${Math.max(...costs).toFixed(1)} µs | |`,
    `| tick ring: journaling a full ring at a breach (${TICK_RING_MAX_TICKS} lines, no fsync) | median ${median(flushes).toFixed(1)} ms, max ${Math.max(...flushes).toFixed(1)} ms | after the first signal |`,
    `| --grace 0, a full ring held (--poll-interval 10ms): SIGTERM -> SIGKILL (journal \`at\`), ${KILL_REPS} runs | median ${median(killMs).toFixed(0)} ms, max ${Math.max(...killMs).toFixed(0)} ms; tick lines between the two: ${kills.map((kill) => kill.ticksBetween).join(', ')} | no tick line between |`,
    '',
  );
  // A ring over its bound by count is a bug, and so is a kill that waits for the ring.
  return held !== TICK_RING_MAX_TICKS || kills.some((kill) => kill.ticksBetween > 0);
}

await runPart('ticks', main, log);
