/**
 * Recorded text on an operator's terminal. Argv, reasons, analysis ids and journal names come
 * from whoever ran the command, so they may hold newlines that break a table's layout or escape
 * sequences the terminal would obey; human output shows them as escapes instead.
 */

/** The escapes that have a well-known short form; everything else gets its code. */
const SHORT: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/**
 * `text` with every C0 and C1 control character (U+0000–U+001F, U+007F–U+009F) written out:
 * tab, newline and carriage return as `\t`, `\n`, `\r`; the rest of C0 and DEL as `\xHH`
 * (`\x1b`); C1 as `\uHHHH` (`\u0085`), so no one takes it for a raw byte. So are the line and
 * paragraph separators (U+2028, U+2029) and the bidirectional embeddings, overrides and isolates
 * (U+202A–U+202E, U+2066–U+2069), which reorder what follows them on the line ("Trojan Source",
 * CVE-2021-42574). A backslash is doubled (`\\`), so that a literal `\n` in the text cannot pass
 * for a newline. Nothing else changes.
 */
export function visible(text: string): string {
  return text.replace(/[\\\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]/g, (char) => {
    const code = char.charCodeAt(0);
    return SHORT[char] ?? (code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}
