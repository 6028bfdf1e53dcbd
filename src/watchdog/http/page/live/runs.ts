/**
 * The table of running analyses (#runs-body): one `tr[data-run-id][data-analysis-id]` per run of
 * /status, with cells .analysis (and a .badge-grace while in grace), .run (a link to the run's page), .command, .memory
 * (.memory-text, .pss-text), .elapsed (.elapsed-text, .time-left) and .processes.
 */
import type { RunStatus } from '../../../status-body.js';
import { bar, el, fillBody, linkCell } from '../dom.js';
import { bytes, commandText, DASH, duration } from '../../../../query/words/format.js';

/** Tree memory against the limit. The limit applies to the tree's PSS, so PSS is the figure when it was read. */
function memoryCell(run: RunStatus): HTMLTableCellElement {
  const cell = el('td', 'memory');
  const limit = run.memory_limit_bytes;
  const used = run.pss_bytes ?? run.rss_bytes;
  let text: string;
  if (used === null) text = `no sample yet${limit > 0 ? ` (limit ${bytes(limit)})` : ''}`;
  else if (limit > 0) text = `${bytes(used)} of ${bytes(limit)}, ${Math.round((used / limit) * 100)} %`;
  else text = `${bytes(used)} (no limit)`;
  cell.append(bar(limit > 0 && used !== null ? used / limit : null, text), el('div', 'memory-text', text));
  if (used !== null) {
    const pss = run.pss_bytes === null ? '' : ` \u00b7 PSS ${bytes(run.pss_bytes)}`;
    cell.append(el('div', 'pss-text small', `RSS ${bytes(run.rss_bytes)}${pss}`));
  }
  return cell;
}

/** Elapsed time against the timeout, and the time left. */
function timeCell(run: RunStatus): HTMLTableCellElement {
  const cell = el('td', 'elapsed');
  const timeout = run.timeout_ms;
  let text: string;
  let leftText: string;
  if (timeout > 0) {
    const left = run.time_left_ms ?? timeout - run.elapsed_ms;
    text = `${duration(run.elapsed_ms)} of ${duration(timeout)}`;
    leftText = left > 0 ? `${duration(left)} left` : 'timed out, 0 s left';
    cell.append(bar(run.elapsed_ms / timeout, `${text}, ${leftText}`));
  } else {
    text = duration(run.elapsed_ms);
    leftText = 'no timeout';
    cell.append(bar(null, `${text}, no timeout`));
  }
  cell.append(el('div', 'elapsed-text', text), el('div', 'time-left small', leftText));
  return cell;
}

function runRow(run: RunStatus): HTMLTableRowElement {
  const row = el('tr', run.in_grace ? 'in-grace' : '');
  row.setAttribute('data-run-id', run.id);
  row.setAttribute('data-analysis-id', run.analysis_id ?? '');
  const analysis = el('td', 'analysis', run.analysis_id || DASH);
  if (run.in_grace) {
    const badge = el('span', 'badge-grace', 'grace');
    badge.title = 'killed: in the grace period before SIGKILL';
    analysis.append(badge);
  }
  // The short id fits the column; the tooltip holds the full id and what identifies the run on the host.
  const short = linkCell('run', `runs/${run.id}`, run.id.slice(0, 8), [
    run.id,
    run.pid !== null && `pid ${run.pid}`,
    run.adopted ? `adopted: supervisor pid ${run.wrapper_pid}` : `wrapper pid ${run.wrapper_pid}`,
    run.tracking_backend && `tracking ${run.tracking_backend}`,
    `started ${run.started_at}`,
  ]
    .filter(Boolean)
    .join('\n'));
  const command = commandText(run.command);
  const commandCell = el('td', 'command', command);
  commandCell.title = command;
  row.append(analysis, short, commandCell, memoryCell(run), timeCell(run), el('td', 'processes', String(run.process_count)));
  return row;
}

/** Redraws #runs-body from /status's runs. */
export function renderRuns(runs: readonly RunStatus[]): void {
  fillBody('runs-body', runs.map(runRow), 6, 'no analysis is running');
}
