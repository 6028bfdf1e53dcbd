/**
 * Argv may carry secrets (docs/design.md §8). Before an argv is stored, these are replaced by ***:
 *   - the password of a URL (`postgres://user:secret@host`);
 *   - the value of `key=value` or `--key=value` when the key names a secret, also inside a longer
 *     argument (a `sh -c` script, `--opt=a,token=b`) and as a URL query parameter
 *     (`?access_token=...&X-Amz-Signature=...`);
 *   - the credential of an `Authorization:` header and of any `Bearer` token, and the value of a
 *     header whose name names a secret (`X-Api-Key: ...`);
 *   - the argument after a bare `--password`-like flag.
 * Not recognised: a secret passed as a plain word (`--password hunter2` inside a script string, a
 * key given as the whole argument), or under a name that does not say what it is.
 */

/** Names that say "secret": password, secret, token, key (api_key, X-Api-Key), signature (sig), auth, credentials. */
const SECRET_KEY = /(pass(word|wd|phrase)?|secret|token|(^|[-_.])key|apikey|access[-_]?key|private[-_]?key|auth|credentials?|signature|(^|[-_.])sig)$/i;
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:)[^@\s/]+@/gi;
/**
 * `key=value` anywhere in an argument: at its start, or after a blank, a quote, a comma or
 * semicolon, or a URL's `?` or `&`.
 */
const EMBEDDED_ASSIGNMENT = /(^|[\s"',;?&])(-{0,2}[\w.-]+)=("[^"]*"|'[^']*'|[^\s"',;&#]+)/g;
/** `Authorization: <scheme> <credential>` (RFC 9110 section 11.6.2), the scheme kept. */
const AUTHORIZATION = /\b((?:proxy-)?authorization\s*:\s*)(?:(bearer|basic|digest|token|negotiate|aws4-hmac-sha256)\s+)?("[^"]*"|'[^']*'|[^\s"']+)/gi;
/** A `Bearer <token>` anywhere (RFC 6750). */
const BEARER = /\b(bearer\s+)(?!\*\*\*)[\w.~+/=-]+/gi;
/** `Name: value` header forms whose name says secret (`X-Api-Key: abc`). */
const SECRET_HEADER = /(^|[\s"'])([\w-]+)(\s*:\s*)("[^"]*"|'[^']*'|[^\s"']+)/g;

/** One argument with its secrets replaced by `***`. */
function redactArgument(arg: string): string {
  return arg
    .replace(URL_PASSWORD, '$1***@')
    .replace(AUTHORIZATION, (_whole, header: string, scheme: string | undefined) => `${header}${scheme ? `${scheme} ` : ''}***`)
    .replace(BEARER, '$1***')
    .replace(SECRET_HEADER, (whole, before: string, name: string, colon: string) => (SECRET_KEY.test(name) ? `${before}${name}${colon}***` : whole))
    .replace(EMBEDDED_ASSIGNMENT, (whole, before: string, key: string) => (SECRET_KEY.test(key) ? `${before}${key}=***` : whole));
}

/** The argv with secrets replaced by `***`; the same length as the input. */
export function redactArgv(argv: readonly string[]): string[] {
  return argv.map((arg, index) => {
    const previous = argv[index - 1];
    if (previous !== undefined && /^--?[\w-]+$/.test(previous) && SECRET_KEY.test(previous)) return '***';
    return redactArgument(arg);
  });
}
