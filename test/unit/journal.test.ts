/**
 * The journal file itself (record/journal.ts), on a real file system: a torn last line, as a crash
 * or a full disk leaves it, never swallows the record appended after it.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal, readJournal } from '../../src/record/journal.js';
import type { JournalEntry } from '../../src/record/types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function entry(n: number): JournalEntry {
  return { table: 'events', record: { id: randomUUID(), kind: `test_${n}` } } as unknown as JournalEntry;
}

describe('Journal', () => {
  it('reopened after a torn last line, starts the next record on a line of its own', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scidex-journal-'));
    dirs.push(dir);
    const journal = Journal.create(dir, randomUUID());
    expect(journal.append(entry(1), true)).toBe(true);
    journal.close();
    appendFileSync(journal.path, '{"table":"events","rec');

    const reopened = Journal.reopen(journal.path);
    expect(reopened.initialEntries).toBe(1);
    expect(reopened.append(entry(2))).toBe(true);
    expect(reopened.append(entry(3))).toBe(true);
    reopened.close();

    const { entries, bad } = readJournal(journal.path);
    expect(entries.map((e) => (e.record as unknown as { kind: string }).kind)).toEqual(['test_1', 'test_2', 'test_3']);
    expect(bad).toEqual([{ line: 2, text: '{"table":"events","rec' }]);
    expect(readFileSync(journal.path, 'utf8').endsWith('\n')).toBe(true);
  });

  it('reopened after a whole last line, adds no empty line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'scidex-journal-'));
    dirs.push(dir);
    const journal = Journal.create(dir, randomUUID());
    journal.append(entry(1));
    journal.close();
    const reopened = Journal.reopen(journal.path);
    reopened.append(entry(2));
    reopened.close();
    expect(readFileSync(journal.path, 'utf8').split('\n')).toHaveLength(3);
  });
});
