import { messageLine } from '../config/text.js';

/**
 * A one-line description of a database error, without secrets.
 * node-pg-migrate puts the underlying error's stack inside its own message ("Unable to ensure
 * migrations table: error: permission denied ...\n    at ..."): only the first line is kept, and
 * control characters from the server's text are replaced.
 */
export function describeDatabaseError(error: unknown): string {
  const err = error as NodeJS.ErrnoException & { errors?: Error[] };
  return err?.errors?.length ? err.errors.map((inner) => messageLine(inner.message)).join('; ') : messageLine(err?.message || err?.code || String(error));
}
