/**
 * Records PostgreSQL refused (a value of the wrong type, a missing field, a run row its events
 * need): neither retried for ever nor dropped. Each goes, with the reason, to
 * `<state>/rejected/<journal name>` (JSON lines, 0600), where an operator can read, fix and
 * re-ship it; the rest of its journal ships as usual. Shipping a journal again never repeats a line.
 */
import { readStateFile, replaceStateFile } from './state-file.js';
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
 * Adds the rejections of `journalPath` not already set aside to its rejected file (0600, in a
 * `rejected/` made 0700 when missing: state-dir.ts). The file is rewritten whole and renamed into
 * place (replaceStateFile; one shipper at a time holds the ship lock): a symlink or hard link
 * planted at its name is replaced, never written through.
 * @returns the rejected file's path
 * @throws fs errors, StateDirRefusal (the caller reports them; the records stay in the journal)
 */
export function setAside(journalPath: string, rejections: readonly Rejection[]): string {
  const path = rejectedPathOf(journalPath);
  stateSubdir(dirname(dirname(journalPath)), 'rejected', true);
  const existing = readExisting(path);
  const known = new Set(parseLines(existing).map((line) => entryKey(line.entry)));
  const at = new Date().toISOString();
  const fresh = rejections.filter((rejection) => !known.has(entryKey(rejection.entry)));
  if (fresh.length > 0) {
    const text = fresh.map((rejection) => JSON.stringify({ ...rejection, journal: journalPath, rejected_at: at } satisfies RejectedLine) + '\n');
    const kept = existing === '' || existing.endsWith('\n') ? existing : `${existing}\n`;
    replaceStateFile(path, kept + text.join(''));
  }
  return path;
}

/** The rejected file's text; empty when there is none, or something that is not one of ours is at its name. */
function readExisting(path: string): string {
  try {
    return readStateFile(path);
  } catch {
    return '';
  }
}

function parseLines(text: string): RejectedLine[] {
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
