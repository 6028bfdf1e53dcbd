/**
 * The table of recent kills and events (#events-body): one `tr[data-run-id][data-analysis-id]
 * [data-kind]` per event of /status, class `kill` for the kinds that are kills, with cells .at,
 * .analysis (a link to the run's page: its analysis id, else its short id), .kind, .reason,
 * .signal, .pid and .memory.
 */
import { KILL_KINDS } from '../../../../record/event-kinds.js';
import type { StatusEvent } from '../../../status-body.js';
import { el, fillBody, linkCell } from '../dom.js';
import { clock, DASH, treeMemory } from '../../../../query/words/format.js';

function eventRow(event: StatusEvent): HTMLTableRowElement {
  const row = el('tr', KILL_KINDS.includes(event.kind) ? 'kill' : '');
  row.setAttribute('data-run-id', event.run_id);
  row.setAttribute('data-analysis-id', event.analysis_id ?? '');
  row.setAttribute('data-kind', event.kind);
  const at = el('td', 'at', clock(event.at));
  at.title = event.at;
  const analysis = linkCell('analysis', `runs/${event.run_id}`, event.analysis_id || event.run_id.slice(0, 8), `run ${event.run_id}`);
  const kind = el('td', 'kind', event.kind);
  // Not a kill of ours: the kernel's, at the memory backstop between two scans.
  if (event.kind === 'kernel_oom_kill') kind.title = "killed by the kernel's OOM killer in the run's memory cgroup, at the backstop above the limit";
  row.append(
    at,
    analysis,
    kind,
    el('td', 'reason', event.reason || DASH),
    el('td', 'signal', event.signal || DASH),
    el('td', 'pid', event.pid === null ? DASH : String(event.pid)),
    el('td', 'memory', treeMemory(event.rss_bytes, event.pss_bytes)),
  );
  return row;
}

/** Redraws #events-body from /status's recent events. */
export function renderEvents(events: readonly StatusEvent[]): void {
  fillBody('events-body', events.map(eventRow), 7, 'no recent events');
}
