/**
 * The exit statuses of the contract with the caller (docs/design.md §2), after timeout(1), tini and
 * Kubernetes: the wrapper exits with them, and a reaper records them for a run whose wrapper died
 * while ending it.
 */
import { constants } from 'node:os';

export const EXIT_TIMEOUT = 124;
export const EXIT_INTERNAL = 125;
export const EXIT_NOT_EXECUTABLE = 126;
export const EXIT_NOT_FOUND = 127;
/** 128 + SIGKILL, what Kubernetes reports for OOMKilled. */
export const EXIT_OUT_OF_MEMORY = 137;

/** 128 + the signal's number, as a shell reports a death by that signal. */
export function exitStatusOfSignal(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}
