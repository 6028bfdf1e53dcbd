/**
 * Text from outside (an argument, a server's answer, a recorded argv) in our own one-line messages,
 * records and tables. Argv, reasons, analysis ids and journal names come from whoever ran the
 * command, so they may hold newlines that break a table's layout or escape sequences a terminal
 * would obey; what we print shows them as escapes instead.
 */

/** One C0 control character, DEL, or one C1 control character (U+0080–U+009F: U+0085 breaks lines too). */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The first line of `text`, with any other control character replaced by a space and the ends
 * trimmed: for quoting an error's message in one line of ours (docs/design.md §2).
 */
export function messageLine(text: string): string {
  return text.split(/\r?\n/, 1)[0].replace(new RegExp(CONTROL_CHARACTER.source, 'g'), ' ').trim();
}

/** The escapes that have a well-known short form; everything else gets its code. */
const SHORT: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * `text` with every C0 and C1 control character (U+0000–U+001F, U+007F–U+009F) written out, so
 * that a message quoting a user's input stays one line and sends the terminal nothing to obey:
 * tab, newline and carriage return as `\t`, `\n`, `\r`; the rest of C0 and DEL as `\xHH` (`\x1b`);
 * C1 as `\uHHHH` (`\u0085`), so no one takes it for a raw byte. So are the line and
 * paragraph separators (U+2028, U+2029), the bidirectional marks (U+061C, U+200E, U+200F) and the
 * bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which reorder
 * what follows them ("Trojan Source", CVE-2021-42574), and the invisible ones that make two texts
 * look alike (zero-width space, joiners, word joiner and invisible operators, U+200B–U+200D,
 * U+2060–U+2064; the deprecated format controls U+206A–U+206F; U+FEFF). Nothing else changes. Pure (no import): the
 * daemon's pages use it in the browser too.
 */
export function escapeControlCharacters(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/g, (char) => {
    const code = char.charCodeAt(0);
    return SHORT[char] ?? (code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/**
 * `text` for a table cell: every control character, line or paragraph separator and bidirectional
 * control written out as escapeControlCharacters() does, and a backslash doubled (`\\`), so that a
 * literal `\n` in the text cannot pass for a newline. Nothing else changes.
 */
export function visible(text: string): string {
  return escapeControlCharacters(text.replace(/\\/g, '\\\\'));
}
