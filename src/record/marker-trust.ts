/**
 * Whether a run marker may be acted on, and for which user. A marker is only a claim (docs/design.md
 * §8): whoever can write into `running/` can write one naming any pid. So before a marker leads to a
 * signal or a kill, its file and its directories must show that only the run's user (or root) could
 * have written it: the marker is a regular file with one link (never followed through a symlink),
 * `running/` and the state directory are real directories writable by their owner alone, and that
 * owner is the marker's owner or root (a marker of root's is root's word in any directory: no one
 * else can create a file of root's). The user the marker speaks for is the marker file's owner, never the
 * `username` written inside it.
 */
import { closeSync, fstatSync, lstatSync, readFileSync, realpathSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { markerPath, parseMarker, type RunMarker } from './markers.js';
import { writableByOwnerAlone } from './state-dir.js';
import { openStateFile } from './state-file.js';

/** A marker one may act on for user `uid`, or why not (words for a person). */
export type MarkerTrust = { trusted: true; uid: number } | { trusted: false; why: string };

/**
 * Checks the marker of `runId` in `stateDir` and the directories that hold it (module comment).
 * Never throws.
 */
export function checkMarkerTrust(stateDir: string, runId: string): MarkerTrust {
  return readTrustedMarker(stateDir, runId).trust;
}

/**
 * The marker of `runId` and whether it may be acted on, both from one open file descriptor: the
 * content read is the file whose owner and links were checked (fstat of that descriptor), so a
 * marker renamed over between two opens cannot lend its trust to another's content.
 * @returns the trust as checkMarkerTrust; `marker` undefined when the file cannot be read or is
 *          not a marker (markers.ts parseMarker), whatever its trust. Never throws.
 */
export function readTrustedMarker(stateDir: string, runId: string): { marker: RunMarker | undefined; trust: MarkerTrust } {
  let path: string;
  let owner: number;
  let marker: RunMarker | undefined;
  try {
    path = markerPath(stateDir, runId);
    const fd = openStateFile(path);
    try {
      const stats = fstatSync(fd);
      // A marker is written under a temporary name and renamed: a second link is someone's copy of
      // another user's marker (possible where fs.protected_hardlinks is 0).
      if (stats.nlink !== 1) throw Object.assign(new Error('hard-linked'), { code: `nlink ${stats.nlink}` });
      owner = stats.uid;
      marker = parseMarker(readFileSync(fd, 'utf8'), runId);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    return { marker: undefined, trust: { trusted: false, why: `its marker cannot be read as a regular file (${codeOf(error)})` } };
  }
  return { marker, trust: directoriesTrust(stateDir, path, owner) };
}

/** Whether the directories holding the marker at `path`, owned by `owner`, let it be trusted (module comment). */
function directoriesTrust(stateDir: string, path: string, owner: number): MarkerTrust {
  for (const dir of [dirname(path), stateDir]) {
    let stats: Stats;
    try {
      // The state directory may be reached through a symlink (the path walk of state-dir.ts vetted it).
      stats = lstatSync(dir === stateDir ? realpathSync(dir) : dir);
    } catch (error) {
      return { trusted: false, why: `'${dir}' cannot be checked (${codeOf(error)})` };
    }
    if (!stats.isDirectory()) return { trusted: false, why: `'${dir}' is not a directory (a symlink?)` };
    if (!writableByOwnerAlone(stats)) {
      return { trusted: false, why: `'${dir}' is writable by users other than its owner (mode ${(stats.mode & 0o7777).toString(8)})` };
    }
    // A file of root's is root's word wherever it lies: no one else can make one, or write into it.
    if (stats.uid !== owner && stats.uid !== 0 && owner !== 0) {
      return { trusted: false, why: `its marker belongs to uid ${owner} but '${dir}' to uid ${stats.uid}` };
    }
  }
  return { trusted: true, uid: owner };
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}
