// Part 2 of the settle benchmark: the wall time of each fixture bare and under
// `bin/scidex-run --quiet --tracking B --` for each backend, interleaved in one process (the order
// rotates each round, so a slow spell of the shared machine falls on every variant alike).
//
// Bare: the fixture itself, from spawn to its exit (what a shell would show). Wrapped: scidex-run,
// from spawn to its exit, so the time to handle the leftovers is in it. Each wrapped run has a state
// directory of its own; its journal says what the current product did with the leftovers
// (orphan_found, signal_sent and process_killed events).
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { readJournal } from '../../../src/record/journal.js';
import type { EventRecord } from '../../../src/record/types.js';
import { newFolder, RUN_BIN } from '../common/context.js';
import { start } from '../common/processes.js';

/** One timed run. */
export interface TimedRun {
  /** Spawn to exit, ms. */
  wallMs: number;
  exitCode: number | undefined;
  /** For a wrapped run: its journal's orphan_found, signal_sent and process_killed events. */
  orphans?: number;
  signals?: number;
  kills?: number;
  /** What the run printed on stderr, when anything. */
  stderr: string;
}

/** `variant` is 'bare' or a backend. */
async function timed(argv: readonly string[], variant: string): Promise<TimedRun> {
  const stateDir = newFolder(variant);
  const [file, args] = variant === 'bare' ? [argv[0], argv.slice(1)] : [RUN_BIN, ['--quiet', '--tracking', variant, '--', ...argv]];
  const t0 = performance.now();
  const result = await start(file, args, stateDir, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
  const wallMs = performance.now() - t0;
  const run: TimedRun = { wallMs, exitCode: result.exitCode, stderr: String(result.stderr ?? '') };
  if (variant !== 'bare') {
    const dir = join(stateDir, 'journal');
    const files = readdirSync(dir).filter((name) => name.endsWith('.jsonl'));
    const events = files.flatMap((name) => readJournal(join(dir, name)).entries.filter((entry) => entry.table === 'events').map((entry) => entry.record as EventRecord));
    const count = (kind: string): number => events.filter((event) => event.kind === kind).length;
    Object.assign(run, { orphans: count('orphan_found'), signals: count('signal_sent'), kills: count('process_killed') });
  }
  return run;
}

/**
 * `rounds` rounds of bare plus every backend, in rotating order.
 * @returns the runs of each variant ('bare', then the backends), in the order given
 */
export async function overhead(argv: readonly string[], backends: readonly string[], rounds: number): Promise<Map<string, TimedRun[]>> {
  const variants = ['bare', ...backends];
  const runs = new Map(variants.map((variant) => [variant, [] as TimedRun[]]));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(round + i) % variants.length];
      runs.get(variant)!.push(await timed(argv, variant));
    }
  }
  return runs;
}
