/**
 * Our own messages: stderr, one line each, prefixed with the program's name (DESIGN section 2).
 */

/** Prints `<program>: <line>` to stderr. */
export function printLine(program: string, line: string): void {
  process.stderr.write(`${program}: ${line}\n`);
}

/** Messages for one invocation; `info` and `warn` are silenced by --quiet. */
export function messagesFor(program: string, quiet: boolean) {
  const print = (line: string) => printLine(program, line);
  const silent = () => undefined;
  return { info: quiet ? silent : print, warn: quiet ? silent : (line: string) => print(`warning: ${line}`), error: print };
}
