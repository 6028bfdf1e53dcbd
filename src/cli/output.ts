/**
 * Our own messages: stderr, one line each, prefixed with the program's name (docs/design.md §2).
 */
import { escapeControlCharacters, messageLine } from '../config/text.js';

// A reader that went away (`scidex-run ... 2>&1 | head -1`) must not crash a supervisor whose
// tree is still running: write errors on our own stdio are dropped.
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

/**
 * Prints `<program>: <line>` to stderr, as one line whatever the line quotes: a control character
 * from a user's input (a usage error echoing `--timeout $'5\e[31m'`, a stray word with a newline)
 * is written out (`\x1b`, `\n`), never sent to the terminal.
 */
export function printLine(program: string, line: string): void {
  process.stderr.write(`${program}: ${escapeControlCharacters(line)}\n`);
}

/** Messages for one invocation; `info` and `warn` are silenced by --quiet. */
export function messagesFor(program: string, quiet: boolean) {
  const print = (line: string) => printLine(program, line);
  const silent = () => undefined;
  return { info: quiet ? silent : print, warn: quiet ? silent : (line: string) => print(`warning: ${line}`), error: print };
}

/**
 * Prints Node's process warnings (a library's `process.emitWarning`, such as pg's multi-line
 * "SECURITY WARNING" about sslmode) as one line of ours, each text once, instead of Node's
 * several-line default. Node's default printer is itself a 'warning' listener, so it is removed.
 * @param quiet whether --quiet is in force (known only once the arguments are parsed)
 */
export function printWarningsAsLines(program: string, quiet: () => boolean = () => false): void {
  const seen = new Set<string>();
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error) => {
    const text = messageLine(warning.name === 'Warning' ? warning.message : `${warning.name}: ${warning.message}`);
    if (quiet() || seen.has(text)) return;
    seen.add(text);
    printLine(program, `warning: ${text}`);
  });
}
