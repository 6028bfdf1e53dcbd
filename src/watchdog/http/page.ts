/**
 * The live page of `scidex-watchdog serve` (`GET /`): one self-contained HTML document, with its
 * CSS and JavaScript inline and no external resource, for a person watching a host.
 *
 * It only reads `GET /status` (relative URL, `cache: 'no-store'`) every PAGE_REFRESH_MS and
 * re-renders in place. Everything that comes from /status (analysis ids, commands, reasons) is
 * user-controlled: it reaches the DOM through textContent and attribute values only, never
 * through innerHTML. A Content-Security-Policy (meta) allows only this page's own script and
 * style (by hash) and connections to its own origin, so even a mistake could not load anything.
 *
 * Stable hooks for tests and scrapers: #host, #daemon-state, #sweep, #database, #unreachable
 * (the banner), #count-monitored, #count-grace, #count-kills, #updated, #runs-body with one
 * `tr[data-run-id][data-analysis-id]` per run (cells .analysis, .run, .command, .memory with
 * .memory-text and .pss-text, .elapsed with .elapsed-text and .time-left, .processes, and a
 * .badge-grace while in grace), and #events-body with one `tr[data-run-id][data-analysis-id]
 * [data-kind]` per event (cells .at, .analysis, .kind, .reason, .signal, .pid, .memory).
 */
import { createHash } from 'node:crypto';

/** How often the page fetches /status, in ms. */
export const PAGE_REFRESH_MS = 2000;

const STYLE = String.raw`
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5c6578; --bg: #f6f7f9; --card: #fff; --line: #d9dde5;
  --ok: #2f8f46; --warn: #c98a00; --crit: #c23b2f; --bar: #e6e9ef; --accent: #3466c2; }
@media (prefers-color-scheme: dark) { :root { --fg: #e3e6ec; --muted: #9aa3b5; --bg: #15181e; --card: #1d2129;
  --line: #333946; --bar: #2c313c; --accent: #7aa2f7; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header, main { max-width: 1400px; margin: 0 auto; padding: 12px 20px; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px 24px; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 16px; margin: 20px 0 8px; }
.muted { color: var(--muted); }
.health { display: flex; flex-wrap: wrap; gap: 6px 18px; }
.health span b { font-weight: 600; }
.good { color: var(--ok); } .stale { color: var(--warn); } .bad { color: var(--crit); }
#unreachable { background: var(--crit); color: #fff; padding: 10px 20px; font-weight: 600; text-align: center; }
#unreachable[hidden] { display: none; }
.counts { display: flex; gap: 12px; flex-wrap: wrap; margin: 4px 0 0; padding: 0; list-style: none; }
.counts li { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 6px 14px; }
.counts .n { font-size: 22px; font-weight: 600; display: block; font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); }
caption { text-align: left; color: var(--muted); padding: 0 0 6px; caption-side: top; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td { font-variant-numeric: tabular-nums; }
td.command { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; max-width: 420px;
  overflow-wrap: anywhere; }
td.run, td.pid { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
td.analysis { overflow-wrap: anywhere; max-width: 260px; }
.bar { height: 8px; width: 180px; max-width: 100%; background: var(--bar); border-radius: 4px; overflow: hidden; margin: 3px 0; }
.bar > span { display: block; height: 100%; background: var(--ok); }
.bar.warn > span { background: var(--warn); } .bar.crit > span { background: var(--crit); }
.bar.none > span { background: var(--muted); opacity: .4; }
.small { font-size: 12px; color: var(--muted); }
.memory-text, .elapsed-text, .time-left { white-space: nowrap; }
.badge-grace { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 8px; font-size: 11px;
  font-weight: 600; background: var(--crit); color: #fff; }
tr.in-grace td { background: color-mix(in srgb, var(--crit) 8%, transparent); }
tr.kill td.kind { color: var(--crit); font-weight: 600; }
.empty td { color: var(--muted); text-align: center; padding: 14px; }
`;

const SCRIPT = String.raw`
(function () {
  'use strict';
  var REFRESH_MS = ${PAGE_REFRESH_MS};
  var FETCH_TIMEOUT_MS = 4000;
  var KILL_KINDS = { limit_exceeded: 1, signal_sent: 1, process_killed: 1, run_lost: 1, orphan_found: 1, kill_refused: 1, kill_failed: 1, cancel_requested: 1 };
  var last = null;          // last /status that was read
  var lastAt = 0;           // Date.now() when it was read
  var lastError = null;     // why the latest fetch failed, or null

  function $(id) { return document.getElementById(id); }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function num(value) { return typeof value === 'number' && isFinite(value) ? value : null; }
  function str(value) { return value === undefined || value === null ? '' : String(value); }

  var UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  function bytes(value) {
    var n = num(value);
    if (n === null) return '\u2013';
    var i = 0;
    while (Math.abs(n) >= 1024 && i < UNITS.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + ' ' + UNITS[i];
  }
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function duration(value) {
    var ms = num(value);
    if (ms === null) return '\u2013';
    if (ms < 0) ms = 0;
    if (ms < 10000) return (ms / 1000).toFixed(1) + ' s';
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + pad(s % 60) + 's';
    var h = Math.floor(m / 60);
    if (h < 24) return h + 'h ' + pad(m % 60) + 'm';
    return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
  }
  function ago(ms) {
    if (ms === null || !isFinite(ms)) return '\u2013';
    return ms < 1000 ? 'just now' : duration(ms).replace(/\.\d s$/, ' s') + ' ago';
  }
  function clock(iso) {
    var t = Date.parse(str(iso));
    if (!isFinite(t)) return str(iso) || '\u2013';
    var d = new Date(t);
    return d.toLocaleTimeString(undefined, { hour12: false });
  }
  function commandText(command) {
    if (Array.isArray(command)) {
      return command.map(function (word) {
        word = str(word);
        return /^[\w@%+=:,.\/-]+$/.test(word) ? word : "'" + word.replace(/'/g, "'\\''") + "'";
      }).join(' ');
    }
    return str(command);
  }
  /** The server's clock now, without trusting ours: started_at + uptime at the read, plus time since. */
  function serverNow() {
    var d = last && last.daemon;
    var started = d ? Date.parse(str(d.started_at)) : NaN;
    var uptime = d ? num(d.uptime_seconds) : null;
    var base = isFinite(started) && uptime !== null ? started + uptime * 1000 : Date.now();
    return base + (Date.now() - lastAt);
  }

  /** A bar with role=progressbar; fraction null means no limit. */
  function bar(fraction, text) {
    var outer = el('div', 'bar');
    var fill = el('span');
    outer.setAttribute('role', 'progressbar');
    outer.setAttribute('aria-valuemin', '0');
    outer.setAttribute('aria-valuemax', '100');
    outer.setAttribute('aria-valuetext', text);
    if (fraction === null) {
      outer.className = 'bar none';
      fill.style.width = '100%';
    } else {
      var pct = Math.max(0, Math.min(100, fraction * 100));
      outer.setAttribute('aria-valuenow', String(Math.round(pct)));
      if (fraction >= 0.9) outer.className = 'bar crit';
      else if (fraction >= 0.75) outer.className = 'bar warn';
      fill.style.width = pct.toFixed(1) + '%';
    }
    outer.appendChild(fill);
    return outer;
  }

  function memoryCell(run) {
    var td = el('td', 'memory');
    var rss = num(run.rss_bytes);
    var pss = num(run.pss_bytes);
    var limit = num(run.memory_limit_bytes);
    // The limit applies to the tree's PSS; when PSS was read it is the truer figure.
    var used = pss !== null ? pss : rss;
    var text;
    if (used === null) {
      text = 'no sample yet' + (limit ? ' (limit ' + bytes(limit) + ')' : '');
    } else if (limit && limit > 0) {
      text = bytes(used) + ' of ' + bytes(limit) + ', ' + Math.round((used / limit) * 100) + ' %';
    } else {
      text = bytes(used) + (limit ? '' : ' (no limit)');
    }
    td.appendChild(bar(limit && limit > 0 && used !== null ? used / limit : null, text));
    td.appendChild(el('div', 'memory-text', text));
    if (used !== null) {
      var detail = 'RSS ' + bytes(rss);
      if (pss !== null) detail += ' \u00b7 PSS ' + bytes(pss);
      td.appendChild(el('div', 'pss-text small', detail));
    }
    return td;
  }

  function timeCell(run) {
    var td = el('td', 'elapsed');
    var elapsed = num(run.elapsed_ms);
    var timeout = num(run.timeout_ms);
    var left = num(run.time_left_ms);
    var text, leftText;
    if (timeout && timeout > 0) {
      if (left === null && elapsed !== null) left = timeout - elapsed;
      text = duration(elapsed) + ' of ' + duration(timeout);
      leftText = left !== null && left > 0 ? duration(left) + ' left' : 'timed out, 0 s left';
      td.appendChild(bar(elapsed !== null ? elapsed / timeout : null, text + ', ' + leftText));
    } else {
      text = duration(elapsed);
      leftText = 'no timeout';
      td.appendChild(bar(null, text + ', no timeout'));
    }
    td.appendChild(el('div', 'elapsed-text', text));
    td.appendChild(el('div', 'time-left small', leftText));
    return td;
  }

  function runRow(run) {
    var tr = el('tr');
    var id = str(run.id);
    tr.setAttribute('data-run-id', id);
    tr.setAttribute('data-analysis-id', str(run.analysis_id));
    if (run.in_grace) tr.className = 'in-grace';
    var analysis = el('td', 'analysis', str(run.analysis_id) || '\u2013');
    if (run.in_grace) {
      var badge = el('span', 'badge-grace', 'grace');
      badge.title = 'killed: in the grace period before SIGKILL';
      analysis.appendChild(badge);
    }
    tr.appendChild(analysis);
    var runCell = el('td', 'run', id.slice(0, 8));
    runCell.title = id + (run.pid ? '\npid ' + run.pid : '') + (run.wrapper_pid ? '\nwrapper pid ' + run.wrapper_pid : '') +
      (run.tracking_backend ? '\ntracking ' + run.tracking_backend : '') + (run.started_at ? '\nstarted ' + run.started_at : '');
    tr.appendChild(runCell);
    var cmd = commandText(run.command);
    var cmdCell = el('td', 'command', cmd);
    cmdCell.title = cmd;
    tr.appendChild(cmdCell);
    tr.appendChild(memoryCell(run));
    tr.appendChild(timeCell(run));
    tr.appendChild(el('td', 'processes', num(run.process_count) === null ? '\u2013' : run.process_count));
    return tr;
  }

  function eventRow(event) {
    var tr = el('tr');
    var kind = str(event.kind);
    tr.setAttribute('data-run-id', str(event.run_id));
    tr.setAttribute('data-analysis-id', str(event.analysis_id));
    tr.setAttribute('data-kind', kind);
    if (KILL_KINDS[kind]) tr.className = 'kill';
    var at = el('td', 'at', clock(event.at));
    at.title = str(event.at);
    tr.appendChild(at);
    var analysis = el('td', 'analysis', str(event.analysis_id) || '\u2013');
    analysis.title = 'run ' + str(event.run_id);
    tr.appendChild(analysis);
    tr.appendChild(el('td', 'kind', kind));
    tr.appendChild(el('td', 'reason', str(event.reason) || '\u2013'));
    tr.appendChild(el('td', 'signal', str(event.signal) || '\u2013'));
    tr.appendChild(el('td', 'pid', event.pid === null || event.pid === undefined ? '\u2013' : event.pid));
    var memory = 'RSS ' + bytes(event.rss_bytes);
    if (num(event.pss_bytes) !== null) memory += ' \u00b7 PSS ' + bytes(event.pss_bytes);
    tr.appendChild(el('td', 'memory', num(event.rss_bytes) === null && num(event.pss_bytes) === null ? '\u2013' : memory));
    return tr;
  }

  function emptyRow(columns, text) {
    var tr = el('tr', 'empty');
    var td = el('td', '', text);
    td.colSpan = columns;
    tr.appendChild(td);
    return tr;
  }

  function setText(id, text) {
    var node = $(id);
    if (node && node.textContent !== String(text)) node.textContent = String(text);
  }
  function setState(id, text, state) {
    var node = $(id);
    if (!node) return;
    if (node.textContent !== text) node.textContent = text;
    node.className = state;
  }

  /** Re-renders what depends on the clock: ages. Runs every second and after each read. */
  function tick() {
    var banner = $('unreachable');
    if (lastError !== null) {
      banner.hidden = false;
      banner.textContent = 'daemon unreachable: ' + lastError + (last ? ' \u2014 showing data from ' + ago(Date.now() - lastAt) : '');
      setState('daemon-state', 'unreachable', 'bad');
    } else if (last) {
      banner.hidden = true;
    }
    setText('updated', last ? 'updated ' + ago(Date.now() - lastAt) : 'waiting for the first update\u2026');
    if (!last) return;
    var d = last.daemon || {};
    if (lastError === null) {
      var up = num(d.uptime_seconds);
      setState('daemon-state', 'up' + (up !== null ? ' for ' + duration(up * 1000 + (Date.now() - lastAt)) : '') +
        (d.pid ? ' (pid ' + d.pid + ')' : ''), 'good');
    }
    var sweep = d.last_sweep || null;
    var sweepAt = sweep ? Date.parse(str(sweep.at)) : NaN;
    if (!isFinite(sweepAt)) {
      setState('sweep', 'no sweep yet', 'stale');
    } else {
      var age = serverNow() - sweepAt;
      var text = ago(age) + (num(sweep.ms) !== null ? ' (took ' + Math.round(sweep.ms) + ' ms)' : '');
      if (sweep.error) setState('sweep', text + ' \u2014 failed: ' + str(sweep.error), 'bad');
      else setState('sweep', text, age > 15000 ? 'stale' : 'good');
    }
    var database = str(d.database) || 'none';
    setState('database', database === 'none' ? 'not configured' : database, database === 'ok' ? 'good' : database === 'down' ? 'bad' : 'muted');
    if (lastError !== null) {
      // What the daemon said last is no longer news: shown, but not in its colours.
      $('sweep').className = 'muted';
      $('database').className = 'muted';
    }
  }

  function render(status) {
    setText('host', str(status.host) || 'unknown host');
    setText('version', status.version ? 'scidex-run ' + status.version : '');
    document.title = 'scidex-run \u00b7 ' + (str(status.host) || 'watchdog');
    setText('count-monitored', num(status.monitored_count) === null ? '\u2013' : status.monitored_count);
    setText('count-grace', num(status.grace_count) === null ? '\u2013' : status.grace_count);
    setText('count-kills', num(status.kills_last_24h) === null ? '\u2013' : status.kills_last_24h);

    var runs = Array.isArray(status.runs) ? status.runs : [];
    var runsBody = $('runs-body');
    var rows = runs.map(runRow);
    if (rows.length === 0) rows.push(emptyRow(6, 'no analysis is running'));
    runsBody.replaceChildren.apply(runsBody, rows);

    var events = Array.isArray(status.recent_events) ? status.recent_events : [];
    var eventsBody = $('events-body');
    var eventRows = events.map(eventRow);
    if (eventRows.length === 0) eventRows.push(emptyRow(7, 'no recent events'));
    eventsBody.replaceChildren.apply(eventsBody, eventRows);
  }

  function refresh() {
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, FETCH_TIMEOUT_MS) : null;
    fetch('/status', { cache: 'no-store', headers: { accept: 'application/json' }, signal: controller ? controller.signal : undefined })
      .then(function (response) {
        if (!response.ok) throw new Error('/status answered HTTP ' + response.status);
        return response.json();
      })
      .then(function (status) {
        if (!status || typeof status !== 'object') throw new Error('/status is not a JSON object');
        last = status;
        lastAt = Date.now();
        lastError = null;
        render(status);
      })
      .catch(function (error) {
        lastError = error && error.name === 'AbortError' ? 'no answer within ' + FETCH_TIMEOUT_MS / 1000 + ' s'
          : error instanceof SyntaxError ? '/status is not JSON' : str(error && error.message) || 'fetch failed';
      })
      .then(function () {
        if (timer) clearTimeout(timer);
        tick();
        setTimeout(refresh, REFRESH_MS);
      });
  }

  setInterval(tick, 1000);
  refresh();
})();
`;

/** The Content-Security-Policy of the page: its own inline script and style (by hash), /status, nothing else. */
function contentSecurityPolicy(): string {
  const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
  return [
    "default-src 'none'",
    `script-src ${hash(SCRIPT)}`,
    `style-src ${hash(STYLE)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy()}">
<meta name="referrer" content="no-referrer">
<title>scidex-run watchdog</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<div id="unreachable" role="alert" hidden>daemon unreachable</div>
<header>
  <h1><span id="host">connecting\u2026</span> <span id="version" class="muted small"></span></h1>
  <div class="health" aria-label="daemon health">
    <span>daemon: <b id="daemon-state" class="muted">connecting</b></span>
    <span>last sweep: <b id="sweep" class="muted">\u2013</b></span>
    <span>database: <b id="database" class="muted">\u2013</b></span>
    <span id="updated" class="muted">waiting for the first update\u2026</span>
  </div>
</header>
<main>
  <ul class="counts" id="counts" aria-live="polite" aria-label="counts">
    <li><span class="n" id="count-monitored">\u2013</span> monitored</li>
    <li><span class="n" id="count-grace">\u2013</span> in grace</li>
    <li><span class="n" id="count-kills">\u2013</span> kills in the last 24 h</li>
  </ul>
  <h2 id="runs-title">Running analyses</h2>
  <table id="runs" aria-labelledby="runs-title">
    <thead><tr>
      <th scope="col">Analysis</th><th scope="col">Run</th><th scope="col">Command</th>
      <th scope="col">Memory (tree)</th><th scope="col">Elapsed</th><th scope="col">Processes</th>
    </tr></thead>
    <tbody id="runs-body"><tr class="empty"><td colspan="6">waiting for /status\u2026</td></tr></tbody>
  </table>
  <h2 id="events-title">Recent kills and events</h2>
  <table id="events" aria-labelledby="events-title">
    <thead><tr>
      <th scope="col">Time</th><th scope="col">Analysis</th><th scope="col">Kind</th><th scope="col">Reason</th>
      <th scope="col">Signal</th><th scope="col">PID</th><th scope="col">Memory</th>
    </tr></thead>
    <tbody id="events-body"><tr class="empty"><td colspan="7">waiting for /status\u2026</td></tr></tbody>
  </table>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** The live page, a complete HTML document (the same string on every call). */
export function livePage(): string {
  return PAGE;
}
