/**
 * The top of the run page: #run-id, #status (and body[data-status]), #reason (the reason in words,
 * src/query/words/reason.ts; class `killed` for a kill, `bad` for another bad end, `running` while it runs), and
 * the facts: #command, #analysis, #host, #user, #timeout, #memory-limit, #exit-status, #started,
 * #ended, #peak, #tracking, #source.
 */
import type { RunView } from '../../../../query/run-view-body.js';
import type { RunRecord } from '../../../../record/types.js';
import { hook, setText, setTitle, shown, SHOWN_CHARACTERS } from '../dom.js';
import { commandText, dateTime, DASH, duration, limitBytes, limitDuration, treeMemory } from '../../../../query/words/format.js';
import { reasonWords } from '../../../../query/words/reason.js';

/** How the reason is coloured: red for a kill, amber for another bad end, green while it runs. */
const REASON_CLASS: Partial<Record<RunRecord['status'], string>> = {
  timeout: 'killed',
  out_of_memory: 'killed',
  cancelled: 'killed',
  failed: 'bad',
  failed_to_start: 'bad',
  lost: 'bad',
  running: 'running',
};

/** How the exit status came about: the command's own code or signal, or ours. */
function exitTitle(run: RunRecord): string {
  if (run.exit_code !== null) return `the command exited with code ${run.exit_code}`;
  if (run.signal !== null) return `the command died of ${run.signal}`;
  return run.exit_status === null ? 'unknown' : 'set by scidex-run for how the run ended (docs/design.md §2)';
}

/** Draws the header from the view. */
export function renderHeader(view: RunView): void {
  const { run } = view;
  setText('run-id', run.id);
  setTitle(`scidex-run \u00b7 ${run.analysis_id ?? run.id.slice(0, 8)} \u00b7 ${run.status}`);
  document.body.setAttribute('data-status', run.status);
  setText('status', run.adopted ? `${run.status} (adopted)` : run.status);
  setText('reason', reasonWords(run, view.events));
  hook('reason').className = `reason ${REASON_CLASS[run.status] ?? ''}`.trim();
  const command = commandText(run.argv);
  setText('command', command);
  // The tooltip says where it ran, after the whole command when the line is cut.
  hook('command').title = `${command.length > SHOWN_CHARACTERS ? `${command}\n` : ''}in ${shown(run.cwd).text}`;
  setText('analysis', run.analysis_id ?? DASH);
  hook('analysis').title = view.other_runs > 0 ? `${view.other_runs} other run${view.other_runs === 1 ? '' : 's'} of this analysis` : '';
  setText('host', run.host);
  setText('user', run.username);
  setText('timeout', run.timeout_ms > 0 ? limitDuration(run.timeout_ms) : 'none');
  setText('memory-limit', run.memory_limit_bytes > 0 ? `${limitBytes(run.memory_limit_bytes)} (tree PSS)` : 'none');
  setText('exit-status', run.exit_status === null ? DASH : String(run.exit_status));
  hook('exit-status').title = exitTitle(run);
  setText('started', dateTime(run.started_at));
  const lasted = Date.parse(run.ended_at ?? run.heartbeat_at) - Date.parse(run.started_at);
  setText('ended', run.ended_at === null ? 'still running' : `${dateTime(run.ended_at)} (after ${duration(lasted)})`);
  setText('peak', `${treeMemory(run.peak_rss_bytes, run.peak_pss_bytes)} \u00b7 ${run.peak_process_count} processes`);
  setText('tracking', `${run.tracking_backend}, pid ${run.pid ?? DASH}${run.cgroup_path ? `, ${run.cgroup_path}` : ''}`);
  setText('source', view.source === 'database' ? 'PostgreSQL' : "this host's journals (no database)");
}
