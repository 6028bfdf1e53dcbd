/**
 * How the pages (and the reason words `show` shares with them, reason.ts) write their figures:
 * bytes in binary units (the limits are set in them: `--memory 2GiB`), durations that stay short
 * as they grow, clock times in the viewer's locale, and an argv as a shell would read it. Text
 * only, no DOM and no Node: scripts/build-page.mjs bundles it into the pages.
 */
import { escapeControlCharacters } from '../../config/text.js';

/** What the page shows where there is no figure. */
export const DASH = '\u2013';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Bytes as `300.0 MiB`, `1.2 GiB` (whole bytes below 1 KiB); a dash for null. */
export function bytes(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return DASH;
  let n = value;
  let unit = 0;
  while (Math.abs(n) >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${unit === 0 ? Math.round(n) : n.toFixed(1)} ${UNITS[unit]}`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Milliseconds as `4.2 s`, `42 s`, `3m 05s`, `2h 07m`, `1d 3h`: tenths only while they still matter. Negative is 0. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return DASH;
  const clamped = Math.max(0, ms);
  if (clamped < 10_000) return `${(clamped / 1000).toFixed(1)} s`;
  const s = Math.floor(clamped / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${pad(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${pad(m % 60)}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** An age in ms as `just now` or `12 s ago` (whole seconds: ages tick every second). */
export function ago(ms: number): string {
  if (!Number.isFinite(ms)) return DASH;
  return ms < 1000 ? 'just now' : `${duration(ms).replace(/\.\d s$/, ' s')} ago`;
}

/** An ISO time as the viewer's wall-clock time (24 h); the text itself when it does not parse. */
export function clock(iso: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return iso || DASH;
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

/**
 * An argv as one line a shell would split back into it: words with anything special single-quoted,
 * and a word with a control character, a line separator or a bidirectional control in bash's
 * `$'...'` with those written out (`$'a\nb'`, `$'\u202e'`: config/text.ts escapeControlCharacters),
 * so the line shows what ran and nothing in it reorders or breaks what follows.
 */
export function commandText(argv: readonly string[]): string {
  return argv.map(quoteWord).join(' ');
}

function quoteWord(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  const escaped = escapeControlCharacters(word);
  if (escaped === word) return `'${word.replace(/'/g, "'\\''")}'`;
  return `$'${escapeControlCharacters(word.replace(/\\/g, '\\\\').replace(/'/g, "\\'"))}'`;
}

/** A limit in bytes as it was most likely set: `2 GiB`, `1.5 GiB`, `512 MiB` (bytes() without a trailing `.0`). */
export function limitBytes(value: number): string {
  return bytes(value).replace(/\.0 /, ' ');
}

/** A limit in ms as it was most likely set: `30 min`, `1 h 30 min`, `90 s` stays `1 min 30 s`, `500 ms`; only the non-zero units. */
export function limitDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return DASH;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000 && ms % 1000 !== 0) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  const parts = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'min'],
    [s % 60, 's'],
  ] as const;
  return parts
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n} ${unit}`)
    .join(' ');
}

/** A date and time in the viewer's locale (24 h); the text itself when it does not parse. */
export function dateTime(iso: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return iso || DASH;
  return new Date(ms).toLocaleString(undefined, { hour12: false });
}

/** Tree memory at an event or a sample: `RSS 300.0 MiB · PSS 290.0 MiB`, the PSS only where it was read; a dash with neither. */
export function treeMemory(rss: number | null, pss: number | null): string {
  if (rss === null && pss === null) return DASH;
  return `RSS ${bytes(rss)}${pss === null ? '' : ` \u00b7 PSS ${bytes(pss)}`}`;
}
