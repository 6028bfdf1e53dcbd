/**
 * Reading and writing the files of a state directory, which a user other than this process may
 * control (the daemon runs as root over users' runs; a journal directory may be another user's).
 * Every such file is ours to have written as a regular file with one name, so anything else found
 * at one of our names was planted:
 *   - a FIFO would block open(2) and read(2) for ever: every open is O_NONBLOCK (a FIFO opens at
 *     once, without a writer, or fails with ENXIO for writing) and refused unless fstat(2) says it
 *     is a regular file (a file only read is lstat(2)ed first too: opening a device has effects);
 *   - a symlink would read or write whatever it points to (`/etc/shadow` into a log line, or
 *     truncated by root): every open is O_NOFOLLOW (ELOOP), and a file is created with O_EXCL,
 *     which open(2) documents as failing on a symlink whatever it points to;
 *   - a hard link to a file elsewhere (possible where fs.protected_hardlinks is 0, proc_sys_fs(5))
 *     would let a write land in that file: a file opened for writing must have st_nlink 1.
 * A file replaced whole (a marker, a request, a heartbeat, a mark) is written to a fresh temporary
 * name and renamed over its name: rename(2) replaces a symlink or hard link at the target without
 * following it, so the file it pointed to is never touched.
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

/** The error for a state file that is not a regular file; `code` is EFTYPE (BSD's name for it). */
function notRegular(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`'${path}' is not a regular file`), { code: 'EFTYPE' });
}

/**
 * Opens a state file for reading.
 * @returns a file descriptor; the caller closes it
 * @throws ENOENT and the like from open(2), ELOOP for a symlink, EFTYPE for anything but a regular file
 */
export function openStateFile(path: string): number {
  // Refused before the open as well as after it: opening a device has effects of its own (a tape
  // rewinds; a terminal would become our controlling one, which O_NOCTTY prevents).
  const seen = lstatSync(path);
  // The error open(2) gives a symlink under O_NOFOLLOW (as Node words it), which callers report.
  if (seen.isSymbolicLink()) throw Object.assign(new Error(`ELOOP: too many symbolic links encountered, open '${path}'`), { code: 'ELOOP' });
  if (!seen.isFile()) throw notRegular(path);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY);
  try {
    if (!fstatSync(fd).isFile()) throw notRegular(path);
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * The whole content of a state file, as UTF-8.
 * @throws as openStateFile
 */
export function readStateFile(path: string): string {
  const fd = openStateFile(path);
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens a state file for writing (or reading and writing), creating it with mode 0600 when
 * `flags` holds O_CREAT. What is at the path is looked at with lstat(2) first, so that a FIFO or a
 * device someone linked there is never opened at all; the open itself adds O_NOFOLLOW and
 * O_NONBLOCK, and what it opened must be a regular file with one name.
 * @param flags O_WRONLY or O_RDWR, with O_APPEND, O_CREAT as wanted (fs.constants)
 * @returns a file descriptor; the caller closes it
 * @throws ENOENT and the like from open(2); ELOOP for a symlink; EFTYPE for anything but a regular
 *         file; EMLINK for a file with more than one name (a planted hard link)
 */
export function openStateFileForWriting(path: string, flags: number): number {
  const found = lstatSync(path, { throwIfNoEntry: false });
  if (found?.isSymbolicLink()) throw Object.assign(new Error(`'${path}' is a symlink`), { code: 'ELOOP' });
  if (found && !found.isFile()) throw notRegular(path);
  const fd = openSync(path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY, 0o600);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw notRegular(path);
    if (stat.nlink !== 1) throw Object.assign(new Error(`'${path}' has ${stat.nlink} links`), { code: 'EMLINK' });
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * Creates a new state file, mode 0600 (less what the umask takes), open for writing: O_CREAT|O_EXCL
 * fails on anything already at the path, a dangling symlink included.
 * @returns a file descriptor; the caller closes it
 * @throws EEXIST when the name is taken; the other errors of open(2)
 */
export function createStateFile(path: string): number {
  return openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
}

/** Writes all of `data` at the file offset of `fd` (or its end, with O_APPEND). @throws the errors of write(2) */
export function writeAll(fd: number, data: string | Buffer): void {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  let written = 0;
  while (written < bytes.length) written += writeSync(fd, bytes, written);
}

/**
 * A name beside `path` for a file about to be renamed onto it: unpredictable, so that nobody can
 * plant something there ahead of us (O_EXCL would then fail, and the write with it).
 */
export function temporaryName(path: string, suffix = 'tmp'): string {
  return `${path}.${process.pid}.${randomBytes(6).toString('hex')}.${suffix}`;
}

/**
 * Replaces the state file at `path` with `content` (mode 0600) in one step: written to a new
 * temporary file beside it (createStateFile), given to `owner` through its descriptor when asked
 * (fchown(2): a name can be swapped between calls, a descriptor cannot; without CAP_CHOWN, made
 * 0644 instead: giveTo), then renamed over `path`.
 * Whatever was at `path` before (a symlink, a hard link) is replaced, never followed.
 * @throws the file system's error; the temporary file is removed then
 */
export function replaceStateFile(path: string, content: string, owner?: { uid: number; gid: number }): void {
  const temporary = temporaryName(path);
  let fd: number | undefined = createStateFile(temporary);
  try {
    writeAll(fd, content);
    if (owner) giveTo(fd, owner);
    closeSync(fd);
    fd = undefined;
    renameSync(temporary, path);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    // A full disk: nothing half-written stays behind.
    rmSync(temporary, { force: true });
    throw error;
  }
}

/**
 * Gives a file we just made to `owner` through its descriptor. Without CAP_CHOWN (a hardened
 * systemd unit's bounding set) fchown(2) says EPERM: the file stays ours and is made readable by
 * all instead (0644), which lets its owner-to-be read it; it lies in that user's 0700 directory.
 */
function giveTo(fd: number, owner: { uid: number; gid: number }): void {
  try {
    fchownSync(fd, owner.uid, owner.gid);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
    fchmodSync(fd, 0o644);
  }
}
