/**
 * The run page's tables of records: the processes (#processes-body, the biggest peak RSS first: one
 * `tr[data-pid][data-fate]` per process, class `fate-<fate>`, with cells .pid, .comm, .command,
 * .peak, .cpu, .fate, .found-by, .seen) and the events (#events-body, oldest first: one
 * `tr[data-kind][data-elapsed-ms]` per event, class `kill` for the kinds that are kills, with cells
 * .at, .elapsed, .kind, .reason, .signal, .pid, .memory).
 */
import type { RunView } from '../../../../query/run-view-body.js';
import { KILL_KINDS } from '../../../../record/event-kinds.js';
import type { EventRecord, ProcessRecord } from '../../../../record/types.js';
import { escapeControlCharacters } from '../../../../config/text.js';
import { el, fillBody } from '../dom.js';
import { bytes, clock, commandText, DASH, duration, treeMemory } from '../../../../query/words/format.js';

/** How each fate reads. */
const FATE_WORDS: Record<ProcessRecord['fate'], string> = {
  exited: 'exited by itself',
  terminated: 'terminated (SIGTERM)',
  killed: 'killed (SIGKILL)',
  left_running: 'left running',
};

function processRow(process: ProcessRecord): HTMLTableRowElement {
  const row = el('tr', `fate-${process.fate}`);
  row.setAttribute('data-pid', String(process.pid));
  row.setAttribute('data-fate', process.fate);
  const command = commandText(process.argv);
  const commandCell = el('td', 'command', command);
  commandCell.title = command;
  const seen = el('td', 'seen small', `${clock(process.first_seen_at)} \u2013 ${clock(process.last_seen_at)}`);
  seen.title = `${process.first_seen_at} \u2013 ${process.last_seen_at}`;
  const fate = el('td', 'fate', FATE_WORDS[process.fate] ?? process.fate);
  row.append(
    el('td', 'pid', String(process.pid)),
    el('td', 'comm', process.comm),
    commandCell,
    el('td', 'peak', bytes(process.peak_rss_bytes)),
    el('td', 'cpu', `${process.cpu_seconds.toFixed(1)} s`),
    fate,
    el('td', 'found-by', process.found_by),
    seen,
  );
  return row;
}

/** The process an event is about: its pid, else how many a signal pass went to. */
function pidText(event: EventRecord): string {
  if (event.pid !== null) return String(event.pid);
  if (event.pids.length > 0) return `${event.pids.length} process${event.pids.length === 1 ? '' : 'es'}`;
  return DASH;
}

function eventRow(event: EventRecord): HTMLTableRowElement {
  const row = el('tr', KILL_KINDS.includes(event.kind) ? 'kill' : '');
  row.setAttribute('data-kind', event.kind);
  row.setAttribute('data-elapsed-ms', String(event.elapsed_ms));
  const at = el('td', 'at', clock(event.at));
  at.title = event.at;
  const pid = el('td', 'pid', pidText(event));
  if (event.pids.length > 0) pid.title = event.pids.join(' ');
  const kind = el('td', 'kind', event.kind);
  if (Object.keys(event.detail).length > 0) kind.title = escapeControlCharacters(JSON.stringify(event.detail));
  row.append(
    at,
    el('td', 'elapsed', duration(event.elapsed_ms)),
    kind,
    el('td', 'reason', event.reason || DASH),
    el('td', 'signal', event.signal || DASH),
    pid,
    el('td', 'memory', treeMemory(event.rss_bytes, event.pss_bytes)),
  );
  return row;
}

/** Draws the processes, the biggest peak first (ties by pid), and the events, oldest first. */
export function renderTables(view: RunView): void {
  const processes = [...view.processes].sort((a, b) => b.peak_rss_bytes - a.peak_rss_bytes || a.pid - b.pid);
  const none = view.run.status !== 'running' ? 'no process was recorded' : `recorded when the run ends${view.live ? ' (its processes now are above)' : ''}`;
  fillBody('processes-body', processes.map(processRow), 8, none);
  const events = [...view.events].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  fillBody('events-body', events.map(eventRow), 7, 'no event');
}
