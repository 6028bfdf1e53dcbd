/** A run id is a UUID (crypto.randomUUID, lower-case); it also names files and cgroups, so it is checked before use. */
export const RUN_ID_PATTERN = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

const RUN_ID = new RegExp(`^${RUN_ID_PATTERN}$`);

/** Whether `text` is a run id. */
export function isRunId(text: string): boolean {
  return RUN_ID.test(text);
}
