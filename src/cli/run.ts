/**
 * `scidex-run`: argv and environment to a RunConfig, then launch. No logic of its own: bad input
 * becomes one line on stderr and exit status 125, before anything is spawned.
 */
import { UsageError } from '../config/errors.js';
import { buildRunConfig, RUN_DEFAULTS, type RawRunOptions } from '../config/run-config.js';
import { EXIT_INTERNAL } from '../config/exit-codes.js';
import { launch } from '../supervise/launch.js';
import { printExplanation } from './explain.js';
import { messagesFor, printLine, printWarningsAsLines } from './output.js';
import { parseRunArgs } from './run-args.js';
import { FLAGS, OPTIONS, PROGRAM } from './run-options.js';

/**
 * A flag's environment variable: 1/true/yes/on, or 0/false/no/off (any case); empty is unset.
 * @throws UsageError for anything else: `maybe` must not silently mean off
 */
function envFlag(name: string | undefined, env: NodeJS.ProcessEnv): boolean {
  const value = name === undefined ? undefined : env[name]?.trim();
  if (value === undefined || value === '') return false;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new UsageError(`invalid ${name} '${value}': expected 1, true, yes, on, or 0, false, no, off`);
}

/** Parses argv and the environment into raw options. @throws UsageError */
async function parseArgs(args: string[], env: NodeJS.ProcessEnv): Promise<RawRunOptions & { explainTracking: boolean; json: boolean }> {
  const argv = await parseRunArgs(args);
  const pick = (name: keyof typeof OPTIONS): string | undefined => {
    const value = argv[name];
    if (Array.isArray(value)) throw new UsageError(`--${name} was given more than once`);
    // An empty variable counts as unset (CI systems set a secret that does not exist to "").
    return (value as string | undefined) ?? (env[OPTIONS[name].env] || undefined);
  };
  // halt-at-non-option puts the first word that is not an option, and all after it, in argv['--'].
  const command = [...argv._, ...(argv['--'] ?? [])].map(String);
  const separator = args.indexOf('--');
  if (separator >= 0 && command.length > args.length - separator - 1) {
    throw new UsageError(`unexpected argument '${command[0]}' before --: an option takes one value (quote '5 minutes')`);
  }
  const flag = (name: keyof typeof FLAGS): boolean => (argv[name] as boolean | undefined) ?? envFlag(FLAGS[name].env, env);
  return {
    command,
    analysisId: pick('analysis-id') ?? env.SCIDEX_ANALYSIS_ID,
    timeout: pick('timeout') ?? RUN_DEFAULTS.timeout,
    memoryLimit: pick('memory-limit') ?? RUN_DEFAULTS.memoryLimit,
    grace: pick('grace') ?? RUN_DEFAULTS.grace,
    orphans: pick('orphans') ?? RUN_DEFAULTS.orphans,
    orphanSettle: pick('orphan-settle') ?? RUN_DEFAULTS.orphanSettle,
    pollInterval: pick('poll-interval') ?? RUN_DEFAULTS.pollInterval,
    killSignal: pick('kill-signal') ?? RUN_DEFAULTS.killSignal,
    databaseUrl: pick('database-url'),
    stateDir: pick('state-dir'),
    sampleInterval: pick('sample-interval') ?? RUN_DEFAULTS.sampleInterval,
    heartbeatInterval: pick('heartbeat-interval') ?? RUN_DEFAULTS.heartbeatInterval,
    journalRetention: pick('journal-retention') ?? RUN_DEFAULTS.journalRetention,
    pushgateway: pick('pushgateway'),
    preserveStatus: flag('preserve-status'),
    tracking: pick('tracking') ?? RUN_DEFAULTS.tracking,
    quiet: flag('quiet'),
    explainTracking: flag('explain-tracking'),
    json: flag('json'),
  };
}

/** Entry point of bin/scidex-run. Sets process.exitCode and exits. */
export async function main(args: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<never> {
  let status: number;
  let quiet = false;
  printWarningsAsLines(PROGRAM, () => quiet);
  try {
    const raw = await parseArgs(args, env);
    quiet = raw.quiet;
    if (raw.explainTracking) {
      printExplanation(raw.json);
      process.exit(0);
    }
    const config = buildRunConfig(raw, env);
    status = await launch(config, messagesFor(PROGRAM, config.quiet));
  } catch (error) {
    printLine(PROGRAM, error instanceof UsageError ? `${error.message}` : `internal error: ${(error as Error).message}`);
    status = EXIT_INTERNAL;
  }
  process.exit(status);
}
