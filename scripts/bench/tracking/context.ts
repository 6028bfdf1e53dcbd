// What every part of the tracking benchmark shares: where things are, the bench tag, the work folder
// and the environment each child gets.
//
// ROOT is resolved from the bundle, not from this file: run.mjs bundles this folder into
// dist/bench/tracking.mjs, two levels below the root (run it through run.mjs, not from source).
// Every child carries SCIDEX_BENCH_TAG=<uuid>, so a survivor that left its pidfile behind is still
// found in /proc; no database, no outer run and no run id of ours leaks into it.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readStat } from '../../../src/proc/stat.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'bin/scidex-run');

const TAG_NAME = 'SCIDEX_BENCH_TAG';
const TAG_VALUE = randomUUID();
/** The environment entry every process we start carries. */
export const TAG = `${TAG_NAME}=${TAG_VALUE}`;
/** Pidfiles, stderr files and CLI state folders; removed at the end. */
export const WORK = mkdtempSync(join(tmpdir(), 'scidex-bench-tracking-'));
/** Processes older than this process are never members of a run it starts. */
export const OWN_STARTTIME = readStat(process.pid)!.starttime;

/** Our environment for every child: no database, no outer run, our tag, no .pyc written into scripts/zoo. */
export const baseEnv: NodeJS.ProcessEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', [TAG_NAME]: TAG_VALUE };
for (const name of Object.keys(baseEnv)) {
  if (name === 'DATABASE_URL' || name.startsWith('PG') || name.startsWith('SCIDEX_RUN') || name === 'SCIDEX_ANALYSIS_ID') delete baseEnv[name];
}

export const log = (line: string): void => void process.stderr.write(`bench(tracking): ${line}\n`);
/** Wall-clock milliseconds with sub-millisecond resolution, comparable with the journal's timestamps. */
export const wallMs = (): number => performance.timeOrigin + performance.now();
