/** A one-line description of a database error, without secrets. */
export function describeDatabaseError(error: unknown): string {
  const err = error as NodeJS.ErrnoException & { errors?: Error[] };
  if (err.errors?.length) return err.errors.map((inner) => inner.message).join('; ');
  return err.message || err.code || String(error);
}
