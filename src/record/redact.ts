/**
 * Argv may carry secrets (DESIGN section 8). Before an argv is stored, these are replaced by ***:
 * the password of a URL (`postgres://user:secret@host`), the value of `key=value` or
 * `--key=value` when the key names a secret (also inside a longer argument, such as a `sh -c` script), and the argument after a bare `--password`-like flag.
 */

const SECRET_KEY = /(pass(word|wd|phrase)?|secret|token|api[-_]?key|access[-_]?key|auth|credentials?|private[-_]?key)$/i;
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:)[^@\s/]+@/gi;
/** `key=value` anywhere in an argument (a `sh -c` script, `--opt=a,token=b`): start, blank, quote or comma before it. */
const EMBEDDED_ASSIGNMENT = /(^|[\s"',;])(-{0,2}[\w.-]+)=("[^"]*"|'[^']*'|[^\s"',;]+)/g;

/** The argv with secrets replaced by `***`; the same length as the input. */
export function redactArgv(argv: readonly string[]): string[] {
  return argv.map((arg, index) => {
    const previous = argv[index - 1];
    if (previous !== undefined && /^--?[\w-]+$/.test(previous) && SECRET_KEY.test(previous)) return '***';
    return arg
      .replace(URL_PASSWORD, '$1***@')
      .replace(EMBEDDED_ASSIGNMENT, (whole, before: string, key: string) => (SECRET_KEY.test(key) ? `${before}${key}=***` : whole));
  });
}
