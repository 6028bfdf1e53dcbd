/**
 * Records PostgreSQL refused (a value of the wrong type, a missing field, a run row its events
 * need): neither retried for ever nor dropped. Each goes, with the reason, to
 * `<state>/rejected/<journal name>` (JSON lines, 0600), where an operator can read, fix and
 * re-ship it; the rest of its journal ships as usual. Shipping a journal again never repeats a line.
 */
import { closeSync, constants } from 'node:fs';
import { openStateFileForWriting, readStateFile, writeAll } from './state-file.js';
import { stateSubdir } from './state-dir.js';
import { basename, dirname, join } from 'node:path';
import type { JournalEntry } from './types.js';

/** A journal entry PostgreSQL refused. */
export interface Rejection {
  entry: JournalEntry;
  /** SQLSTATE (22xxx data exception, 23xxx integrity constraint violation), or `not_a_record`. */
  code: string;
  reason: string;
}

/** One line of a rejected file. */
interface RejectedLine extends Rejection {
  journal: string;
  rejected_at: string;
}

/** `<state>/rejected/<journal name>` for a journal at `<state>/journal/<name>`. */
export function rejectedPathOf(journalPath: string): string {
  return join(dirname(dirname(journalPath)), 'rejected', basename(journalPath));
}

/** What identifies an entry whatever its shape: the same entry refused twice is kept once. */
function entryKey(entry: JournalEntry): string {
  return JSON.stringify(entry);
}

/**
 * Appends the rejections of `journalPath` not already set aside, to a file made 0600 in a
 * `rejected/` made 0700 (state-dir.ts), neither followed when it is a symlink (state-file.ts).
 * @returns the rejected file's path
 * @throws fs errors, StateDirRefusal (the caller reports them; the records stay in the journal)
 */
export function setAside(journalPath: string, rejections: readonly Rejection[]): string {
  const path = rejectedPathOf(journalPath);
  stateSubdir(dirname(dirname(journalPath)), 'rejected', true);
  const known = new Set(
    readExisting(path).map((line) => entryKey(line.entry)),
  );
  const at = new Date().toISOString();
  const fresh = rejections.filter((rejection) => !known.has(entryKey(rejection.entry)));
  if (fresh.length > 0) {
    const text = fresh.map((rejection) => JSON.stringify({ ...rejection, journal: journalPath, rejected_at: at } satisfies RejectedLine) + '\n');
    const fd = openStateFileForWriting(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT);
    try {
      writeAll(fd, text.join(''));
    } finally {
      closeSync(fd);
    }
  }
  return path;
}

function readExisting(path: string): RejectedLine[] {
  let text: string;
  try {
    text = readStateFile(path);
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as RejectedLine];
      } catch {
        return [];
      }
    });
}
