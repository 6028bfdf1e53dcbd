/**
 * The per-run journal: an append-only file of JSON lines, the first store of every record. It is
 * the outbox PostgreSQL is fed from, so a database outage loses nothing: whatever was not shipped
 * stays here, keyed by UUIDs, for whoever ships next. fsync happens at lifecycle points (start,
 * limit exceeded, end), not on every line: a crash of the host may lose the lines of the last
 * seconds, never a finished run.
 */
import { closeSync, constants, fsyncSync, readFileSync, writeSync } from 'node:fs';
import { createStateFile, openStateFileForWriting, readStateFile } from './state-file.js';
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
   * Creates `<journalDir>/<runId>.jsonl`, mode 0600; nothing may be at its name yet, a symlink
   * included (createStateFile).
   * @throws UsageError when it cannot be created
   */
  static create(journalDir: string, runId: string): Journal {
    const path = join(journalDir, `${runId}.jsonl`);
    try {
      return new Journal(path, createStateFile(path));
    } catch (error) {
      throw new UsageError(`cannot create journal '${path}': ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  }

  /**
   * Opens an existing journal to append to it (the reaper finishing a run whose wrapper died, maybe
   * as root in a user's state directory): a regular file with one name, read and appended to through
   * one descriptor (openStateFileForWriting), so a symlink, FIFO or hard link at its name is refused.
   * @throws UsageError when it cannot be opened
   */
  static reopen(path: string): Journal {
    try {
      const fd = openStateFileForWriting(path, constants.O_RDWR | constants.O_APPEND);
      let text: string;
      try {
        // From offset 0: O_APPEND moves only writes to the end.
        text = readFileSync(fd, 'utf8');
      } catch (error) {
        closeSync(fd);
        throw error;
      }
      const journal = new Journal(path, fd, parseJournal(text).entries.length);
      // A dead wrapper's last line may be torn (a crash, a full disk): the next record starts a line of its own.
      journal.torn = text !== '' && !text.endsWith('\n');
      return journal;
    } catch (error) {
      throw new UsageError(`cannot open journal '${path}': ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  }

  /**
   * Appends one entry as one line; with `sync`, fsyncs it to disk before returning. A failed or
   * short write (a full disk) is reported once through `onError` and never thrown: losing a
   * record must not cost the analysis its supervisor. After a short write the next line starts
   * with a newline, so that a torn line never swallows the record that follows it.
   * @returns whether the whole line is in the file (the caller keeps the entry otherwise)
   */
  append(entry: JournalEntry, sync = false): boolean {
    const line = Buffer.from(`${this.torn ? '\n' : ''}${JSON.stringify(entry)}\n`);
    let written = 0;
    try {
      while (written < line.length) written += writeSync(this.fd, line, written);
    } catch (error) {
      if (written > 0) this.torn = line[written - 1] !== 0x0a;
      this.report(error);
      return false;
    }
    this.torn = false;
    this.unsynced = true;
    if (sync) this.sync();
    return true;
  }

  /** Fsyncs what was written since the last fsync, if anything was; a failure is reported, never thrown. */
  sync(): void {
    if (!this.unsynced || this.fd < 0) return;
    try {
      fsyncSync(this.fd);
      this.unsynced = false;
    } catch (error) {
      this.report(error);
    }
  }

  /** Where a failed write is reported; set by the owner. */
  onError: (message: string) => void = () => undefined;
  private failed = false;
  /** The file does not end with a newline: a write was cut short. */
  private torn = false;
  /** Lines were written since the last fsync. */
  private unsynced = false;

  private report(error: unknown): void {
    if (!this.failed) this.onError(`cannot write the journal ${this.path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
    this.failed = true;
  }

  /** Fsyncs and closes the file; a failure (a full disk, EIO) is reported through `onError`, never thrown. */
  close(): void {
    if (this.fd < 0) return;
    this.sync();
    try {
      closeSync(this.fd);
    } catch (error) {
      this.report(error);
    }
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
  return parseJournal(readStateFile(path));
}

/** The entries and bad lines of a journal's text (see readJournal). */
function parseJournal(text: string): { entries: JournalEntry[]; bad: BadJournalLine[] } {
  const entries: JournalEntry[] = [];
  const bad: BadJournalLine[] = [];
  text.split('\n').forEach((line, index) => {
    if (line === '') return;
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch {
      bad.push({ line: index + 1, text: line.slice(0, 200) });
    }
  });
  return { entries, bad };
}
