/**
 * The few Linux system calls Node does not expose, called through koffi (koffi.ts). Everything here
 * degrades: `libc()` returns null when koffi cannot load or SCIDEX_NO_FFI turned it off, and callers
 * fall back (no subreaper backend, starttime re-checks instead of pidfds, lock files without flock).
 *
 * Why raw syscall(2) for the pidfd calls: glibc wrappers for pidfd_open and pidfd_send_signal
 * arrived only in 2.36; the syscall numbers are stable (x86_64 and aarch64 share them since the
 * calls were added in Linux 5.1 and 5.3).
 */
import { constants } from 'node:os';
import { errnoName } from './errno.js';
import { koffi as loadKoffi, koffiUnavailable } from './koffi.js';

/** prctl(2) option: make this process the subreaper of its descendants (Linux 3.4). */
const PR_SET_CHILD_SUBREAPER = 36;
/** include/uapi/asm-generic/unistd.h, shared by x86_64 and aarch64. */
const SYS_PIDFD_SEND_SIGNAL = 424;
const SYS_PIDFD_OPEN = 434;
/** waitpid(2) option. */
const WNOHANG = 1;
/** flock(2) operations (include/uapi/asm-generic/fcntl.h). */
const LOCK_EX = 2;
const LOCK_NB = 4;
/** poll(2) event: readable; a pidfd is readable once its process has exited (Linux 5.3). */
const POLLIN = 0x1;
/**
 * ioctl(2) request PIDFD_GET_INFO, _IOWR(0xFF, 11, struct pidfd_info) of its first size (64 bytes),
 * Linux 6.13; with PIDFD_INFO_EXIT in the mask (Linux 6.15) it returns the wait(2) status of a
 * process that has exited and been reaped, to any holder of a pidfd of it.
 */
const PIDFD_GET_INFO = 0xc040ff0b;
const PIDFD_INFO_EXIT = 0x8n;
const PIDFD_INFO_SIZE = 64;
/** Offset of `__s32 exit_code` in struct pidfd_info (include/uapi/linux/pidfd.h). */
const PIDFD_INFO_EXIT_CODE_AT = 60;

/** An error of a system call, with its errno name (ESRCH, EPERM, ...). */
export class SyscallError extends Error {
  override name = 'SyscallError';
  constructor(
    readonly syscall: string,
    readonly code: string,
  ) {
    super(`${syscall}: ${code}`);
  }
}

/** The system calls, bound. Every method throws SyscallError when the call fails. */
export interface Libc {
  /** prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants re-parent to us instead of init. */
  setChildSubreaper(): void;
  /** pidfd_open(2): a file descriptor that refers to this very process, whatever its pid becomes. */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2): signals the process the pidfd refers to; ESRCH once it has exited. */
  pidfdSendSignal(pidfd: number, signal: NodeJS.Signals): void;
  close(fd: number): void;
  /** poll(2) of one descriptor for readability, without waiting: a pidfd is readable once its process has exited. */
  readable(fd: number): boolean;
  /**
   * The wait(2) status of the exited and reaped process a pidfd refers to (ioctl PIDFD_GET_INFO with
   * PIDFD_INFO_EXIT, Linux 6.15): how a process that is not our child ended.
   * @returns undefined while it runs or waits to be reaped, or where the kernel cannot tell
   */
  pidfdExitStatus(pidfd: number): number | undefined;
  /**
   * waitpid(pid, WNOHANG) for one child: reaps it when it is a zombie.
   * @returns true when it was reaped; false when it is still running
   */
  reapChild(pid: number): boolean;
  /**
   * flock(fd, LOCK_EX | LOCK_NB): an exclusive lock on the open file, held until the file
   * descriptor is closed, by us or by the kernel when we die.
   * @returns false when another open file description holds it (EWOULDBLOCK)
   */
  tryLockExclusive(fd: number): boolean;
}

let loaded: Libc | null | undefined;

/** The bound calls, or null when koffi or libc cannot be loaded (the reason is in `libcError()`). */
export function libc(): Libc | null {
  if (loaded === undefined) loaded = load();
  return loaded;
}

let loadError = '';

/** Why `libc()` returned null; empty when it did not. */
export function libcError(): string {
  libc();
  return loadError;
}

function load(): Libc | null {
  const koffi = loadKoffi();
  if (!koffi) {
    loadError = koffiUnavailable();
    return null;
  }
  try {
    const lib = koffi.load('libc.so.6');
    const prctl = lib.func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)');
    const syscall = lib.func('long syscall(long, ...)');
    const close = lib.func('int close(int)');
    const waitpid = lib.func('int waitpid(int, _Out_ int *, int)');
    const flock = lib.func('int flock(int, int)');
    const poll = lib.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)');
    const ioctl = lib.func('int ioctl(int, unsigned long, _Inout_ uint8_t *)');
    const check = (name: string, result: number): number => {
      if (result < 0) throw new SyscallError(name, errnoName(koffi.errno()));
      return result;
    };
    return {
      setChildSubreaper: () => void check('prctl(PR_SET_CHILD_SUBREAPER)', prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)),
      pidfdOpen: (pid) => check('pidfd_open', Number(syscall(SYS_PIDFD_OPEN, 'int', pid, 'uint', 0))),
      pidfdSendSignal: (pidfd, signal) =>
        void check(
          'pidfd_send_signal',
          Number(syscall(SYS_PIDFD_SEND_SIGNAL, 'int', pidfd, 'int', constants.signals[signal], 'void *', null, 'uint', 0)),
        ),
      close: (fd) => void check('close', close(fd)),
      readable: (fd) => {
        // struct pollfd { int fd; short events; short revents; }
        const pollfd = Buffer.alloc(8);
        pollfd.writeInt32LE(fd, 0);
        pollfd.writeInt16LE(POLLIN, 4);
        return check('poll', poll(pollfd, 1, 0)) > 0 && (pollfd.readInt16LE(6) & POLLIN) !== 0;
      },
      pidfdExitStatus: (pidfd) => {
        const info = Buffer.alloc(PIDFD_INFO_SIZE);
        info.writeBigUInt64LE(PIDFD_INFO_EXIT, 0);
        // ESRCH: reaped before the kernel kept exit information; ENOTTY/EINVAL: a kernel without it.
        if (ioctl(pidfd, PIDFD_GET_INFO, info) < 0) return undefined;
        if ((info.readBigUInt64LE(0) & PIDFD_INFO_EXIT) === 0n) return undefined;
        return info.readInt32LE(PIDFD_INFO_EXIT_CODE_AT);
      },
      reapChild: (pid) => check('waitpid', waitpid(pid, [0], WNOHANG)) === pid,
      tryLockExclusive: (fd) => {
        if (flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
        const code = errnoName(koffi.errno());
        if (code === 'EWOULDBLOCK' || code === 'EAGAIN') return false;
        throw new SyscallError('flock', code);
      },
    };
  } catch (error) {
    loadError = `koffi cannot bind libc.so.6 (${(error as Error).message})`;
    return null;
  }
}
