// Measure 1: start-up. `bin/scidex-run --quiet -- true` (the host's default backend) and
// `--tracking B --quiet -- true` for each available backend, beside `node -e 0` (the floor of any
// Node program) and `timeout 10 true` (the classic wrapper), interleaved in rounds whose order
// rotates, so a slow spell of the shared machine falls on every variant alike.
//
// Wall time is spawn to exit as this process sees it (performance.now() around execa, the same
// overhead for all). CPU time is getrusage(RUSAGE_CHILDREN) before and after (rusage.ts): the
// command and the children it waited for. One command runs at a time, nothing else of ours meanwhile.
import { newFolder, RUN_BIN } from '../common/context.js';
import { start } from '../common/processes.js';
import { childrenCpu } from './rusage.js';

export interface Variant {
  /** What the report shows, e.g. `scidex-run --tracking cgroup --quiet -- true`. */
  label: string;
  file: string;
  args: string[];
  /** scidex-run (the default backend) or node: the two the ratio compares. */
  role?: 'ours' | 'node';
}

export interface StartupRun {
  wallMs: number;
  /** User + system CPU of the command and its waited-for children, ms; undefined without getrusage. */
  cpuMs?: number;
  exitCode: number | undefined;
  stderr: string;
}

export function variants(backends: readonly string[]): Variant[] {
  return [
    { label: 'scidex-run --quiet -- true', file: RUN_BIN, args: ['--quiet', '--', 'true'], role: 'ours' },
    ...backends.map((backend) => ({ label: `scidex-run --tracking ${backend} --quiet -- true`, file: RUN_BIN, args: ['--tracking', backend, '--quiet', '--', 'true'] })),
    { label: 'node -e 0', file: process.execPath, args: ['-e', '0'], role: 'node' as const },
    { label: 'timeout 10 true', file: 'timeout', args: ['10', 'true'] },
  ];
}

async function once(variant: Variant, stateDir: string): Promise<StartupRun> {
  const cpu0 = childrenCpu();
  const t0 = performance.now();
  const result = await start(variant.file, variant.args, stateDir, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
  const wallMs = performance.now() - t0;
  const cpu1 = childrenCpu();
  const cpuMs = cpu0 && cpu1 ? cpu1.userMs - cpu0.userMs + cpu1.sysMs - cpu0.sysMs : undefined;
  return { wallMs, cpuMs, exitCode: result.exitCode, stderr: String(result.stderr ?? '') };
}

/** `rounds` rounds of every variant, order rotating each round; all wrapped runs share one state directory. */
export async function startup(list: readonly Variant[], rounds: number): Promise<Map<Variant, StartupRun[]>> {
  const stateDir = newFolder('startup');
  const runs = new Map(list.map((variant) => [variant, [] as StartupRun[]]));
  // One untimed run of each first: the page cache and the dynamic loader are warm for all alike.
  for (const variant of list) await once(variant, stateDir);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < list.length; i++) {
      const variant = list[(round + i) % list.length];
      runs.get(variant)!.push(await once(variant, stateDir));
    }
  }
  return runs;
}
