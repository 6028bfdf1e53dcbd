/**
 * Opening a state directory safely. It holds journals (argv may carry secrets) and the files root's
 * daemon and reapers write, so it must be one that no other user could have made, moved or
 * pointed somewhere. As OpenSSH's StrictModes does for authorized_keys (safe_path() in its misc.c:
 * every directory up to / owned by root or the user and not group- or world-writable), with an
 * exception for sticky directories such as /tmp, the path is walked from / one component at a
 * time with lstat(2), before anything is created or written, and
 *   - every directory on it must be owned by root or the caller, and not writable by its group or
 *     others unless sticky (in a sticky directory, unlink(2) and rename(2) of an entry are its
 *     owner's, the directory's owner's or root's alone: /tmp);
 *     for root, a directory of another user also counts when its parent is root's or that
 *     user's own and writable by no one else: it was given to that user (root's daemon serving
 *     `/home/alice/.local/state/scidex-run`), not squatted in a shared directory such as /tmp;
 *   - a symlink is followed only when it is owned by root or the caller and lies in a directory of
 *     root or the caller (no one else can have made it or can swap it); its target is walked the
 *     same way, up to Linux's 40 links (path_resolution(7));
 *   - the state directory itself must be the caller's (for root: anyone's, under the rule above),
 *     and writable by no one but its owner, sticky or not: we refuse it, with the chmod to run,
 *     rather than chmod a directory we did not make;
 *   - its `journal`, `running` and `rejected` directories, when they exist, must be real
 *     directories (no symlink) of root, the caller or the state directory's owner, writable by no
 *     one else.
 * What is missing is created with mkdir(2) mode 0700, and only what was just created is chmodded
 * (to undo the umask). Each file in it is then opened one by one the safe way (state-file.ts).
 * The checks happen when a command starts, and at every sweep of the daemon: the path is not pinned
 * by a descriptor (Node has no openat(2)), so whoever owns a directory on it (root, the caller, or
 * the user whose state directory root serves) could swap it in between. What our writes can reach
 * then is files of our own names (markers, journals, locks, marks) in the directory swapped in:
 * new files (O_EXCL), renames onto those names, and lock and journal files that are regular files
 * with one name; never a symlink's target.
 */
import { accessSync, chmodSync, constants, lchownSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { UsageError } from '../config/errors.js';
import { visible } from '../config/text.js';

/** Linux's limit on the symlinks followed in one path resolution (MAXSYMLINKS, path_resolution(7)). */
const MAX_SYMLINKS = 40;
const STICKY = 0o1000;

/** The directories a state directory holds. */
export type StateSubdir = 'journal' | 'running' | 'rejected';
const SUBDIRS: readonly StateSubdir[] = ['journal', 'running', 'rejected'];

/** Why a state directory (or a directory in it) is refused: one phrase naming the path at fault. */
export class StateDirRefusal extends Error {
  override name = 'StateDirRefusal';
}

/** A directory reached by the walk. */
interface Reached {
  path: string;
  stat: Stats;
  /** We made it just now: ours, 0700, nothing to check. */
  made: boolean;
}

/**
 * Opens (checks, and with `create` makes) a state directory and the directories it holds, as the
 * module docstring says; with `create`, `journal` is made too.
 * @returns whether the state directory exists (always true with `create`)
 * @throws UsageError (exit 125) naming what is wrong and where: `state directory 'X' refused: ...`
 *         for a path someone else could control, `state directory 'X' cannot be written (CODE)` for
 *         an error of the file system (ENOTDIR, ENOENT under /proc, EACCES, ELOOP)
 */
export function openStateDir(stateDir: string, create: boolean): boolean {
  const caller = callerUid();
  try {
    const top = walk(stateDir, create, caller);
    if (!top) return false;
    for (const name of SUBDIRS) stateSubdir(stateDir, name, create && name === 'journal', top.stat.uid);
    return true;
  } catch (error) {
    throw asUsageError(stateDir, error);
  }
}

/**
 * Opens a state directory (openStateDir with `create`) and checks that its journal directory can
 * be written.
 * @returns the journal directory's path
 * @throws UsageError as openStateDir, or when the journal directory cannot be written
 */
export function prepareJournalDir(stateDir: string): string {
  openStateDir(stateDir, true);
  const journalDir = join(stateDir, 'journal');
  try {
    accessSync(journalDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw asUsageError(stateDir, error);
  }
  return journalDir;
}

/**
 * A directory of a state directory already opened, checked as the module docstring says, and
 * made (0700) when missing and `create` is set: for the writers that need one later (markers,
 * set-aside records), so that a `running` swapped for a symlink since the start is not followed.
 * @param stateOwner the state directory's owner (stat(2) of it when not given)
 * @returns its path, or undefined when it does not exist and `create` is not set
 * @throws StateDirRefusal for a directory someone else could control; the file system's error
 */
export function stateSubdir(stateDir: string, name: StateSubdir, create: boolean, stateOwner?: number): string | undefined {
  const path = join(stateDir, name);
  let stat = lstatSync(path, { throwIfNoEntry: false });
  if (!stat) {
    if (!create) return undefined;
    if (makeOwnDirectory(path, callerUid())) {
      // Root at work in a user's state directory (a reaper, a daemon): the directory is the user's,
      // or their next run could not write in it.
      const owner = stateOwner ?? statSync(stateDir).uid;
      if (callerUid() === 0 && owner !== 0) lchownSync(path, owner, statSync(stateDir).gid);
      return path;
    }
    stat = lstatSync(path);
  }
  if (stat.isSymbolicLink()) refuse(`${quoted(path)} is a symlink; the directories of a state directory are real ones`);
  if (!stat.isDirectory()) throw errno('ENOTDIR', path);
  const owner = stateOwner ?? statSync(stateDir).uid;
  const caller = callerUid();
  if (stat.uid !== 0 && stat.uid !== caller && stat.uid !== owner) {
    refuse(`${quoted(path)} belongs to ${who(stat.uid)}, neither to the state directory's owner (${who(owner)}) nor to root`);
  }
  const open = writers(stat);
  if (open) refuse(`${quoted(path)} can be written by ${open} (mode ${modeOf(stat)}); run chmod 700 ${quoted(path)}`);
  return path;
}

/**
 * Walks `stateDir` from / (module docstring), making what is missing when `create` is set.
 * @returns the state directory reached, or undefined when it does not exist and `create` is not set
 * @throws StateDirRefusal; ENOTDIR, ELOOP and the file system's errors
 */
function walk(stateDir: string, create: boolean, caller: number): Reached | undefined {
  const pending = components(resolve(stateDir));
  const reached: Reached[] = [{ path: '/', stat: lstatSync('/'), made: false }];
  checkDirectory(reached[0], undefined, caller, pending.length === 0);
  let links = 0;
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      // Physical, as the kernel does: the parent of where the links led, already checked.
      if (reached.length > 1) reached.pop();
      continue;
    }
    const parent = reached.at(-1)!;
    const path = join(parent.path, name);
    let stat = lstatSync(path, { throwIfNoEntry: false });
    if (!stat) {
      if (!create) return undefined;
      const made = makeOwnDirectory(path, caller);
      if (made) {
        reached.push({ path, stat: made, made: true });
        continue;
      }
      // Made meanwhile by someone else: checked as if it had been there.
      stat = lstatSync(path);
    }
    if (stat.isSymbolicLink()) {
      checkSymlink(path, stat, parent, caller);
      if (++links > MAX_SYMLINKS) throw errno('ELOOP', path);
      const target = readlinkSync(path);
      pending.unshift(...components(target));
      if (isAbsolute(target)) reached.splice(1);
      continue;
    }
    if (!stat.isDirectory()) throw errno('ENOTDIR', path);
    const next = { path, stat, made: false };
    checkDirectory(next, parent, caller, pending.length === 0);
    reached.push(next);
  }
  return reached.at(-1)!;
}

/**
 * Checks one directory of the path: who may write it, and whose it is (module docstring).
 * @param last it is the state directory itself
 */
function checkDirectory(dir: Reached, parent: Reached | undefined, caller: number, last: boolean): void {
  const { path, stat } = dir;
  // Whose it is first: a chmod is no fix for a directory someone else owns.
  if (last && caller !== 0 && stat.uid !== caller) refuse(`${quoted(path)} belongs to ${who(stat.uid)}, not to you, ${who(caller)}`);
  const open = writers(stat);
  if (open && last) refuse(`${quoted(path)} can be written by ${open} (mode ${modeOf(stat)}); run chmod 700 ${quoted(path)}`);
  if (open && (stat.mode & STICKY) === 0) {
    refuse(`${quoted(path)} can be written by ${open} (mode ${modeOf(stat)}) and is not sticky, so they could replace what lies in it; run chmod go-w ${quoted(path)}`);
  }
  const owner = stat.uid;
  if (owner === 0 || owner === caller) return;
  if (caller !== 0) refuse(`${quoted(path)} belongs to ${who(owner)}, neither to root nor to you, ${who(caller)}`);
  // Root and a user's directory: given to that user, or squatted where others can write?
  if (!parent) refuse(`${quoted(path)} belongs to ${who(owner)}`);
  const parentOpen = writers(parent.stat);
  if (parentOpen) {
    refuse(`${quoted(path)} belongs to ${who(owner)} and lies in ${quoted(parent.path)}, which ${parentOpen} can write (mode ${modeOf(parent.stat)}): anyone could have made it there`);
  }
  if (parent.stat.uid !== 0 && parent.stat.uid !== owner) {
    refuse(`${quoted(path)} belongs to ${who(owner)} and lies in ${quoted(parent.path)}, which belongs to ${who(parent.stat.uid)}`);
  }
}

/** Checks that a symlink on the path is one to follow (module docstring). */
function checkSymlink(path: string, stat: Stats, parent: Reached, caller: number): void {
  const trusted = () => (caller === 0 ? 'root' : `root or you, ${who(caller)},`);
  if (stat.uid !== 0 && stat.uid !== caller) {
    refuse(`${quoted(path)} is a symlink owned by ${who(stat.uid)}, who can point it anywhere; only symlinks of ${trusted()} are followed`);
  }
  const holder = parent.stat.uid;
  if (holder !== 0 && holder !== caller) {
    refuse(`${quoted(path)} is a symlink in ${quoted(parent.path)}, which belongs to ${who(holder)}, who can replace it; only symlinks in directories of ${trusted()} are followed`);
  }
}

/**
 * mkdir(2) with mode 0700, then chmod(2) to 0700 when the umask took bits or a setgid parent added
 * one: the only chmod this module ever does, and only of what it just made.
 * @returns the new directory's status, or undefined when the name was taken (EEXIST)
 * @throws the errors of mkdir(2) and chmod(2); StateDirRefusal when what is at the name is not
 *         the directory we made
 */
function makeOwnDirectory(path: string, caller: number): Stats | undefined {
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw error;
  }
  const made = lstatSync(path);
  if (!made.isDirectory() || made.uid !== caller) refuse(`${quoted(path)} was replaced while we made it`);
  if ((made.mode & 0o7777) === 0o700) return made;
  // By name, not through a descriptor: a directory the umask left 0000 cannot be opened. The name
  // is safe: its parent was checked, so only root, we, or (sticky) no one else can swap our entry.
  chmodSync(path, 0o700);
  const stat = lstatSync(path);
  if (stat.ino !== made.ino || stat.dev !== made.dev) refuse(`${quoted(path)} was replaced while we made it`);
  return stat;
}

/** The error a state directory's problem becomes for the user. */
function asUsageError(stateDir: string, error: unknown): UsageError {
  if (error instanceof UsageError) return error;
  if (error instanceof StateDirRefusal) return new UsageError(`state directory ${quoted(stateDir)} refused: ${error.message}`);
  const code = (error as NodeJS.ErrnoException).code ?? String(error);
  return new UsageError(`state directory ${quoted(stateDir)} cannot be written (${code}): set --state-dir or SCIDEX_RUN_STATE_DIR`);
}

function refuse(why: string): never {
  throw new StateDirRefusal(why);
}

function errno(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${path}`), { code, path });
}

function components(path: string): string[] {
  return path.split('/').filter((name) => name !== '');
}

/**
 * Who besides the owner may write a directory, in words; undefined when no one. The group bit of a
 * user private group (the owner's primary group, which no one else has: the scheme of Debian, Ubuntu
 * and Fedora, where umask 002 makes `~/.local` 0775) lets no one else write.
 */
function writers(stat: Pick<Stats, 'mode' | 'uid' | 'gid'>): string | undefined {
  const group = (stat.mode & 0o020) !== 0 && !isUserPrivateGroup(stat.uid, stat.gid);
  const others = (stat.mode & 0o002) !== 0;
  return group && others ? 'its group and others' : group ? 'its group' : others ? 'others' : undefined;
}

/** Whether a directory of this mode, owner and group may be written by its owner (and root) alone. */
export function writableByOwnerAlone(stat: Pick<Stats, 'mode' | 'uid' | 'gid'>): boolean {
  return writers(stat) === undefined;
}

/**
 * Whether `gid` is the user private group of `uid`: that user's primary group in /etc/passwd, no
 * other user's primary group, and with no members listed in /etc/group. A group known only to NSS
 * (LDAP, sssd) is not judged private: the files are what can be read without it.
 */
function isUserPrivateGroup(uid: number, gid: number): boolean {
  try {
    const users = readFileSync('/etc/passwd', 'utf8').split('\n').map((line) => line.split(':')).filter((fields) => fields.length > 3);
    const primary = users.filter((fields) => fields[3] === String(gid));
    if (primary.length !== 1 || primary[0][2] !== String(uid)) return false;
    const group = readFileSync('/etc/group', 'utf8').split('\n').map((line) => line.split(':')).find((fields) => fields.length > 3 && fields[2] === String(gid));
    const members = (group?.[3] ?? '').split(',').filter((name) => name !== '' && name !== primary[0][0]);
    return group !== undefined && members.length === 0;
  } catch {
    return false;
  }
}

function modeOf(stat: Stats): string {
  return (stat.mode & 0o7777).toString(8).padStart(4, '0');
}

/** A path in a message: quoted, its control characters and backslashes written out (visible(), config/text.ts). */
function quoted(path: string): string {
  return `'${visible(path)}'`;
}

/** The effective uid: the one the kernel checks files against. */
function callerUid(): number {
  return process.geteuid?.() ?? -1;
}

/** `uid 65534 (nobody)`; the name from /etc/passwd when it has the uid (a message needs no NSS). */
function who(uid: number): string {
  let name: string | undefined;
  try {
    name = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .find((fields) => fields.length > 2 && fields[2] === String(uid))?.[0];
  } catch {
    // No /etc/passwd: the uid says it.
  }
  return name ? `uid ${uid} (${visible(name)})` : `uid ${uid}`;
}
