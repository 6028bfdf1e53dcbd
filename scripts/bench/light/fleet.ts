// Measure 3: a fleet. N concurrent runs `bin/scidex-run --tracking cgroup --quiet -- sleep S`, all on
// one state directory of their own, no database (the environment has none: ../common/context.ts).
//
// Started in batches of B: the next batch starts once every run of this one has its journal and its
// leader `sleep` as a child, so a 2-core host is not starved by N Node start-ups at once. Then, over a
// window of W seconds, the CPU ticks (utime + stime) of every wrapper and helper (its children but
// the leader) alive at both ends are summed, as % of one core; their PSS is read after the window
// (reading N smaps_rollup costs CPU of ours, kept out of it). Then every run must end by itself when
// its `sleep` does, and each journal's last run row must say `completed`.
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { signalMember } from '../../../src/terminate/guard.js';
import { log, newFolder, RUN_BIN } from '../common/context.js';
import { start, stderrSummary } from '../common/processes.js';
import { alive, cpuTicks, identify, readMemory, wrapperTree, type Proc, type WrapperTree } from './procfs.js';

/** How long one batch may take to show its journals and leaders before the measure gives up, ms. */
const BATCH_CAP_MS = 120_000;
/** How long past the leaders' sleep the runs may take to end by themselves, ms. */
const END_GRACE_MS = 120_000;

export interface FleetOptions {
  runs: number;
  sleepSeconds: number;
  windowSeconds: number;
  batch: number;
  clockTicksPerSecond: number;
}

export interface FleetResult {
  options: FleetOptions;
  started: number;
  /** First spawn to the last batch ready (journals and leaders), ms. */
  startAllMs: number;
  /** Runs whose wrapper had exited before the window began (their sleep ran out while others started). */
  endedBeforeWindow: number;
  window?: {
    seconds: number;
    wrappers: number;
    helpers: number;
    helperComms: Map<string, number>;
    /** Summed utime + stime over the window, s. */
    cpuSeconds: number;
    /** Processes that exited or changed identity during the window (their ticks are not counted). */
    lost: number;
    pssBytes: number;
    rssBytes: number;
    load: [number, number];
  };
  /** Start of the window's wait to the last wrapper's exit, ms. */
  endMs: number;
  exits: Map<string, number>;
  forced: number;
  journals: number;
  statuses: Map<string, number>;
  unparseable: number;
  stderr: string[];
  failed: boolean;
  error?: string;
}

type Child = ReturnType<typeof start>;
interface Entry {
  proc: Proc;
  child: Child;
  exited?: boolean;
  tree?: WrapperTree;
}

const journalCount = (dir: string): number => {
  try {
    return readdirSync(dir).filter((name) => name.endsWith('.jsonl')).length;
  } catch {
    return 0;
  }
};

/** The status of each journal's last run row (`unparseable` lines counted apart, `no run row` when none). */
function journalStatuses(dir: string): { journals: number; statuses: Map<string, number>; unparseable: number } {
  const statuses = new Map<string, number>();
  let unparseable = 0;
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((name) => name.endsWith('.jsonl'));
  } catch {
    // no run got as far as its journal
  }
  for (const name of files) {
    let last = 'no run row';
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        const entry = JSON.parse(line) as { table?: string; record?: { status?: string } };
        if (entry.table === 'runs') last = String(entry.record?.status);
      } catch {
        unparseable += 1;
      }
    }
    statuses.set(last, (statuses.get(last) ?? 0) + 1);
  }
  return { journals: files.length, statuses, unparseable };
}

export async function fleet(options: FleetOptions): Promise<FleetResult> {
  const stateDir = newFolder('fleet');
  const journalDir = join(stateDir, 'journal');
  const entries: Entry[] = [];
  const result: FleetResult = {
    options, started: 0, startAllMs: 0, endedBeforeWindow: 0, endMs: 0, exits: new Map(), forced: 0,
    journals: 0, statuses: new Map(), unparseable: 0, stderr: [], failed: false,
  };
  const argv = ['--tracking', 'cgroup', '--quiet', '--', 'sleep', String(options.sleepSeconds)];
  const t0 = performance.now();
  try {
    while (entries.length < options.runs) {
      const batch: Entry[] = [];
      for (let i = 0; i < options.batch && entries.length < options.runs; i++) {
        const child = start(RUN_BIN, argv, stateDir, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
        const proc = identify(child.pid);
        if (!proc) throw new Error(`wrapper ${child.pid} exited at once`);
        const entry: Entry = { proc, child };
        void child.then(() => void (entry.exited = true));
        entries.push(entry);
        batch.push(entry);
      }
      result.started = entries.length;
      const batchStart = performance.now();
      for (;;) {
        for (const entry of batch) if (!entry.tree) {
          const tree = wrapperTree(entry.proc, 'sleep');
          if (tree.leader) entry.tree = tree;
        }
        if (journalCount(journalDir) >= entries.length && batch.every((entry) => entry.tree)) break;
        const early = batch.filter((entry) => entry.exited && !entry.tree).length;
        if (early > 0) throw new Error(`${early} wrappers exited before their leader was seen`);
        if (performance.now() - batchStart > BATCH_CAP_MS) throw new Error(`batch ending at run ${entries.length}: not ready within ${BATCH_CAP_MS / 1000} s`);
        await sleep(50);
      }
      if (entries.length % (options.batch * 4) === 0 || entries.length === options.runs) log(`fleet: ${entries.length}/${options.runs} running after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    result.startAllMs = performance.now() - t0;

    // The helpers as they are now (a lifeline starts with the run, before the leader).
    const running = entries.filter((entry) => alive(entry.proc));
    result.endedBeforeWindow = entries.length - running.length;
    const trees = running.map((entry) => wrapperTree(entry.proc, 'sleep'));
    const procs = trees.flatMap((tree) => [tree.wrapper, ...tree.helpers]);
    const helperComms = new Map<string, number>();
    for (const helper of trees.flatMap((tree) => tree.helpers)) helperComms.set(helper.comm, (helperComms.get(helper.comm) ?? 0) + 1);
    const load0 = loadavg()[0];
    const ticks0 = procs.map(cpuTicks);
    const w0 = performance.now();
    await sleep(options.windowSeconds * 1000);
    const ticks1 = procs.map(cpuTicks);
    const seconds = (performance.now() - w0) / 1000;
    let ticks = 0;
    let lost = 0;
    procs.forEach((proc, i) => {
      if (ticks0[i] === undefined || ticks1[i] === undefined || !alive(proc)) lost += 1;
      else ticks += ticks1[i]! - ticks0[i]!;
    });
    const memory = procs.map(readMemory);
    result.window = {
      seconds,
      wrappers: trees.length,
      helpers: procs.length - trees.length,
      helperComms,
      cpuSeconds: ticks / options.clockTicksPerSecond,
      lost,
      pssBytes: memory.reduce((sum, m) => sum + (m?.pssBytes ?? 0), 0),
      rssBytes: memory.reduce((sum, m) => sum + (m?.rssBytes ?? 0), 0),
      load: [load0, loadavg()[0]],
    };
    log(`fleet: window of ${seconds.toFixed(1)} s done; waiting for the ${options.runs} runs to end by themselves`);
  } catch (error) {
    result.failed = true;
    result.error = (error as Error).message;
    log(`fleet: ${result.error}; SIGTERM to every wrapper`);
    for (const entry of entries) if (!entry.exited) signalMember(entry.proc, 'SIGTERM');
  }

  // Every run ends by itself when its sleep does; one still running long after is ended by pid.
  const e0 = performance.now();
  const all = Promise.all(entries.map((entry) => entry.child));
  // An unref'd timer: once every run has ended, a deadline still pending must not hold the process.
  const done = await Promise.race([all.then(() => true), sleep(options.sleepSeconds * 1000 + END_GRACE_MS, false, { ref: false })]);
  if (!done) {
    for (const entry of entries.filter((candidate) => !candidate.exited)) {
      result.forced += 1;
      signalMember(entry.proc, 'SIGTERM');
    }
    result.failed = true;
  }
  const results = await all;
  result.endMs = performance.now() - e0;
  for (const r of results) {
    const key = r.signal ? `signal ${r.signal}` : `exit ${r.exitCode}`;
    result.exits.set(key, (result.exits.get(key) ?? 0) + 1);
  }
  result.stderr = stderrSummary(results.map((r) => ({ exitCode: r.exitCode, stderr: String(r.stderr ?? '') })));
  const journals = journalStatuses(journalDir);
  Object.assign(result, journals);
  if (journals.journals !== entries.length || (journals.statuses.get('completed') ?? 0) !== entries.length || journals.unparseable > 0) result.failed = true;
  return result;
}
