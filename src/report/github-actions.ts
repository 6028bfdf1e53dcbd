/**
 * GitHub Actions annotations: under a workflow (GITHUB_ACTIONS=true) a run that scidex-run killed
 * also prints an `::error` workflow command on stdout, so the kill shows on the job's summary page
 * and on the pull request, not only deep in the log.
 */
import { formatDuration } from '../config/duration.js';
import { formatSize } from '../config/size.js';
import type { RunEnd } from './run-end.js';

/** True when running as a step of a GitHub Actions workflow (the runner sets GITHUB_ACTIONS=true). */
export function underGitHubActions(env: NodeJS.ProcessEnv): boolean {
  return env.GITHUB_ACTIONS === 'true';
}

/**
 * Escapes the message of a workflow command: `%`, CR and LF, as GitHub's runner decodes them
 * (`%25`, `%0D`, `%0A`); without it a newline in an analysis id would end the command early.
 */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escapes a property value of a workflow command: as data, plus `:` and `,`, which separate properties. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/**
 * The `::error` line for a killed run, or undefined when the run was not killed by us.
 * Shape: `::error title=scidex-run::<analysis> killed: <reason> after <duration>, peak tree RSS <size> (exit status N)`;
 * `<analysis>` is the analysis id, or `run <run id>` when the run has none.
 */
export function killAnnotation(end: RunEnd): string | undefined {
  if (!end.killedFor) return undefined;
  const { record } = end;
  const who = record.analysis_id ?? `run ${record.id}`;
  const reason =
    end.killedFor === 'timeout'
      ? `timeout (limit ${formatDuration(record.timeout_ms)})`
      : end.killedFor === 'memory'
        ? `memory limit (${formatSize(record.memory_limit_bytes)}${record.peak_pss_bytes === null ? '' : `, tree PSS ${formatSize(record.peak_pss_bytes)}`})`
        : end.killedFor === 'host_pressure'
          ? "the host's memory ran short (the host's scidex-watchdog stopped its largest run)"
        : end.killedFor === 'kernel_oom'
          ? `the kernel's OOM killer at the memory backstop above the ${formatSize(record.memory_limit_bytes)} limit`
          : 'orphans left behind';
  const message =
    `${who} killed: ${reason} after ${formatDuration(end.durationSeconds * 1000)}, ` +
    `peak tree RSS ${formatSize(record.peak_rss_bytes)} (exit status ${record.exit_status ?? 'unknown'})`;
  return `::error title=${escapeProperty('scidex-run')}::${escapeData(message)}`;
}

/**
 * Prints the kill annotation to stdout when under GitHub Actions and the run was killed. It goes
 * out even with --quiet: it is an error report, and the runner, not a person, reads it.
 */
export function annotateKill(end: RunEnd, env: NodeJS.ProcessEnv, write: (line: string) => void = (line) => process.stdout.write(line)): void {
  if (!underGitHubActions(env)) return;
  const line = killAnnotation(end);
  if (line) write(`${line}\n`);
}
