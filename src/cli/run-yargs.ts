/**
 * The full yargs parser of `scidex-run`: --help (with the help renderer), --version, and the exact
 * message of every malformed command line. Loaded only when the light parser (run-args.ts) defers
 * to it, so a well-formed run never evaluates yargs.
 */
import yargs from 'yargs';
import { UsageError } from '../config/errors.js';
import { PARSER_CONFIGURATION, type ParsedArgv } from './run-args.js';
import { EPILOGUE, FLAGS, OPTIONS, PROGRAM } from './run-options.js';
import { packageVersion } from './version.js';

/**
 * Parses `args` as yargs does; prints the help or version and exits 0 when asked to.
 * @throws UsageError with yargs' message for a malformed command line
 */
export function parseWithYargs(args: string[]): ParsedArgv {
  const parser = yargs(args)
    .scriptName(PROGRAM)
    .usage('Usage: $0 [options] -- command [args...]\n\nRuns command as a supervised analysis: its whole process tree is tracked, limited, killed when it must be, and recorded.')
    .parserConfiguration(PARSER_CONFIGURATION)
    .strictOptions()
    .version(packageVersion())
    .help()
    .alias('help', 'h')
    .epilogue(EPILOGUE)
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((message, error) => {
      throw new UsageError(message ?? error?.message ?? 'invalid arguments');
    });
  for (const [name, option] of Object.entries(OPTIONS)) {
    parser.option(name, { type: 'string', requiresArg: true, describe: `${option.describe} [env: ${option.env}]` });
  }
  for (const [name, flag] of Object.entries(FLAGS)) {
    parser.option(name, { type: 'boolean', describe: flag.env ? `${flag.describe} [env: ${flag.env}]` : flag.describe });
  }
  return parser.parseSync() as ParsedArgv;
}
