// The processes this part starts, and how it makes sure none is left: wrappers and scidex-watchdog
// runs are ours by pid; what they start (lifelines, detached `scidex-watchdog ship` or `reap`) is
// ours by the bench tag. Leftovers are killed one by one by (pid, starttime) through the product's
// own signalMember (pidfds; never a pid <= 1, never a group); nothing is killed by name.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type Options } from 'execa';
import { hasEnvEntry } from '../../../src/proc/environ.js';
import { listPids } from '../../../src/proc/list.js';
import { isDead, readStat } from '../../../src/proc/stat.js';
import { signalMember } from '../../../src/terminate/guard.js';
import { childEnv, TAG } from './context.js';

interface Proc {
  pid: number;
  starttime: number;
}

/** Every process started here directly (wrappers and CLIs), by identity. */
const started: Proc[] = [];
function trackPid(pid: number | undefined): void {
  const stat = pid === undefined ? undefined : readStat(pid);
  if (stat) started.push({ pid: pid!, starttime: stat.starttime });
}

const alive = (proc: Proc): boolean => {
  const stat = readStat(proc.pid);
  return stat !== undefined && stat.starttime === proc.starttime && !isDead(stat);
};

/** Live processes of ours: those started here, plus any other carrying the tag. */
export function ours(): Proc[] {
  const tagged = listPids()
    .filter((pid) => pid > 1 && pid !== process.pid && hasEnvEntry(pid, TAG))
    .flatMap((pid) => {
      const stat = readStat(pid);
      return stat ? [{ pid, starttime: stat.starttime }] : [];
    });
  const all = new Map([...started, ...tagged].map((proc) => [`${proc.pid}:${proc.starttime}`, proc]));
  return [...all.values()].filter(alive);
}

export function describe(proc: Proc): string {
  let argv = '?';
  try {
    argv = readFileSync(`/proc/${proc.pid}/cmdline`, 'latin1').split('\0').filter(Boolean).join(' ');
  } catch {
    // gone meanwhile
  }
  return `pid ${proc.pid} \`${argv.slice(0, 120)}\``;
}

/**
 * Waits (at most `timeoutMs`) for every process of ours but `keep` to end by itself, then kills the
 * rest by pid. @returns descriptions of those that had to be killed, and of any still alive after
 */
export async function settle(timeoutMs: number, keep: readonly (number | undefined)[] = []): Promise<{ killed: string[]; alive: string[] }> {
  const mine = (): Proc[] => ours().filter((proc) => !keep.includes(proc.pid));
  const end = performance.now() + timeoutMs;
  while (mine().length > 0 && performance.now() < end) await sleep(50);
  const stubborn = mine();
  const killed = stubborn.map(describe);
  for (const proc of stubborn) signalMember(proc, 'SIGKILL');
  await sleep(200);
  return { killed, alive: mine().map(describe) };
}

export interface CliResult {
  exitCode: number | undefined;
  stderr: string;
}

/** Starts `file` with our environment (tag and state dir, no database of the caller's), tracked by pid. */
export function start<O extends Options>(file: string, args: readonly string[], stateDir: string, options: O, databaseUrl?: string) {
  const child = execa(file, args, { ...options, env: childEnv(stateDir, databaseUrl), extendEnv: false, reject: false } as const);
  trackPid(child.pid);
  return child;
}

/** Runs bin/scidex-run or bin/scidex-watchdog; never rejects. */
export async function runCli(bin: string, args: readonly string[], stateDir: string, databaseUrl?: string): Promise<CliResult> {
  const result = await start(bin, args, stateDir, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' }, databaseUrl);
  return { exitCode: result.exitCode, stderr: String(result.stderr ?? '') };
}

/**
 * Stderr lines of many CLI runs, grouped: ids, paths and numbers replaced, counted. The one-line
 * summary of a run that completed with status 0 is expected and left out.
 */
export function stderrSummary(results: readonly CliResult[]): string[] {
  const counts = new Map<string, number>();
  for (const line of results.flatMap((result) => result.stderr.split('\n'))) {
    if (line === '' || /^scidex-run: run \S+ completed: exit status 0 /.test(line)) continue;
    const shape = line
      .replace(/postgres(ql)?:\/\/\S+/g, '<url>')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>')
      .replace(/(?<![\w:])\/[^\s:,;)]+/g, '<path>')
      .replace(/\d+(\.\d+)?/g, 'N');
    counts.set(shape, (counts.get(shape) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([shape, n]) => `${n}× \`${shape}\``);
}
