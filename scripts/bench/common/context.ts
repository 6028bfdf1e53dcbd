// What the shipping and daemon parts of the benchmark share: where things are, the bench tag, the work
// folder, and the environment each child gets.
//
// ROOT is resolved from the bundle (dist/bench/<part>.mjs, two levels below the root), as in the
// tracking part: run it through scripts/bench/run.mjs, not from source. PART is the bundle's name
// (`shipping`, `daemon`): it names the work folder and prefixes the progress lines. Every child carries
// SCIDEX_BENCH_TAG=<uuid>, so a detached `scidex-watchdog ship` or a lifeline that outlived its
// wrapper is still found in /proc. No database, outer run or state folder of the caller leaks in.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RUN_BIN = join(ROOT, 'bin/scidex-run');
export const WATCHDOG_BIN = join(ROOT, 'bin/scidex-watchdog');
/** Which part this bundle is: `shipping` for dist/bench/shipping.mjs. */
export const PART = basename(fileURLToPath(import.meta.url), '.mjs');

const TAG_NAME = 'SCIDEX_BENCH_TAG';
const TAG_VALUE = randomUUID();
/** The environment entry every process we start carries. */
export const TAG = `${TAG_NAME}=${TAG_VALUE}`;
/** State folders and synthetic journals; removed at the end. */
export const WORK = mkdtempSync(join(tmpdir(), `scidex-bench-${PART}-`));

let folders = 0;
/** A fresh folder under WORK (a state dir of its own per measure). */
export function newFolder(label: string): string {
  return mkdtempSync(join(WORK, `${String(++folders).padStart(2, '0')}-${label}-`));
}

/** The environment of every child: our tag, this state dir and database, nothing of the caller's. */
export function childEnv(stateDir: string, databaseUrl?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, [TAG_NAME]: TAG_VALUE, SCIDEX_RUN_STATE_DIR: stateDir };
  for (const name of Object.keys(env)) {
    if (name === 'DATABASE_URL' || name.startsWith('PG') || (name.startsWith('SCIDEX_RUN') && name !== 'SCIDEX_RUN_STATE_DIR') || name === 'SCIDEX_ANALYSIS_ID') {
      delete env[name];
    }
  }
  if (databaseUrl !== undefined) env.DATABASE_URL = databaseUrl;
  return env;
}

export const log = (line: string): void => void process.stderr.write(`bench(${PART}): ${line}\n`);
/** Wall-clock milliseconds with sub-millisecond resolution, comparable with the journal's `at`. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

/**
 * Runs one measure with progress lines on stderr, and notes its duration and the 1-minute load
 * average before and after in `notes` (the report prints them under its table).
 */
export function stepper(notes: string[]): <T>(name: string, work: () => Promise<T>) => Promise<T> {
  return async (name, work) => {
    const [t0, load0] = [performance.now(), loadavg()[0]];
    log(`${name}...`);
    const result = await work();
    const took = `${((performance.now() - t0) / 1000).toFixed(1)} s`;
    log(`${name}: ${took}`);
    notes.push(`- ${name}: took ${took}; 1-minute load average ${load0.toFixed(1)} at its start, ${loadavg()[0].toFixed(1)} at its end`);
    return result;
  };
}
