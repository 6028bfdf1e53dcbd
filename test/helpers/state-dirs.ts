/**
 * State directories of another user, laid out the way an admin gives one: a directory of root's
 * (0755, writable by root alone) holding `state/` and its subdirectories, owned by the user. The
 * path passes the state-directory checks (src/record/state-dir.ts), so a test of what lies inside
 * reaches the checks of the files themselves.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh `<root's dir>/state` with journal/, running/ and rejected/, all 0700 and owned by uid:gid. */
export function stateDirOwnedBy(uid: number, gid: number): string {
  const parent = mkdtempSync(join(tmpdir(), 'scidex-home-'));
  chmodSync(parent, 0o755);
  const stateDir = join(parent, 'state');
  for (const dir of [stateDir, ...['journal', 'running', 'rejected'].map((name) => join(stateDir, name))]) {
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, uid, gid);
  }
  return stateDir;
}
