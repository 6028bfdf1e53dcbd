/**
 * The live figures of a running run of this host (#live, hidden otherwise): #live-at, #live-elapsed
 * (elapsed, and the time left of its timeout), #live-memory (tree RSS now), #live-processes, and
 * #live-body with one `tr[data-pid]` per live process (the biggest RSS first, as the daemon sends
 * them), cells .pid, .comm, .command, .rss, .found-by.
 */
import type { LiveFigures, LiveProcess } from '../../../../query/run-view-body.js';
import { el, fillBody, hook, setText } from '../dom.js';
import { bytes, clock, commandText, duration } from '../../../../query/words/format.js';

function liveRow(process: LiveProcess): HTMLTableRowElement {
  const row = el('tr');
  row.setAttribute('data-pid', String(process.pid));
  const command = commandText(process.argv);
  const commandCell = el('td', 'command', command);
  commandCell.title = `${command}\nppid ${process.ppid}`;
  row.append(
    el('td', 'pid', String(process.pid)),
    el('td', 'comm', process.comm),
    commandCell,
    el('td', 'rss', bytes(process.rss_bytes)),
    el('td', 'found-by', process.found_by),
  );
  return row;
}

/** Shows the live figures, or hides #live when there are none (the run ended, or is another host's). */
export function renderLive(live: LiveFigures | null): void {
  const section = hook('live');
  section.hidden = live === null;
  if (live === null) return;
  setText('live-at', `measured ${clock(live.at)}`);
  setText('live-elapsed', duration(live.elapsed_ms));
  hook('live-elapsed').title = live.time_left_ms === null ? 'no timeout' : `${duration(live.time_left_ms)} left`;
  setText('live-memory', bytes(live.rss_bytes));
  setText('live-processes', String(live.process_count));
  fillBody('live-body', live.processes.map(liveRow), 5, 'no process could be read');
}
