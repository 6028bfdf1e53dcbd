/**
 * The pages' few ways of touching the DOM. Everything they read is user-controlled (analysis
 * ids, commands, reasons), so text goes in through textContent and attribute values only, never
 * innerHTML: an id made of HTML stays text. And text is shown through shown(): a hostile argv
 * cannot hide behind a newline, an escape sequence or a bidirectional override (U+202E turns
 * `rm -rf ~ \u202Etxt.gnp` into what reads as `rm -rf ~ png.txt`), nor bury the page under
 * 20,000 characters.
 */
import { escapeControlCharacters } from '../../../config/text.js';

/** How many characters (UTF-16 units) of a text an element shows; the whole text goes in its title. */
export const SHOWN_CHARACTERS = 500;

/**
 * `text` as a page shows it: control characters, line separators and bidirectional controls
 * written out (`\n`, `\x1b`, `\u202e`: config/text.ts escapeControlCharacters), and, past
 * SHOWN_CHARACTERS, cut there with an ellipsis.
 * @returns what to show, and the whole escaped text when it was cut (for a title), else null
 */
export function shown(text: string): { text: string; whole: string | null } {
  const escaped = escapeControlCharacters(text);
  if (escaped.length <= SHOWN_CHARACTERS) return { text: escaped, whole: null };
  // Never half of a surrogate pair at the cut.
  const cut = /[\ud800-\udbff]$/.test(escaped.slice(0, SHOWN_CHARACTERS)) ? SHOWN_CHARACTERS - 1 : SHOWN_CHARACTERS;
  return { text: `${escaped.slice(0, cut)}\u2026`, whole: escaped };
}

/**
 * Puts `text` in `node` as shown() shows it; a cut text's whole goes in the node's title, and
 * leaves it when the text is whole again (data-cut says the title is ours, not another tooltip).
 */
function put(node: HTMLElement, text: string): void {
  const { text: short, whole } = shown(text);
  if (node.textContent !== short) node.textContent = short;
  if (whole !== null) {
    node.title = whole;
    node.dataset.cut = '';
  } else if (node.dataset.cut !== undefined) {
    node.removeAttribute('title');
    delete node.dataset.cut;
  }
}

/** An element with a class and text, both optional. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) put(node, text);
  return node;
}

/** One of the page's stable hooks (its body.html); its absence is a bug of the page, thrown. */
export function hook(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node;
}

/** Sets a hook's text, as shown() shows it; unchanged text is not written again, so aria-live regions stay quiet. */
export function setText(id: string, text: string): void {
  put(hook(id), text);
}

/** Sets the document's title, as shown() shows it (a title has no tooltip: a cut title stays cut). */
export function setTitle(text: string): void {
  document.title = shown(text).text;
}

/** Sets a hook's text and its one class (good, stale, bad, muted). */
export function setState(id: string, text: string, state: string): void {
  setText(id, text);
  hook(id).className = state;
}

/** Past these fractions of a limit a bar turns amber, then red. */
const WARN_FRACTION = 0.75;
const CRIT_FRACTION = 0.9;

/** A role=progressbar bar for a fraction of a limit (null: there is no limit), described by `text`. */
export function bar(fraction: number | null, text: string): HTMLDivElement {
  const outer = el('div', 'bar');
  const fill = el('span');
  outer.setAttribute('role', 'progressbar');
  outer.setAttribute('aria-valuemin', '0');
  outer.setAttribute('aria-valuemax', '100');
  outer.setAttribute('aria-valuetext', text);
  if (fraction === null) {
    outer.className = 'bar none';
    fill.style.width = '100%';
  } else {
    const percent = Math.max(0, Math.min(100, fraction * 100));
    outer.setAttribute('aria-valuenow', String(Math.round(percent)));
    if (fraction >= CRIT_FRACTION) outer.className = 'bar crit';
    else if (fraction >= WARN_FRACTION) outer.className = 'bar warn';
    fill.style.width = `${percent.toFixed(1)}%`;
  }
  outer.append(fill);
  return outer;
}

/** Replaces a table body's rows; `empty` (spanning `columns`) stands in for none. */
export function fillBody(id: string, rows: HTMLTableRowElement[], columns: number, empty: string): void {
  if (rows.length === 0) {
    const cell = el('td', '', empty);
    cell.colSpan = columns;
    const row = el('tr', 'empty');
    row.append(cell);
    rows = [row];
  }
  hook(id).replaceChildren(...rows);
}

/** A link with text; `href` relative to the page (the pages work behind any prefix and origin). */
export function link(href: string, className: string, text: string): HTMLAnchorElement {
  const node = el('a', className, text);
  node.setAttribute('href', href);
  return node;
}

/** A table cell holding one link. */
export function linkCell(className: string, href: string, text: string, title?: string): HTMLTableCellElement {
  const cell = el('td', className);
  const anchor = link(href, '', text);
  if (title !== undefined) anchor.title = title;
  cell.append(anchor);
  return cell;
}

/** Shows `text` in the page's #error banner (role=alert), or hides it for null. */
export function showError(text: string | null): void {
  const banner = hook('error');
  banner.hidden = text === null;
  if (text !== null) put(banner, text);
}
