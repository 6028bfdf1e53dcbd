/**
 * Our own messages: stderr, one line each, prefixed with the program's name (DESIGN section 2).
 */

// A reader that went away (`scidex-run ... 2>&1 | head -1`) must not crash a supervisor whose
// tree is still running: write errors on our own stdio are dropped.
process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

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
