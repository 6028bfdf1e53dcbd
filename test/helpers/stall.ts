/**
 * Evidence for a wrapper that runs far longer than its test allows. A test timeout says only that
 * the time ran out; this prints, while the wrapper is still there, what it and its tree are doing:
 * the wrapper's state and kernel wait channel, its children, the processes still in its run (or
 * named by the caller), and the events it journaled so far.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJournal } from '../../src/record/journal.js';

/** A wrapper still running after this long is far past the limits of any test that starts one. */
export const STALL_REPORT_MS = 30_000;

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    return `(${(error as NodeJS.ErrnoException).code})`;
  }
}

/** `pid (comm) state ppid pgid wchan=...` of a process. */
function describe(pid: number): string {
  return `${read(`/proc/${pid}/stat`).split(' ').slice(0, 5).join(' ')} wchan=${read(`/proc/${pid}/wchan`)}`;
}

/**
 * Arms a report for a wrapper: printed to stderr (vitest shows it with the test) if the wrapper
 * has not exited after STALL_REPORT_MS. The timer never keeps the test process alive.
 * @param processes more pids to describe (a zoo test's pidfile)
 * @returns the function that disarms it
 */
export function armStallReport(wrapperPid: number | undefined, stateDir: string, processes: () => number[] = () => []): () => void {
  const timer = setTimeout(() => console.error(stallReport(wrapperPid, stateDir, processes())), STALL_REPORT_MS);
  timer.unref();
  return () => clearTimeout(timer);
}

function stallReport(wrapperPid: number | undefined, stateDir: string, others: number[]): string {
  const lines = [`wrapper ${wrapperPid} still running after ${STALL_REPORT_MS} ms (state directory ${stateDir})`];
  if (wrapperPid) {
    lines.push(`wrapper: ${describe(wrapperPid)}`);
    const tids = existsSync(`/proc/${wrapperPid}/task`) ? readdirSync(`/proc/${wrapperPid}/task`) : [];
    const children = tids.flatMap((tid) => read(`/proc/${wrapperPid}/task/${tid}/children`).split(' ')).filter((word) => /^\d+$/.test(word));
    for (const child of children) lines.push(`  child ${describe(Number(child))}`);
  }
  for (const pid of others.slice(0, 40)) lines.push(`  process ${describe(pid)}`);
  const journals = existsSync(join(stateDir, 'journal')) ? readdirSync(join(stateDir, 'journal')).filter((name) => name.endsWith('.jsonl')) : [];
  for (const name of journals) {
    const entries = readJournal(join(stateDir, 'journal', name)).entries;
    const run = entries.filter((entry) => entry.table === 'runs').at(-1)?.record;
    if (run && 'cgroup_path' in run && run.cgroup_path) lines.push(`  cgroup ${run.cgroup_path}: ${read(join(run.cgroup_path, 'cgroup.events')).replace(/\n/g, ', ')}; procs [${read(join(run.cgroup_path, 'cgroup.procs')).replace(/\n/g, ' ')}]`);
    for (const entry of entries) {
      if (entry.table !== 'events' || entry.record.kind === 'process_killed') continue;
      const event = entry.record;
      lines.push(`  event ${event.at} ${event.kind} ${event.signal ?? ''} ${JSON.stringify(event.detail ?? {}).slice(0, 200)}`);
    }
  }
  return lines.join('\n');
}
