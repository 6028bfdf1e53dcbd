/**
 * Recorded text on an operator's terminal. Argv, reasons, analysis ids and journal names come
 * from whoever ran the command, so they may hold newlines that break a table's layout or escape
 * sequences the terminal would obey; human output shows them as escapes instead.
 */
import { escapeControlCharacters } from '../config/text.js';

/**
 * `text` for a table cell: every control character, line or paragraph separator and bidirectional
 * control written out as escapeControlCharacters() does, and a backslash doubled (`\\`), so that a
 * literal `\n` in the text cannot pass for a newline. Nothing else changes.
 */
export function visible(text: string): string {
  return escapeControlCharacters(text.replace(/\\/g, '\\\\'));
}
