/**
 * When a journal is finished: the records protocol (docs/records.md). Every writer of a journal
 * (the wrapper, a reaper finishing a run whose wrapper died) writes the run row's final version,
 * a status other than `running`, as its very last line, and nobody writes after it. So a journal
 * is finished exactly when its last version of the run row is a final one, and a shipper that
 * shipped the lines it read holds every line of the run once those lines hold it. Nothing else is
 * evidence: neither the absence of the run's marker (the marker is written after the journal, and
 * removed after the last line) nor the journal's age.
 */
import { closeSync, fstatSync, readSync } from 'node:fs';
import { openStateFile } from './state-file.js';
import type { JournalEntry } from './types.js';

/** Whether `entry` is a version of the run row that ends the run (any status but `running`). */
export function isFinalRunVersion(entry: JournalEntry | undefined): boolean {
  return entry?.table === 'runs' && typeof entry.record === 'object' && entry.record !== null && entry.record.status !== 'running';
}

/**
 * Whether the entries read from a journal, in file order, hold the run's end: their last version
 * of the run row is a final one. Whoever shipped all of them shipped the whole run: its writers
 * write nothing after the final version, so a line that follows it (one a user appended) was read
 * with it.
 */
export function entriesFinished(entries: readonly JournalEntry[]): boolean {
  for (let index = entries.length - 1; index >= 0; index--) if (entries[index]?.table === 'runs') return isFinalRunVersion(entries[index]);
  return false;
}

/** First read from the end of the file, bytes: a run row is well under it, so one read is the rule. */
const TAIL_BYTES = 64 * 1024;

/**
 * Whether the journal file at `path` is finished, read cheaply: its last line is complete (the file
 * ends with a newline) and is a final run version, as every writer leaves it. Reads only the file's
 * tail, so a start sweep can ask it of every waiting journal, a month-long run's too. Conservative:
 * a journal with lines a user appended after the end is finished for a shipment (entriesFinished)
 * but not here.
 * @returns false for a file that cannot be read (missing, not a regular file) or is empty
 */
export function journalFinished(path: string): boolean {
  let fd: number;
  try {
    fd = openStateFile(path);
  } catch {
    return false;
  }
  try {
    const size = fstatSync(fd).size;
    for (let want = Math.min(size, TAIL_BYTES); want > 0; want = Math.min(size, want * 4)) {
      const tail = Buffer.alloc(want);
      const got = readSync(fd, tail, 0, want, size - want);
      const text = tail.subarray(0, got).toString('utf8');
      if (!text.endsWith('\n')) return false;
      const start = text.lastIndexOf('\n', text.length - 2);
      if (start < 0 && want < size) continue;
      try {
        return isFinalRunVersion(JSON.parse(text.slice(start + 1, -1)) as JournalEntry);
      } catch {
        return false;
      }
    }
    return false;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
