/**
 * The state directory holds journals; argv may carry secrets, so it is 0700 and every file in it
 * 0600 (docs/design.md §8).
 */
import { accessSync, chmodSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
      makeDirectories(dir);
      if (statSync(dir).uid === process.getuid?.()) chmodSync(dir, 0o700);
    }
    accessSync(journalDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new UsageError(`state directory '${stateDir}' cannot be written (${code}): set --state-dir or SCIDEX_RUN_STATE_DIR`);
  }
  return journalDir;
}

/**
 * `mkdir -p` one level at a time. Node 20's `mkdirSync(…, { recursive: true })` loops forever
 * when mkdir(2) answers ENOENT under a parent that exists (as `/proc/self/x` does), and a state
 * directory given by a user must fail, not hang.
 * @throws the first mkdir(2) error other than EEXIST, or ENOTDIR for a path that is not a directory
 */
function makeDirectories(dir: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
    return;
  }
  const parent = dirname(dir);
  if (parent !== dir) makeDirectories(parent);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    // Made meanwhile by a concurrent start: checked as if it had been there.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    if (!statSync(dir).isDirectory()) throw error;
  }
}
