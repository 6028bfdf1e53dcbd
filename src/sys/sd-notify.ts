/**
 * sd_notify(3) for Node: how `scidex-watchdog serve` tells systemd that it is ready, what it is doing,
 * that it is still alive (the watchdog keep-alive of `WatchdogSec=`, systemd.service(5)) and that it
 * is stopping.
 *
 * Backends, in order of preference:
 *   1. `libsystemd`: the real sd_notify() and sd_watchdog_enabled() of libsystemd.so.0, through koffi
 *      (an optional dependency, loaded by src/sys/koffi.ts).
 *   2. `libc`: where libsystemd is missing, the datagram is sent by hand through koffi-bound socket(2)
 *      and sendto(2) of libc.so.6, as sd_notify does it: one AF_UNIX SOCK_DGRAM message of newline
 *      separated `VAR=value` lines to the path in NOTIFY_SOCKET (a leading '@' means the abstract
 *      namespace). Node itself cannot send AF_UNIX datagrams, hence koffi.
 *   3. `unavailable`: no koffi (not installed, or turned off by SCIDEX_NO_FFI), neither library
 *      binds, or an address we cannot send to, such as `vsock:`: every call does nothing; `reason`
 *      says why.
 * When NOTIFY_SOCKET is unset (not started by systemd, or Type= is not notify) the notifier is
 * `inactive` and every call is a no-op.
 *
 * Nothing here throws once `notifier()` has returned: a keep-alive that cannot be delivered must not
 * take the daemon down (systemd will restart it anyway when pings stop arriving). Failures go to the
 * `onError` callback.
 */
import { endianness } from 'node:os';
import { errnoName } from './errno.js';
import { koffi as loadKoffi, koffiUnavailable, type Koffi } from './koffi.js';

/** Which way the messages go; see the module comment. */
export type NotifyBackend = 'libsystemd' | 'libc' | 'unavailable' | 'inactive';

/** What the daemon calls. Every method is a no-op unless `backend` is `libsystemd` or `libc`. */
export interface Notifier {
  /** `READY=1` (and `STATUS=` when given): start-up is complete; for Type=notify, systemd's start job ends here. */
  ready(status?: string): void;
  /**
   * `WATCHDOG=1`: the keep-alive of WatchdogSec=. A no-op unless the watchdog is enabled for this
   * very process (`watchdogIntervalMs` is defined): a WATCHDOG_USEC inherited from a parent service
   * is not ours to answer.
   */
  watchdog(): void;
  /** `STATUS=text`: one line shown by `systemctl status`. Newlines and NULs become spaces. */
  status(text: string): void;
  /** `STOPPING=1`: shutdown has begun (systemd then waits up to TimeoutStopSec= for the exit). */
  stopping(): void;
  /**
   * Milliseconds between keep-alive pings: half of WATCHDOG_USEC, as sd_watchdog_enabled(3)
   * recommends; undefined when there is no watchdog for this process (WATCHDOG_USEC unset, invalid or
   * 0; WATCHDOG_PID set to another pid; NOTIFY_SOCKET unset; backend unavailable).
   */
  readonly watchdogIntervalMs: number | undefined;
  readonly backend: NotifyBackend;
  /** Why the backend is `unavailable` or `inactive`, or which library is used. */
  readonly reason: string;
}

export interface NotifierOptions {
  /**
   * The environment to read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from, at the time of the
   * `notifier()` call. Default process.env. The `libsystemd` backend is used only when the C
   * environment (getenv(3), which libsystemd reads) holds the same NOTIFY_SOCKET; otherwise `libc`.
   */
  env?: NodeJS.ProcessEnv;
  /** Force a backend (tests); default `auto`: libsystemd, then libc. */
  prefer?: 'auto' | 'libsystemd' | 'libc';
  /** Called with each failed send (the socket went away, EPERM, ...). Default: ignored. */
  onError?: (error: Error) => void;
}

/** The raw send: a whole `VAR=value\n...` message. Throws on failure. */
type Send = (message: string) => void;

interface Bound {
  send: Send;
  /** sd_watchdog_enabled(0, &usec) of libsystemd, when that is the backend. */
  watchdogUsec?: () => number | undefined;
  name: string;
}

/**
 * The notifier for this process, from the environment at the time of the call (systemd sets
 * NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID for Type=notify services with WatchdogSec=).
 * Never throws.
 */
export function notifier(options: NotifierOptions = {}): Notifier {
  const env = options.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  const onError = options.onError ?? (() => {});
  if (!socket) return inert('inactive', 'NOTIFY_SOCKET is not set (not started by systemd as Type=notify)');

  const koffi = loadKoffi();
  if (!koffi) return inert('unavailable', koffiUnavailable());
  const prefer = options.prefer ?? 'auto';
  let bound: Bound | string = 'libsystemd not tried';
  const reasons: string[] = [];
  if (prefer !== 'libc') {
    bound = bindLibsystemd(koffi, socket);
    if (typeof bound === 'string') reasons.push(bound);
  }
  if (typeof bound === 'string' && prefer !== 'libsystemd') {
    bound = bindLibc(koffi, socket);
    if (typeof bound === 'string') reasons.push(bound);
  }
  if (typeof bound === 'string') return inert('unavailable', reasons.join('; '));

  const { send, name } = bound;
  const usec = bound.watchdogUsec ? bound.watchdogUsec() : watchdogUsecFromEnv(env, process.pid);
  const watchdogIntervalMs = usec === undefined ? undefined : Math.max(1, Math.floor(usec / 2000));
  const deliver = (message: string): void => {
    try {
      send(message);
    } catch (error) {
      onError(error as Error);
    }
  };
  return {
    backend: name === 'libsystemd.so.0' ? 'libsystemd' : 'libc',
    reason: `sending to ${socket} through ${name}`,
    watchdogIntervalMs,
    ready: (status) => deliver(status === undefined ? 'READY=1' : `READY=1\nSTATUS=${oneLine(status)}`),
    watchdog: () => {
      if (watchdogIntervalMs !== undefined) deliver('WATCHDOG=1');
    },
    status: (text) => deliver(`STATUS=${oneLine(text)}`),
    stopping: () => deliver('STOPPING=1'),
  };
}

/**
 * The watchdog timeout in microseconds for process `pid`, as sd_watchdog_enabled(3) decides it:
 * WATCHDOG_USEC must be a positive integer, and WATCHDOG_PID, when set, must be `pid`.
 * @returns the timeout (not halved), or undefined when the watchdog is not enabled for `pid`
 */
export function watchdogUsecFromEnv(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usecText = env.WATCHDOG_USEC;
  if (usecText === undefined || !/^[0-9]+$/.test(usecText)) return undefined;
  const usec = Number(usecText);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  const pidText = env.WATCHDOG_PID;
  if (pidText !== undefined && (!/^[0-9]+$/.test(pidText) || Number(pidText) !== pid)) return undefined;
  return usec;
}

/**
 * Pings `WATCHDOG=1` every `notify.watchdogIntervalMs`, but only while `isHealthy()` returns true;
 * so when the sweep loop wedges (a hung query, an await that never settles) or the event loop
 * blocks, pings stop and systemd restarts the daemon after WatchdogSec=. An `isHealthy` that throws
 * counts as unhealthy. The timer is unref'd (it never keeps the process alive).
 * @returns a function that stops the pings; a no-op when there is no watchdog for this process
 */
export function startWatchdogPings(notify: Notifier, isHealthy: () => boolean): () => void {
  const interval = notify.watchdogIntervalMs;
  if (interval === undefined) return () => {};
  const tick = (): void => {
    let healthy: boolean;
    try {
      healthy = isHealthy();
    } catch {
      healthy = false;
    }
    if (healthy) notify.watchdog();
  };
  tick();
  const timer = setInterval(tick, interval);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * A simple health signal for `startWatchdogPings`: healthy while `beat()` was called less than
 * `maxAgeMs` ago. Call `beat()` when the daemon starts and each time a sweep finishes; choose
 * `maxAgeMs` >= the sweep interval + the longest sweep you accept (a reap waits out each lost run's
 * grace period), e.g. 2 x interval + 60 s.
 */
export function heartbeat(maxAgeMs: number, now: () => number = Date.now): { beat(): void; isHealthy(): boolean; lastBeatMs(): number } {
  let last = now();
  return {
    beat: () => {
      last = now();
    },
    isHealthy: () => now() - last < maxAgeMs,
    lastBeatMs: () => last,
  };
}

function inert(backend: 'inactive' | 'unavailable', reason: string): Notifier {
  const nothing = (): void => {};
  return { backend, reason, watchdogIntervalMs: undefined, ready: nothing, watchdog: nothing, status: nothing, stopping: nothing };
}

/** One notify message line: newline would start another assignment, NUL would end the C string. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\0]/g, ' ');
}

/**
 * libsystemd's sd_notify(0, msg) reads NOTIFY_SOCKET with getenv(3) at each call, so it is used
 * only when the C environment agrees with the one we were given (process.env assignments reach
 * it in the main thread; a worker thread's process.env, or an explicit `env`, do not).
 */
function bindLibsystemd(koffi: Koffi, socket: string): Bound | string {
  try {
    const getenv = koffi.load('libc.so.6').func('const char *getenv(const char *)');
    if (getenv('NOTIFY_SOCKET') !== socket) return 'libsystemd reads getenv(NOTIFY_SOCKET), which differs from the given environment';
    const lib = koffi.load('libsystemd.so.0');
    const sdNotify = lib.func('int sd_notify(int, const char *)');
    const sdWatchdogEnabled = lib.func('int sd_watchdog_enabled(int, _Out_ uint64_t *)');
    return {
      name: 'libsystemd.so.0',
      send: (message) => {
        // sd_notify returns a negative errno, 0 when NOTIFY_SOCKET is unset, > 0 when sent.
        const result = Number(sdNotify(0, message));
        if (result < 0) throw new Error(`sd_notify: ${errnoName(-result)}`);
        if (result === 0) throw new Error('sd_notify: NOTIFY_SOCKET is no longer set');
      },
      watchdogUsec: () => {
        const usec = [0];
        const result = Number(sdWatchdogEnabled(0, usec));
        return result > 0 && Number(usec[0]) > 0 ? Number(usec[0]) : undefined;
      },
    };
  } catch (error) {
    return `koffi cannot bind libsystemd.so.0 (${(error as Error).message})`;
  }
}

/** linux/socket.h, asm-generic/socket.h: the same on x86_64 and aarch64. */
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(struct sockaddr_un): sa_family_t (2 bytes) + sun_path[108]. */
const SUN_PATH_MAX = 108;

/** The sockaddr_un for NOTIFY_SOCKET, and its length, as libsystemd builds it; or why not. */
export function notifySocketAddress(socket: string): { address: Buffer; length: number } | string {
  const abstract = socket.startsWith('@');
  if (!abstract && !socket.startsWith('/')) return `NOTIFY_SOCKET=${socket} is neither an absolute path nor an abstract socket (@...)`;
  const path = Buffer.from(abstract ? socket.slice(1) : socket);
  // A path needs its terminating NUL inside sun_path; an abstract name starts with a NUL instead.
  if (path.length + 1 > SUN_PATH_MAX) return `NOTIFY_SOCKET=${socket} is too long for sockaddr_un`;
  const address = Buffer.alloc(2 + SUN_PATH_MAX);
  if (endianness() === 'LE') address.writeUInt16LE(AF_UNIX, 0);
  else address.writeUInt16BE(AF_UNIX, 0);
  path.copy(address, abstract ? 3 : 2);
  // An abstract name's length is exact (trailing NULs would be part of it); a path's includes the NUL.
  return { address, length: 2 + path.length + 1 };
}

function bindLibc(koffi: Koffi, socket: string): Bound | string {
  const target = notifySocketAddress(socket);
  if (typeof target === 'string') return target;
  try {
    const lib = koffi.load('libc.so.6');
    const socketCall = lib.func('int socket(int, int, int)');
    const sendto = lib.func('long sendto(int, const void *, unsigned long, int, const void *, uint32_t)');
    const close = lib.func('int close(int)');
    return {
      name: 'libc.so.6 sendto(2)',
      send: (message) => {
        const fd = Number(socketCall(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (fd < 0) throw new Error(`socket(AF_UNIX, SOCK_DGRAM): ${errnoName(koffi.errno())}`);
        try {
          const payload = Buffer.from(message);
          const sent = Number(sendto(fd, payload, payload.length, MSG_NOSIGNAL, target.address, target.length));
          if (sent < 0) throw new Error(`sendto(${socket}): ${errnoName(koffi.errno())}`);
        } finally {
          close(fd);
        }
      },
    };
  } catch (error) {
    return `koffi cannot bind libc.so.6 (${(error as Error).message})`;
  }
}
