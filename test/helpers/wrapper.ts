/**
 * Runs the real bin/scidex-run as a user would, with a tag for survivor checks and a state
 * directory of the test's own.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { readJournal } from '../../src/record/journal.js';
import { armStallReport } from './stall.js';
import type { EventRecord, JournalEntry, ProcessRecord, RunRecord, SampleRecord } from '../../src/record/types.js';

export const BIN = fileURLToPath(new URL('../../bin/scidex-run', import.meta.url));
export const EXAMPLES = fileURLToPath(new URL('../../scripts/examples/', import.meta.url));

export interface WrapperOptions {
  tag: string;
  stateDir?: string;
  env?: Record<string, string | undefined>;
  /** Print what the wrapper is doing if it still runs after 30 s (test/helpers/stall.ts): for bounded runs only. */
  reportStall?: boolean;
  /** Runs `[...via, BIN, ...args]` instead of BIN: a program that sets something up and execs the wrapper (same pid). */
  via?: string[];
}

/** A fresh private state directory. */
export function newStateDir(): string {
  return mkdtempSync(join(tmpdir(), 'scidex-state-'));
}

/** Starts the wrapper; the caller awaits the returned promise (never rejects). */
export function startWrapper(args: string[], options: WrapperOptions): ResultPromise<{ reject: false; all: false }> {
  const stateDir = options.stateDir ?? newStateDir();
  const [file, ...rest] = [...(options.via ?? []), BIN, ...args];
  const wrapper = execa(file, rest, {
    reject: false,
    env: {
      SCIDEX_RUN_STATE_DIR: stateDir,
      DATABASE_URL: undefined,
      PGHOST: undefined,
      PGDATABASE: undefined,
      ...options.env,
      SCIDEX_TEST_TAG: options.tag,
    },
    stdin: 'ignore',
  }) as ResultPromise<{ reject: false; all: false }>;
  if (options.reportStall) wrapper.once('exit', armStallReport(wrapper.pid, stateDir));
  return wrapper;
}

/** journalOf, or undefined while the run has made no journal yet: for waiting on one. */
export function journalSoFar(stateDir: string): ReturnType<typeof journalOf> | undefined {
  try {
    return journalOf(stateDir);
  } catch {
    return undefined;
  }
}

/** The one journal in a state directory, split by table. */
export function journalOf(stateDir: string): { runs: RunRecord[]; events: EventRecord[]; processes: ProcessRecord[]; samples: SampleRecord[] } {
  const files = readdirSync(join(stateDir, 'journal')).filter((name) => name.endsWith('.jsonl'));
  if (files.length !== 1) throw new Error(`expected one journal in ${stateDir}, found ${files.length}`);
  const { entries } = readJournal(join(stateDir, 'journal', files[0]));
  const of = <T extends JournalEntry['table']>(table: T) =>
    entries.filter((entry) => entry.table === table).map((entry) => entry.record);
  return {
    runs: of('runs') as RunRecord[],
    events: of('events') as EventRecord[],
    processes: of('processes') as ProcessRecord[],
    samples: of('samples') as SampleRecord[],
  };
}
