/**
 * The command line of `scidex-run`, read on the hot path by yargs-parser alone: the parser yargs
 * itself uses, with the configuration yargs gives it for our options, without yargs' help renderer
 * and its dependencies, which cost a run more start-up time than the rest of the wrapper
 * (BENCHMARKS.md, "Light"). Anything but a well-formed run (--help, --version, an unknown option, a
 * missing value, a parse error) goes to yargs (run-yargs.ts), so every message stays yargs' own.
 * test/unit/run-args.test.ts checks that both read every command line of its corpus alike.
 */
import parse from 'yargs-parser';
import { FLAGS, OPTIONS } from './run-options.js';

/** The parsed command line: option values by name (and camelCase alias), `_` and `--` as yargs gives them. */
export type ParsedArgv = Record<string, unknown> & { _: (string | number)[]; '--'?: (string | number)[] };

/**
 * How the options are read: `--` kept apart, words that look like numbers kept as text, and the
 * first word that is no option ends the options (the command and its own flags follow it).
 */
export const PARSER_CONFIGURATION = { 'populate--': true, 'parse-positional-numbers': false, 'halt-at-non-option': true } as const;

const STRINGS = Object.keys(OPTIONS);
const BOOLEANS = Object.keys(FLAGS);
const camel = (name: string): string => name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
/** Every key a well-formed command line may produce: each option's name and its camelCase twin, which yargs-parser fills in together. */
const KNOWN = new Set(['_', '--', ...[...STRINGS, ...BOOLEANS].flatMap((name) => [name, camel(name)])]);

/**
 * What yargs gives yargs-parser for our options. `key` (every option yargs knows, so that
 * `--preserveStatus` is the flag under another name) is read by yargs-parser though its types omit it.
 */
const OPTIONS_AS_YARGS_GIVES_THEM: parse.Options & { key: Record<string, boolean> } = {
  string: STRINGS,
  boolean: [...BOOLEANS, 'help', 'version'],
  alias: { help: ['h'] },
  key: Object.fromEntries([...STRINGS, ...BOOLEANS, 'help', 'version'].map((name) => [name, true])),
  // yargs' requiresArg: a value must follow (NaN: at least one, as yargs sets it).
  narg: Object.fromEntries(STRINGS.map((name) => [name, NaN])),
  configuration: PARSER_CONFIGURATION,
};

/**
 * The command line as yargs would read it, when it is a well-formed run; undefined when only yargs
 * may answer it (help, version, or any error).
 */
export function parseLight(args: string[]): ParsedArgv | undefined {
  const result = parse.detailed(args, OPTIONS_AS_YARGS_GIVES_THEM);
  if (result.error) return undefined;
  const argv = result.argv as ParsedArgv;
  if (argv.help || argv.version || Object.keys(argv).some((key) => !KNOWN.has(key))) return undefined;
  return argv;
}

/** The command line, from the light parser when it can, else from yargs (loaded then). @throws UsageError */
export async function parseRunArgs(args: string[]): Promise<ParsedArgv> {
  return parseLight(args) ?? (await import('./run-yargs.js')).parseWithYargs(args);
}
