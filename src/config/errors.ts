/**
 * A problem with what the user asked for (argv, environment, state directory). The CLI prints
 * its message as one line and exits 125 before anything is spawned.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}
