/**
 * Lock files for work that must have one doer at a time on a host (reaping a run, shipping a state
 * directory, a shipping slot, the daemon of a state directory). The file holds `pid:starttime` of
 * its holder (proc(5) stat field 22), for messages and for `lockHeld`.
 *
 * Where koffi binds libc, the lock itself is flock(2) on the file: the kernel drops it when its
 * holder dies, so a crashed holder never blocks the work and there is no stale lock to take over.
 * Taking over a dead holder's file by hand (read it, judge the holder dead, remove it, create it
 * again) lets two takers who judged the same dead holder both win; with flock that cannot happen.
 * A released lock file is unlinked while still locked, and a taker checks that the file it locked
 * is still the one at the path, so no one ever holds a lock on an unlinked file.
 *
 * Without koffi the file alone is the lock (O_EXCL), taken over when its holder is dead: the race
 * above remains there, between takers that meet a crashed holder's file at the same moment.
 *
 * A lock file is a regular file with one name, ours: anything else at its name (a symlink to a
 * file to truncate, a FIFO, a hard link, planted by whoever can write the directory) is never
 * opened for writing (state-file.ts) but unlinked, which touches only the name, and the lock made
 * anew.
 */
import { closeSync, constants, fstatSync, ftruncateSync, linkSync, lstatSync, rmSync } from 'node:fs';
import { readStat } from '../proc/stat.js';
import { libc } from '../sys/libc.js';
import { createStateFile, openStateFileForWriting, readStateFile, temporaryName, writeAll } from './state-file.js';

/** `pid:starttime` of this process. */
function ourHolder(): string {
  return `${process.pid}:${readStat(process.pid)?.starttime ?? 0}`;
}

function holderAlive(text: string): boolean {
  const [pid, starttime] = text.split(':').map(Number);
  return Number.isInteger(pid) && pid > 1 && readStat(pid)?.starttime === starttime;
}

/** The file descriptors of the flock(2) locks this process holds, by path. */
const held = new Map<string, number>();

/**
 * Takes the lock at `path` for this process.
 * @returns whether we hold it now (false: a live process does, or the file cannot be made)
 */
export function takeLock(path: string): boolean {
  return tryLock(path) === 'taken';
}

/**
 * What taking a lock came to: `taken`; `held` by another live process (or by us already);
 * `unavailable` when the lock file cannot be made or written (a full disk, a read-only file
 * system, no permission, something other than a regular file at the path).
 */
export type LockAttempt = 'taken' | 'held' | 'unavailable';

/** Takes the lock at `path` for this process, saying why not when it cannot (see LockAttempt). */
export function tryLock(path: string): LockAttempt {
  if (held.has(path)) return 'held';
  const calls = libc();
  return calls ? takeFlock(path, calls.tryLockExclusive) : takeExclusiveFile(path);
}

/** Errors of openStateFileForWriting for a name holding something that is no lock file of ours. */
const PLANTED = new Set(['ELOOP', 'EFTYPE', 'EMLINK']);

function takeFlock(path: string, tryLockExclusive: (fd: number) => boolean): LockAttempt {
  // Three attempts: something planted at the name removed, and the file we locked unlinked by its
  // releasing holder meanwhile.
  let result: LockAttempt = 'held';
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openStateFileForWriting(path, constants.O_RDWR | constants.O_CREAT);
    } catch (error) {
      if (!PLANTED.has((error as NodeJS.ErrnoException).code ?? '')) return 'unavailable';
      result = 'unavailable';
      try {
        rmSync(path, { force: true });
      } catch {
        // A directory: not ours to remove.
        return 'unavailable';
      }
      continue;
    }
    let locked = false;
    try {
      if (!tryLockExclusive(fd)) {
        closeSync(fd);
        return 'held';
      }
      locked = true;
      if (lstatSync(path, { throwIfNoEntry: false })?.ino !== fstatSync(fd).ino) {
        closeSync(fd);
        result = 'held';
        continue;
      }
      ftruncateSync(fd, 0);
      writeAll(fd, ourHolder());
      held.set(path, fd);
      return 'taken';
    } catch {
      // Ours, but its holder cannot be written (a full disk): not left behind half-made.
      if (locked) rmSync(path, { force: true });
      closeSync(fd);
      return 'unavailable';
    }
  }
  return result;
}

function takeExclusiveFile(path: string): LockAttempt {
  const draft = temporaryName(path, 'draft');
  let fd: number;
  try {
    fd = createStateFile(draft);
  } catch {
    return 'unavailable';
  }
  try {
    // Created whole, then linked into place: a reader never sees an empty lock and takes it for dead.
    writeAll(fd, ourHolder());
  } catch {
    rmSync(draft, { force: true });
    return 'unavailable';
  } finally {
    closeSync(fd);
  }
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(draft, path);
        return 'taken';
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return 'unavailable';
        if (lockHeld(path)) return 'held';
        rmSync(path, { force: true });
      }
    }
    return 'held';
  } catch {
    return 'unavailable';
  } finally {
    rmSync(draft, { force: true });
  }
}

/** Whether a live process holds the lock at `path` (by the holder the file names). */
export function lockHeld(path: string): boolean {
  try {
    return holderAlive(readStateFile(path));
  } catch {
    return false;
  }
}

/**
 * Gives up a lock we hold, or clears the file of a dead holder (a crashed reaper's, when the run it
 * names ends); never throws, and never removes the lock of a live holder.
 */
export function releaseLock(path: string): void {
  const fd = held.get(path);
  if (fd !== undefined) {
    held.delete(path);
    // Unlinked while still locked: see the module comment.
    rmSync(path, { force: true });
    closeSync(fd);
    return;
  }
  try {
    const holder = readStateFile(path);
    if (holder === ourHolder() || !holderAlive(holder)) rmSync(path, { force: true });
  } catch {
    // Gone already, or not a file we could have made.
  }
}
