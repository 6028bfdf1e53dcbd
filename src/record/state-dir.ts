/**
 * The state directory holds journals; argv may carry secrets, so it is 0700 and every file in it
 * 0600 (DESIGN section 8).
 */
import { accessSync, chmodSync, constants, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../config/errors.js';

/**
 * Creates (if needed) and checks `<stateDir>/journal`.
 * @returns the journal directory's path
 * @throws UsageError when the directory cannot be created or written
 */
export function prepareJournalDir(stateDir: string): string {
  const journalDir = join(stateDir, 'journal');
  try {
    for (const dir of [stateDir, journalDir]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (statSync(dir).uid === process.getuid?.()) chmodSync(dir, 0o700);
    }
    accessSync(journalDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new UsageError(`state directory '${stateDir}' cannot be written (${code}): set --state-dir or SCIDEX_RUN_STATE_DIR`);
  }
  return journalDir;
}
