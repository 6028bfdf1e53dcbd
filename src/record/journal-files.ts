/**
 * The bookkeeping of a state directory's journal folder: which journals still wait for
 * PostgreSQL, which are done (the `<run>.shipped` mark, written once every line of a finished run
 * is in), when a done one may go, and the lock that keeps shipping to one process at a time.
 *
 * Retention: a journal with its mark is removed once the mark is older than the retention period;
 * a journal without it is never removed, whatever its age, since it may hold the only copy of a
 * record. The files set aside in `<state>/rejected` are never removed either: they wait for an
 * operator.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { markerPath } from './markers.js';

/** The lock that keeps shipping of a state directory to one process at a time (lock-file.ts). */
export function shipLockPath(stateDir: string): string {
  return join(stateDir, 'journal', '.ship.lock');
}

/** The journal folder and the names in it; none when it does not exist (yet) or cannot be read. */
function listing(stateDir: string): { dir: string; names: string[] } {
  const dir = join(stateDir, 'journal');
  try {
    return { dir, names: readdirSync(dir) };
  } catch {
    return { dir, names: [] };
  }
}

/** The journals of a state directory not yet marked shipped, oldest name first. */
export function unshippedJournals(stateDir: string): string[] {
  const { dir, names } = listing(stateDir);
  const present = new Set(names);
  return names
    .filter((name) => name.endsWith('.jsonl') && !present.has(`${name.slice(0, -'.jsonl'.length)}.shipped`))
    .sort()
    .map((name) => join(dir, name));
}

/** The run a journal belongs to: its name is `<run-id>[.suffix].jsonl`. */
export function journalRunId(journal: string): string {
  return basename(journal).split('.')[0];
}

/** Whether the run of `journal` still has its marker in `stateDir` (its wrapper has not ended). */
export function journalRunMarked(stateDir: string, journal: string): boolean {
  try {
    return existsSync(markerPath(stateDir, journalRunId(journal)));
  } catch {
    return false;
  }
}

/** The unshipped journals whose run is over: those a shipper can finish and mark. */
export function finishedUnshippedJournals(stateDir: string): string[] {
  return unshippedJournals(stateDir).filter((journal) => !journalRunMarked(stateDir, journal));
}

/**
 * Removes the shipped journals of `stateDir` marked more than `retentionMs` ago.
 * @returns the journals removed
 */
export function removeExpiredJournals(stateDir: string, retentionMs: number, nowMs = Date.now()): string[] {
  const { dir, names } = listing(stateDir);
  const removed: string[] = [];
  for (const mark of names.filter((name) => name.endsWith('.shipped'))) {
    const markPath = join(dir, mark);
    try {
      if (nowMs - statSync(markPath).mtimeMs < retentionMs) continue;
      const journal = join(dir, `${mark.slice(0, -'.shipped'.length)}.jsonl`);
      // The journal first: a crash between the two leaves a mark without a journal, harmless.
      rmSync(journal, { force: true });
      rmSync(markPath, { force: true });
      removed.push(journal);
    } catch {
      // Another sweep removed it first, or it is not ours to remove: the next sweep tries again.
    }
  }
  return removed;
}
