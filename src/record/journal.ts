/**
 * The per-run journal: an append-only file of JSON lines, the first store of every record. It is
 * the outbox PostgreSQL is fed from, so a database outage loses nothing: whatever was not shipped
 * stays here, keyed by UUIDs, for whoever ships next. fsync happens at lifecycle points (start,
 * limit exceeded, end), not on every line: a crash of the host may lose the lines of the last
 * seconds, never a finished run.
 */
import { closeSync, constants, fsyncSync, openSync, writeSync } from 'node:fs';
import { readStateFile } from './state-file.js';
import { join } from 'node:path';
import { UsageError } from '../config/errors.js';
import type { JournalEntry } from './types.js';

export class Journal {
  private constructor(
    /** Absolute path of the journal file. */
    readonly path: string,
    private fd: number,
    /** Entries the file held when it was opened (a reaper continues a dead wrapper's journal). */
    readonly initialEntries = 0,
  ) {}

  /**
   * Creates `<journalDir>/<runId>.jsonl`, mode 0600; it must not exist yet.
   * @throws UsageError when it cannot be created
   */
  static create(journalDir: string, runId: string): Journal {
    const path = join(journalDir, `${runId}.jsonl`);
    try {
      return new Journal(path, openSync(path, 'wx', 0o600));
    } catch (error) {
      throw new UsageError(`cannot create journal '${path}': ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  }

  /**
   * Opens an existing journal to append to it (the reaper finishing a run whose wrapper died).
   * @throws UsageError when it cannot be opened
   */
  static reopen(path: string): Journal {
    try {
      // Read first: readJournal refuses what is not a regular file, and open(2) for writing would
      // block on a FIFO until some reader came.
      const initialEntries = readJournal(path).entries.length;
      const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      return new Journal(path, fd, initialEntries);
    } catch (error) {
      throw new UsageError(`cannot open journal '${path}': ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  }

  /**
   * Appends one entry as one line; with `sync`, fsyncs it to disk before returning. A failed write
   * (a full disk) is reported once through `onError` and never thrown: losing a record must not
   * cost the analysis its supervisor.
   */
  append(entry: JournalEntry, sync = false): void {
    try {
      writeSync(this.fd, JSON.stringify(entry) + '\n');
      if (sync) fsyncSync(this.fd);
    } catch (error) {
      if (!this.failed) this.onError(`cannot write the journal ${this.path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
      this.failed = true;
    }
  }

  /** Where a failed write is reported; set by the owner. */
  onError: (message: string) => void = () => undefined;
  private failed = false;

  close(): void {
    if (this.fd < 0) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** A line of a journal that could not be read back. */
export interface BadJournalLine {
  line: number;
  text: string;
}

/**
 * Reads a journal file. Lines that are not JSON (a torn last line after a crash) are returned
 * apart, with their 1-based line numbers, never thrown.
 */
export function readJournal(path: string): { entries: JournalEntry[]; bad: BadJournalLine[] } {
  const entries: JournalEntry[] = [];
  const bad: BadJournalLine[] = [];
  readStateFile(path)
    .split('\n')
    .forEach((text, index) => {
      if (text === '') return;
      try {
        entries.push(JSON.parse(text) as JournalEntry);
      } catch {
        bad.push({ line: index + 1, text: text.slice(0, 200) });
      }
    });
  return { entries, bad };
}
