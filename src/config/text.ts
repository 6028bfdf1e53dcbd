/**
 * Text from outside (an argument, a server's answer) in our own one-line messages and records.
 */

/** One C0 control character, DEL, or one C1 control character (U+0080–U+009F: U+0085 breaks lines too). */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * The first line of `text`, with any other control character replaced by a space and the ends
 * trimmed: for quoting an error's message in one line of ours (DESIGN section 2).
 */
export function messageLine(text: string): string {
  return text.split(/\r?\n/, 1)[0].replace(new RegExp(CONTROL_CHARACTER.source, 'g'), ' ').trim();
}
