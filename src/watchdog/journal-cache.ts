/**
 * What the daemon knows of the journals of its state directory, kept up to date cheaply. Journals
 * are append-only, so each one is read from where the last read stopped (the byte after its last
 * complete line): a scrape of /status or /metrics reads only what was appended since the previous
 * one, and an unchanged journal (same size) costs one stat. A journal marked shipped
 * (`<run>.shipped`) is finished and is not even stat'ed again. A journal that shrank or was replaced
 * (another inode) is read again from its start.
 *
 * Per journal only a summary is kept, never the whole file: the winning run row (run-version.ts),
 * the latest sample, whether a signal was sent and the run finished, and the last few events worth
 * showing. A run may have several journals (the reaper's `<run>.reaped-<ms>.jsonl`): the views
 * below fold them by run id.
 */
import { closeSync, fstatSync, readdirSync, readSync } from 'node:fs';
import { openStateFile } from '../record/state-file.js';
import { join } from 'node:path';
import { supersedes } from '../record/run-version.js';
import { NOTABLE_KINDS } from '../record/event-kinds.js';
import type { EventRecord, JournalEntry, RunRecord, SampleRecord } from '../record/types.js';

/** Events kept per journal for recent_events; /status shows 20 in all. */
const NOTABLE_PER_JOURNAL = 20;

/** Whether an event belongs in recent_events: a notable kind, and a run_finished only when the run did not complete. */
export function isNotable(event: Pick<EventRecord, 'kind' | 'detail'>): boolean {
  if (!NOTABLE_KINDS.has(event.kind)) return false;
  return event.kind !== 'run_finished' || (event.detail as { status?: unknown } | null)?.status !== 'completed';
}

/** The summary of one run as its journal(s) tell it. */
export interface RunFacts {
  /** The winning version of its row, when one was journaled. */
  run?: RunRecord;
  /** The newest sample (by `at`). */
  sample?: SampleRecord;
  /** Reasons of the signal_sent events (timeout, memory, orphans, cancelled, wrapper_gone, ...). */
  signalReasons: Set<string>;
  /** Time of the newest kill of its tree, ms since the epoch: a signal_sent event, or the kernel's OOM kill (kernel_oom_kill). */
  lastKillAtMs?: number;
  /** A run_finished or run_lost event was journaled. */
  finishedEvent: boolean;
}

interface JournalState {
  ino: number;
  /** Bytes consumed: everything up to and including the last complete line. */
  offset: number;
  size: number;
  /** Marked shipped when last listed: no need to stat it again. */
  shipped: boolean;
  runs: Map<string, RunFacts>;
  /** The newest notable events of the journal, oldest first. */
  notable: EventRecord[];
}

function emptyFacts(): RunFacts {
  return { signalReasons: new Set(), finishedEvent: false };
}

/** Incrementally read summaries of `<stateDir>/journal/*.jsonl`. Not thread-safe; one per daemon. */
export class JournalCache {
  private journals = new Map<string, JournalState>();

  constructor(readonly stateDir: string) {}

  /**
   * Brings the cache up to date with the journal folder: new journals are read, grown ones read
   * from where they stopped, removed ones forgotten. Unreadable files are skipped (next time).
   */
  refresh(): void {
    const dir = join(this.stateDir, 'journal');
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      this.journals.clear();
      return;
    }
    const present = new Set(names);
    const seen = new Set<string>();
    for (const name of names) {
      if (!name.endsWith('.jsonl')) continue;
      const path = join(dir, name);
      seen.add(path);
      const shipped = present.has(`${name.slice(0, -'.jsonl'.length)}.shipped`);
      const state = this.journals.get(path);
      // A shipped journal belongs to a finished run: nothing more is appended to it.
      if (state?.shipped && shipped) continue;
      this.read(path, state, shipped);
    }
    for (const path of this.journals.keys()) if (!seen.has(path)) this.journals.delete(path);
  }

  private read(path: string, previous: JournalState | undefined, shipped: boolean): void {
    let fd: number;
    try {
      fd = openStateFile(path);
    } catch {
      return;
    }
    try {
      const stat = fstatSync(fd);
      let state = previous;
      if (!state || state.ino !== stat.ino || stat.size < state.offset) {
        state = { ino: stat.ino, offset: 0, size: 0, shipped, runs: new Map(), notable: [] };
        this.journals.set(path, state);
      }
      state.shipped = shipped;
      if (stat.size === state.size) return;
      state.size = stat.size;
      const length = stat.size - state.offset;
      if (length <= 0) return;
      const buffer = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, buffer, got, length - got, state.offset + got);
        if (n === 0) break;
        got += n;
      }
      // Only complete lines: a line being written (or torn by a crash) waits for its newline.
      const end = buffer.lastIndexOf(0x0a, got - 1);
      if (end < 0) return;
      state.offset += end + 1;
      for (const line of buffer.subarray(0, end).toString('utf8').split('\n')) {
        if (line === '') continue;
        let entry: JournalEntry;
        try {
          entry = JSON.parse(line) as JournalEntry;
        } catch {
          continue; // `scidex-watchdog ship` is where bad lines are reported.
        }
        fold(state, entry);
      }
    } catch {
      // Removed or unreadable meanwhile: the next refresh tries again.
    } finally {
      closeSync(fd);
    }
  }

  /** The facts of one run, folded over all its journals; undefined when no journal names it. */
  facts(runId: string): RunFacts | undefined {
    let folded: RunFacts | undefined;
    for (const state of this.journals.values()) {
      const facts = state.runs.get(runId);
      if (facts) folded = merge(folded, facts);
    }
    return folded;
  }

  /** Every run the journals name, with its folded facts. */
  allRuns(): Map<string, RunFacts> {
    const all = new Map<string, RunFacts>();
    for (const state of this.journals.values()) {
      for (const [runId, facts] of state.runs) all.set(runId, merge(all.get(runId), facts));
    }
    return all;
  }

  /** The newest `limit` notable events of all journals, newest first (ties: id). */
  recentEvents(limit: number): EventRecord[] {
    const events = [...this.journals.values()].flatMap((state) => state.notable);
    return newestFirst(events).slice(0, limit);
  }

  /** How many journals are cached (for tests and the curious). */
  get size(): number {
    return this.journals.size;
  }
}

/** Events sorted newest first, ties broken by id descending (as the database listing does). */
export function newestFirst(events: EventRecord[]): EventRecord[] {
  return [...events].sort((a, b) => Date.parse(b.at) - Date.parse(a.at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

function merge(into: RunFacts | undefined, facts: RunFacts): RunFacts {
  if (!into) return { ...facts, signalReasons: new Set(facts.signalReasons) };
  const run = !into.run || (facts.run && supersedes(facts.run, into.run)) ? (facts.run ?? into.run) : into.run;
  const sample = !into.sample || (facts.sample && facts.sample.at > into.sample.at) ? (facts.sample ?? into.sample) : into.sample;
  const lastKill = Math.max(into.lastKillAtMs ?? -Infinity, facts.lastKillAtMs ?? -Infinity);
  return {
    run,
    sample,
    signalReasons: new Set([...into.signalReasons, ...facts.signalReasons]),
    lastKillAtMs: Number.isFinite(lastKill) ? lastKill : undefined,
    finishedEvent: into.finishedEvent || facts.finishedEvent,
  };
}

function factsOf(state: JournalState, runId: string): RunFacts {
  let facts = state.runs.get(runId);
  if (!facts) state.runs.set(runId, (facts = emptyFacts()));
  return facts;
}

function fold(state: JournalState, entry: JournalEntry): void {
  if (!entry || typeof entry !== 'object' || !entry.record) return;
  switch (entry.table) {
    case 'runs': {
      const facts = factsOf(state, entry.record.id);
      if (!facts.run || supersedes(entry.record, facts.run)) facts.run = entry.record;
      return;
    }
    case 'samples': {
      const facts = factsOf(state, entry.record.run_id);
      if (!facts.sample || entry.record.at >= facts.sample.at) facts.sample = entry.record;
      return;
    }
    case 'events': {
      const event = entry.record;
      const facts = factsOf(state, event.run_id);
      if (event.kind === 'signal_sent') facts.signalReasons.add(event.reason ?? 'unknown');
      if (event.kind === 'signal_sent' || event.kind === 'kernel_oom_kill') facts.lastKillAtMs = Math.max(facts.lastKillAtMs ?? 0, Date.parse(event.at));
      if (event.kind === 'run_finished' || event.kind === 'run_lost') facts.finishedEvent = true;
      if (isNotable(event)) {
        state.notable.push(event);
        if (state.notable.length > NOTABLE_PER_JOURNAL) state.notable.splice(0, state.notable.length - NOTABLE_PER_JOURNAL);
      }
      return;
    }
    default:
      // processes: not needed for the status.
      return;
  }
}
