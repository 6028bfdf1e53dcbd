/**
 * The bookkeeping of a state directory's journal folder: which journals still wait for
 * PostgreSQL, which are done (the `<run>.shipped` mark, written only by a shipper whose shipped
 * lines held the run's final version: journal-end.ts), when a done one may go, and the lock
 * that keeps shipping to one process at a time.
 *
 * Retention: a journal with its mark is removed once the mark is older than the retention period;
 * a journal without it is never removed, whatever its age, since it may hold the only copy of a
 * record, except an empty one that its wrapper left without a line (removeAbandonedJournals). The
 * files set aside in `<state>/rejected` are never removed: they wait for an operator.
 */
import { existsSync, lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { anyProcessWritesTo } from '../proc/identity.js';
import { inInitialPidNamespace } from '../proc/system.js';
import { journalFinished } from './journal-end.js';
import { markerPath } from './markers.js';
import { replaceStateFile } from './state-file.js';

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

/**
 * The unshipped journals that end with their run's final version: those a shipper can finish and
 * mark. A journal still being written, or one whose wrapper died before its last line (a reaper
 * adds that line), is not among them, whether or not its run has a marker.
 */
export function finishedUnshippedJournals(stateDir: string): string[] {
  return unshippedJournals(stateDir).filter(journalFinished);
}

/** The path of the mark that says all of `journal` is in PostgreSQL. */
export function shippedMarkPath(journal: string): string {
  return `${journal.slice(0, -'.jsonl'.length)}.shipped`;
}

/**
 * Marks `journal` shipped: an empty file, 0600, put in place by rename (replaceStateFile), so a
 * symlink or hard link planted at the mark's name is replaced, and the file it names never truncated.
 * @throws the file system's error (a full disk)
 */
export function markShipped(journal: string): void {
  replaceStateFile(shippedMarkPath(journal), '');
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
      // The mark's own age: a symlink is not followed to some file's.
      if (nowMs - lstatSync(markPath).mtimeMs < retentionMs) continue;
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

/**
 * How old an empty journal must be before removeAbandonedJournals looks at it, milliseconds. Its
 * wrapper creates it with O_EXCL and holds it open until it exits, but the name is in the folder a
 * moment before the descriptor is in /proc/PID/fd (open(2) installs it last): a journal this old is
 * past that moment, so a writer, if there is one, shows.
 */
export const ABANDONED_JOURNAL_AGE_MS = 5000;

/**
 * Removes the empty journals of `stateDir` that no process writes to, that have no run marker, and
 * that are older than ABANDONED_JOURNAL_AGE_MS: a wrapper killed between creating its journal and
 * writing its marker (launch.ts) leaves one. It holds no record, and no reaper will ever add a line
 * (a reaper finds runs by their markers), so no shipper could mark it: it would wait forever.
 * Removing it loses nothing. A file with a line, a marker, or a writer (any process with it open
 * for writing, anyProcessWritesTo; a process whose descriptors we may not read counts as one) is
 * left alone, and so is every file when we run in a PID namespace other than the initial one.
 * Call it under the ship lock.
 * @returns the journals removed
 */
export function removeAbandonedJournals(stateDir: string, nowMs = Date.now()): string[] {
  const removed: string[] = [];
  // In another PID namespace a writer of the host would be out of sight: only a shipper that sees
  // every process (the initial namespace) may conclude there is none.
  if (!inInitialPidNamespace()) return removed;
  for (const journal of unshippedJournals(stateDir)) {
    try {
      const stat = lstatSync(journal);
      if (!stat.isFile() || stat.size !== 0 || nowMs - stat.mtimeMs < ABANDONED_JOURNAL_AGE_MS) continue;
      const name = journal.slice(journal.lastIndexOf('/') + 1);
      if (existsSync(markerPath(stateDir, name.split('.')[0])) || anyProcessWritesTo(`/journal/${name}`, { unreadableWrites: true })) continue;
      rmSync(journal);
      removed.push(journal);
    } catch {
      // Gone already, or a name that is no run id (markerPath refuses it): left for an operator.
    }
  }
  return removed;
}
