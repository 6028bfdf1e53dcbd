/**
 * Query results as psql prints them (aligned columns, a dashed rule, `(N rows)`), so operators read
 * our tables the way they read the database's own.
 */
import Table from 'cli-table3';

const PSQL_STYLE = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '',
  right: '', 'right-mid': '', middle: '|',
};

/** Renders rows (objects with the same keys) as a psql-style table, with the row count below. */
export function renderTable(rows: readonly Record<string, unknown>[]): string {
  const count = `(${rows.length} row${rows.length === 1 ? '' : 's'})`;
  if (rows.length === 0) return count;
  const head = Object.keys(rows[0]);
  const table = new Table({ head, chars: PSQL_STYLE, style: { head: [], border: [], compact: true, 'padding-left': 1, 'padding-right': 1 } });
  for (const row of rows) table.push(head.map((key) => (row[key] === null || row[key] === undefined ? '' : String(row[key]))));
  const [header, ...body] = table.toString().split('\n');
  const rule = header.replace(/[^|]/g, '-').replace(/\|/g, '+');
  return [header, rule, ...body, count].join('\n');
}
