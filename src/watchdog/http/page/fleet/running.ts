/**
 * The running runs of every host (#running-body), oldest start first: one
 * `tr[data-run-id][data-host][data-analysis-id]` per run, with cells .host, .analysis, .run (a link
 * to the run's page, relative: `runs/<id>`), .command, .memory (tree RSS of its newest sample
 * against its limit, .memory-text), .elapsed (.elapsed-text) and .processes.
 */
import type { FleetRun } from '../../../../query/fleet-body.js';
import { bar, el, fillBody, linkCell } from '../dom.js';
import { bytes, commandText, DASH, duration, limitBytes, limitDuration } from '../../../../query/words/format.js';

function memoryCell(run: FleetRun): HTMLTableCellElement {
  const cell = el('td', 'memory');
  const limit = run.memory_limit_bytes;
  const used = run.rss_bytes;
  let text: string;
  if (used === null) text = `no sample yet${limit > 0 ? ` (limit ${limitBytes(limit)})` : ''}`;
  else if (limit > 0) text = `RSS ${bytes(used)} of ${limitBytes(limit)}`;
  else text = `RSS ${bytes(used)} (no limit)`;
  cell.append(bar(limit > 0 && used !== null ? used / limit : null, text), el('div', 'memory-text', text));
  return cell;
}

function elapsedCell(run: FleetRun): HTMLTableCellElement {
  const cell = el('td', 'elapsed');
  const text = run.timeout_ms > 0 ? `${duration(run.elapsed_ms)} of ${limitDuration(run.timeout_ms)}` : `${duration(run.elapsed_ms)}, no timeout`;
  cell.append(bar(run.timeout_ms > 0 ? run.elapsed_ms / run.timeout_ms : null, text), el('div', 'elapsed-text', text));
  return cell;
}

function runRow(run: FleetRun): HTMLTableRowElement {
  const row = el('tr');
  row.setAttribute('data-run-id', run.id);
  row.setAttribute('data-host', run.host);
  row.setAttribute('data-analysis-id', run.analysis_id ?? '');
  const command = commandText(run.argv);
  const commandCell = el('td', 'command', command);
  commandCell.title = command;
  const who = [run.id, run.pid === null ? '' : `pid ${run.pid}`, `user ${run.username}`, `started ${run.started_at}`, run.adopted ? 'adopted' : ''];
  row.append(
    el('td', 'host', run.host),
    el('td', 'analysis', run.analysis_id || DASH),
    linkCell('run', `runs/${run.id}`, run.id.slice(0, 8), who.filter(Boolean).join('\n')),
    commandCell,
    memoryCell(run),
    elapsedCell(run),
    el('td', 'processes', String(run.process_count)),
  );
  return row;
}

/** Redraws #running-body; `filtered` says the list is of one analysis. */
export function renderRunning(runs: readonly FleetRun[], filtered: boolean): void {
  fillBody('running-body', runs.map(runRow), 7, filtered ? 'no run of this analysis is running' : 'no analysis is running on any host');
}
