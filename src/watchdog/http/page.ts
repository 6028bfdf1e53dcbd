/**
 * The live page of `scidex-watchdog serve` (`GET /`): one self-contained HTML document, with its
 * style and script inline and no external resource, for a person watching a host. What it shows
 * and how: http/page/main.ts.
 *
 * Its sources are http/page/ (browser TypeScript, page.css, the page.html shell). `npm run build`
 * (scripts/build-page.mjs) bundles them into dist/page/live-page.json with the sha256 of the
 * script and the style; this module fills them into the shell with the Content-Security-Policy
 * that allows exactly those two, and esbuild inlines the JSON into the bins, so the daemon reads
 * no file to serve it. The policy allows connections to the page's own origin only, so even a
 * mistake in the script could not load anything from elsewhere.
 *
 * Stable hooks for tests and scrapers: #host, #daemon-state, #sweep, #database, #unreachable
 * (the banner), #count-monitored, #count-grace, #count-kills, #updated, #runs-body with one
 * `tr[data-run-id][data-analysis-id]` per run (cells .analysis, .run, .command, .memory with
 * .memory-text and .pss-text, .elapsed with .elapsed-text and .time-left, .processes, and a
 * .badge-grace while in grace), and #events-body with one `tr[data-run-id][data-analysis-id]
 * [data-kind]` per event (cells .at, .analysis, .kind, .reason, .signal, .pid, .memory).
 */
import built from '../../../dist/page/live-page.json' with { type: 'json' };

export { PAGE_REFRESH_MS } from './page/refresh.js';

/** The Content-Security-Policy of the page: its own inline script and style (by hash), /status, nothing else. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src 'sha256-${built.script_sha256}'`,
  `style-src 'sha256-${built.style_sha256}'`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const SLOTS = { csp: CONTENT_SECURITY_POLICY, style: built.style, script: built.script };

// One pass over the shell's own {{slots}}: text filled in is never searched for slots again.
const PAGE = built.shell.replace(/\{\{(csp|style|script)\}\}/g, (_, slot: keyof typeof SLOTS) => SLOTS[slot]);

/** The live page, a complete HTML document (the same string on every call). */
export function livePage(): string {
  return PAGE;
}
