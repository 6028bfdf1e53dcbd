/**
 * Reading the files of a state directory, which a user other than the reader may control (the
 * daemon runs as root over users' runs). Every such file is ours to have written as a regular
 * file: a FIFO would block open(2) and read(2) for ever, a symlink would read whatever it points
 * to (`/etc/shadow` into a log line), a directory fails late. So each is opened with O_NONBLOCK
 * (a FIFO opens at once, without a writer) and O_NOFOLLOW (a symlink fails with ELOOP), and
 * refused unless fstat(2) says it is a regular file.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';

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
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
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
