/**
 * The journal file itself (record/journal.ts), on a real file system: a torn last line, as a crash
 * or a full disk leaves it, never swallows the record appended after it; and when a journal is
 * finished, the rule of the records protocol (docs/records.md).
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal, readJournal } from '../../src/record/journal.js';
import { entriesFinished, journalFinished } from '../../src/record/journal-end.js';
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

describe('when a journal is finished (journal-end.ts)', () => {
  const run = (status: string, padding = ''): JournalEntry => ({ table: 'runs', record: { id: 'r', revision: 1, status, argv: [padding] } }) as unknown as JournalEntry;
  const file = (entries: JournalEntry[], tail = ''): string => {
    const dir = mkdtempSync(join(tmpdir(), 'scidex-journal-'));
    dirs.push(dir);
    const path = join(dir, `${randomUUID()}.jsonl`);
    appendFileSync(path, entries.map((line) => JSON.stringify(line) + '\n').join('') + tail);
    return path;
  };

  it('by its entries: the last version of the run row is a final one, whatever follows it', () => {
    expect(entriesFinished([])).toBe(false);
    expect(entriesFinished([entry(1)])).toBe(false);
    expect(entriesFinished([run('running'), entry(1)])).toBe(false);
    expect(entriesFinished([run('running'), entry(1), run('completed')])).toBe(true);
    expect(entriesFinished([run('running'), run('lost'), entry(2)])).toBe(true);
    expect(entriesFinished([run('completed'), run('running')])).toBe(false);
  });

  it('by its tail: the last complete line is a final version; a torn or missing end is not finished', () => {
    expect(journalFinished(file([]))).toBe(false);
    expect(journalFinished(file([run('running')]))).toBe(false);
    expect(journalFinished(file([run('running'), run('timeout')]))).toBe(true);
    expect(journalFinished(file([run('running'), run('timeout')], '{"table":"ev'))).toBe(false);
    expect(journalFinished(file([run('completed'), entry(1)]))).toBe(false);
    expect(journalFinished(join(tmpdir(), `${randomUUID()}.jsonl`))).toBe(false);
  });

  it('by its tail, when the last line is longer than the first read (a run row with a huge argv)', () => {
    const huge = 'x'.repeat(200 * 1024);
    expect(journalFinished(file([run('running'), run('completed', huge)]))).toBe(true);
    expect(journalFinished(file([run('completed'), run('running', huge)]))).toBe(false);
    expect(journalFinished(file([run('failed', huge)]))).toBe(true);
  });
});
