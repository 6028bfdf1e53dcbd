// Measure 2: footprint. N wrappers at once (`bin/scidex-run --quiet --sample-interval 0 -- sleep 60`,
// the default backend) beside N idle Node processes (`node -e 'setTimeout(()=>{},60000)'`), started
// interleaved in the same run, so both share the node binary's pages with the same neighbours.
//
// Ready means: every wrapper has its leader `sleep` as a child, every node is alive. The wrapper
// still grows after that (it loads its FFI once a run has lived 250 ms), so memory is read every
// POLL_MS until the summed PSS of each group moves by less than STABLE_FRACTION between two reads
// (at most SETTLE_CAP_MS); the report says how long that took. A wrapper counts with its helpers
// (its direct children but the leader: the lifeline `sh`); the leader is the job, not the cost.
//
// Then the wrappers get SIGTERM one by one by (pid, starttime) (the product cancels its run and
// exits), the nodes too; each must exit within EXIT_WAIT_MS, and leaders and helpers must be gone.
import { setTimeout as sleep } from 'node:timers/promises';
import { signalMember } from '../../../src/terminate/guard.js';
import { log, newFolder, RUN_BIN } from '../common/context.js';
import { start } from '../common/processes.js';
import { stderrGist } from './gist.js';
import { alive, identify, readMemory, treeMemory, wrapperTree, type Memory, type Proc, type WrapperTree } from './procfs.js';

const POLL_MS = 500;
const STABLE_FRACTION = 0.01;
const SETTLE_CAP_MS = 15_000;
const READY_CAP_MS = 60_000;
const EXIT_WAIT_MS = 30_000;
export const IDLE_NODE_SCRIPT = 'setTimeout(()=>{},60000)';

export interface FootprintResult {
  count: number;
  /** Per wrapper: its own memory and its helpers' summed. */
  wrappers: { own: Memory; helpers: Memory; helperComms: string[] }[];
  nodes: Memory[];
  /** Last leader seen to the memory reads, ms. */
  readyMs: number;
  settledMs: number;
  settled: boolean;
  /** Exit codes of the wrappers after SIGTERM (counted), and of the nodes. */
  wrapperExits: Map<string, number>;
  nodeExits: Map<string, number>;
  /** What was still alive after the stop: wrappers, leaders, helpers, nodes (descriptions). */
  leftAlive: string[];
  stderr: string[];
  failed: boolean;
}

type Child = ReturnType<typeof start>;

const count = (map: Map<string, number>, key: string): void => void map.set(key, (map.get(key) ?? 0) + 1);

/** SIGTERM to each by identity, then waits for each child (at most EXIT_WAIT_MS); SIGKILL to any that did not exit. */
async function stopAll(entries: { proc: Proc; child: Child }[], exits: Map<string, number>): Promise<string[]> {
  for (const entry of entries) signalMember(entry.proc, 'SIGTERM');
  const stubborn: string[] = [];
  for (const entry of entries) {
    // An unref'd timer: a deadline still pending must not hold the process once all have exited.
    const exited = await Promise.race([entry.child.then(() => true), sleep(EXIT_WAIT_MS, false, { ref: false })]);
    if (!exited) {
      stubborn.push(`pid ${entry.proc.pid} did not exit within ${EXIT_WAIT_MS / 1000} s of SIGTERM (SIGKILLed)`);
      signalMember(entry.proc, 'SIGKILL');
    }
    const result = await entry.child;
    count(exits, result.signal ? `signal ${result.signal}` : `exit ${result.exitCode}`);
  }
  return stubborn;
}

export async function footprint(n: number): Promise<FootprintResult> {
  const stateDir = newFolder('footprint');
  const wrappers: { proc: Proc; child: Child; tree?: WrapperTree }[] = [];
  const nodes: { proc: Proc; child: Child }[] = [];
  const result: FootprintResult = {
    count: n, wrappers: [], nodes: [], readyMs: 0, settledMs: 0, settled: false,
    wrapperExits: new Map(), nodeExits: new Map(), leftAlive: [], stderr: [], failed: false,
  };
  try {
    for (let i = 0; i < n; i++) {
      const wrapper = start(RUN_BIN, ['--quiet', '--sample-interval', '0', '--', 'sleep', '60'], stateDir, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
      const node = start(process.execPath, ['-e', IDLE_NODE_SCRIPT], stateDir, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
      const [w, m] = [identify(wrapper.pid), identify(node.pid)];
      if (!w || !m) throw new Error(`a process exited at once (wrapper ${wrapper.pid}, node ${node.pid})`);
      wrappers.push({ proc: w, child: wrapper });
      nodes.push({ proc: m, child: node });
    }
    const t0 = performance.now();
    for (;;) {
      for (const entry of wrappers) {
        const tree = wrapperTree(entry.proc, 'sleep');
        if (tree.leader) entry.tree = tree;
      }
      if (wrappers.every((entry) => entry.tree) && nodes.every((entry) => alive(entry.proc))) break;
      const gone = [...wrappers, ...nodes].filter((entry) => !alive(entry.proc));
      if (gone.length > 0) throw new Error(`${gone.length} processes exited before all were up`);
      if (performance.now() - t0 > READY_CAP_MS) throw new Error(`not all ${n} wrappers had their leader within ${READY_CAP_MS / 1000} s`);
      await sleep(50);
    }
    const ready = performance.now();
    result.readyMs = ready - t0;
    log(`footprint: ${n} wrappers and ${n} nodes up after ${(result.readyMs / 1000).toFixed(1)} s; reading memory until it is steady`);
    // Re-read the children once all are up: a helper may have started after the leader was seen.
    for (const entry of wrappers) entry.tree = wrapperTree(entry.proc, 'sleep');
    const read = (): { w: ReturnType<typeof treeMemory>[]; m: (Memory | undefined)[] } => ({
      w: wrappers.map((entry) => treeMemory(entry.tree!)),
      m: nodes.map((entry) => readMemory(entry.proc)),
    });
    const sum = (values: (number | undefined)[]): number => values.reduce<number>((total, value) => total + (value ?? 0), 0);
    const totals = (sample: ReturnType<typeof read>): [number, number] => [
      sum(sample.w.map((memory) => memory && memory.own.pssBytes + memory.helpers.pssBytes)),
      sum(sample.m.map((memory) => memory?.pssBytes)),
    ];
    let sample = read();
    for (;;) {
      await sleep(POLL_MS);
      const next = read();
      const [a, b] = [totals(sample), totals(next)];
      sample = next;
      const steady = a.every((value, i) => Math.abs(b[i] - value) <= STABLE_FRACTION * value);
      if (steady || performance.now() - ready > SETTLE_CAP_MS) {
        result.settled = steady;
        break;
      }
    }
    result.settledMs = performance.now() - ready;
    if (sample.w.some((memory) => !memory) || sample.m.some((memory) => !memory)) throw new Error('a process exited while its memory was read');
    result.wrappers = sample.w.map((memory, i) => ({ ...memory!, helperComms: wrappers[i].tree!.helpers.map((helper) => helper.comm) }));
    result.nodes = sample.m.map((memory) => memory!);
  } catch (error) {
    result.failed = true;
    result.stderr.push(`footprint failed: ${(error as Error).message}`);
  }
  const stubborn = [...(await stopAll(wrappers, result.wrapperExits)), ...(await stopAll(nodes, result.nodeExits))];
  await sleep(200);
  const rest = wrappers.flatMap((entry) => [...(entry.tree?.leader ? [['leader', entry.tree.leader] as const] : []), ...(entry.tree?.helpers ?? []).map((helper) => [helper.comm, helper] as const)]);
  const left = [...wrappers.map((entry) => ['wrapper', entry.proc] as const), ...nodes.map((entry) => ['node', entry.proc] as const), ...rest]
    .filter(([, proc]) => alive(proc))
    .map(([what, proc]) => `${what} pid ${proc.pid}`);
  result.leftAlive = [...stubborn, ...left];
  if (result.leftAlive.length > 0) result.failed = true;
  const stderr = await Promise.all([...wrappers, ...nodes].map(async (entry) => String((await entry.child).stderr ?? '').trim()));
  result.stderr.push(...stderr.filter(Boolean).map(stderrGist));
  return result;
}
