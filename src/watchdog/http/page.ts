/**
 * The pages of `scidex-watchdog serve`, each one self-contained HTML document with its style and
 * script inline and no external resource: the live page (`GET /`, for a person watching a host;
 * http/page/live/main.ts), the run page (`GET /runs/<id>`, one run's post-mortem or live view;
 * http/page/run/main.ts) and the fleet view (`GET /fleet`, every host from PostgreSQL;
 * http/page/fleet/main.ts). Each page's module docstring lists its stable hooks for tests and
 * scrapers.
 *
 * Their sources are http/page/<name>/ (browser TypeScript, page.css, the body.html that goes in the
 * shared shell.html) and the code they share in http/page/. `npm run build`
 * (scripts/build-page.mjs) bundles them, the chart
 * library (uPlot) included, into dist/page/pages.json with the sha256 of each script and style;
 * this module fills them into their shells with a Content-Security-Policy per page that allows
 * exactly those two, and esbuild inlines the JSON into the bins, so the daemon reads no file to
 * serve them. Each policy allows connections to the page's own origin only, so even a mistake in
 * a script could not load anything from elsewhere.
 */
import built from '../../../dist/page/pages.json' with { type: 'json' };

export { PAGE_REFRESH_MS, RUN_REFRESH_MS, FLEET_REFRESH_MS } from './page/refresh.js';

/** The pages served, by name. */
export type PageName = keyof typeof built;

/** A page's Content-Security-Policy (its <meta> tag): its own inline script and style (by hash), its own origin's data, nothing else. */
function contentSecurityPolicy(name: PageName): string {
  return [
    "default-src 'none'",
    `script-src 'sha256-${built[name].script_sha256}'`,
    `style-src 'sha256-${built[name].style_sha256}'`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** The page with its slots filled; one pass over the shell's own {{slots}}: text filled in is never searched for slots again. */
function fill(name: PageName): string {
  const slots = { csp: contentSecurityPolicy(name), style: built[name].style, script: built[name].script };
  return built[name].shell.replace(/\{\{(csp|style|script)\}\}/g, (_, slot: keyof typeof slots) => slots[slot]);
}

const PAGES: Record<PageName, string> = { live: fill('live'), run: fill('run'), fleet: fill('fleet') };

/**
 * The headers a page is served with: its policy as a Content-Security-Policy header too, with
 * `frame-ancestors 'none'` (which a <meta> policy cannot carry), and X-Frame-Options: DENY for
 * browsers without it: no other site can frame a page and have it clicked through (clickjacking).
 */
export function pageHeaders(name: PageName): Record<string, string> {
  return { 'Content-Security-Policy': `${contentSecurityPolicy(name)}; frame-ancestors 'none'`, 'X-Frame-Options': 'DENY' };
}

/** A page, a complete HTML document (the same string on every call: the run page reads its run id from its URL). */
export function page(name: PageName): string {
  return PAGES[name];
}

/** The live page (`GET /`). */
export function livePage(): string {
  return PAGES.live;
}
