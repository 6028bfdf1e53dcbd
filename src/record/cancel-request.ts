/**
 * Cancel request files: `<state>/running/<run-id>.cancel`, left by `scidex-watchdog cancel` right
 * before it signals the run's wrapper, so that the wrapper can record who asked and why. A signal
 * carries no text; the file does. The wrapper takes (reads and removes) it when a cancelling signal
 * arrives. The file only annotates a signal: it never makes the wrapper do anything by itself, and a
 * plain `kill -TERM` without a file still cancels the run as before.
 *
 * The file lives beside the run's marker, in the state directory that is 0700 and owned by the
 * run's user: whoever can write it could signal the wrapper anyway.
 *
 * The daemon's memory-pressure guard (watchdog/pressure-guard.ts) asks for its stop the same way: a
 * request with a `host_pressure` object (the host's figures) and SIGTERM. A wrapper that knows the
 * field stops the run as out of memory (reason `host_pressure`, exit status 137, a grace period of
 * at most 2 s). An older wrapper, which does not, reads the rest of the file as what it is, a cancel
 * from the daemon whose reason says host pressure: it stops the run all the same, as `cancelled`
 * (128+15), and records who asked and why; nothing in the file can make it do more than a cancel.
 * Release request files, `<state>/running/<run-id>.release`, are the same thing for
 * `scidex-watchdog release` and an adopted run's supervisor, with SIGUSR1: there the file is what
 * makes the signal a release (a SIGUSR1 without one is ignored), and it is taken on the same terms
 * (our own user's or root's, fresh).
 */
import { closeSync, fstatSync, lstatSync, readFileSync, rmSync } from 'node:fs';
import { openStateFile, replaceStateFile } from './state-file.js';
import { dirname, join } from 'node:path';
import { hostname, userInfo } from 'node:os';
import { isRunId } from '../config/run-id.js';
import { formatDuration } from '../config/duration.js';
import { formatSize } from '../config/size.js';

/** Who asked to cancel a run, and why. */
export interface CancelRequest {
  /** The signal the requester sends: SIGINT, SIGTERM or SIGHUP. */
  signal: NodeJS.Signals;
  /** Free text given with --reason, or null. */
  reason: string | null;
  /** `user@host pid N` of the process that asked. */
  requested_by: string;
  /** When it was asked, ISO-8601 (UTC). */
  requested_at: string;
  /** The watchdog_cancel_requests row, when the request came through PostgreSQL from another host. */
  request_id: string | null;
  /**
   * The PostgreSQL role that asked (the row's requested_role, set by the database), when the
   * request came through PostgreSQL; absent for a cancel on the run's own host, where the kernel's
   * permission to signal the wrapper is the check, not a role.
   */
  requested_role?: string | null;
  /** Present when the daemon's memory-pressure guard asks for the stop: the host's figures (module comment). */
  host_pressure?: HostPressure;
}

/** The longest grace period a host-pressure stop allows, milliseconds. */
export const HOST_PRESSURE_MAX_GRACE_MS = 2000;

/**
 * The host's figures behind a host-pressure stop, as the request file carries them to the wrapper
 * and the run's `limit_exceeded` event (reason `host_pressure`) records them in its detail.
 */
export interface HostPressure {
  /**
   * The threshold crossed: `min_available` (MemAvailable below --min-available, acted on at once) or
   * `memory_pressure` (PSI full avg10 above --max-memory-pressure for --pressure-duration).
   */
  threshold: 'min_available' | 'memory_pressure';
  /** When the guard first saw it crossed, ISO-8601 (UTC). */
  crossed_at: string;
  /** MemAvailable of /proc/meminfo at the decision, bytes. */
  mem_available_bytes: number;
  mem_total_bytes: number;
  /** --min-available, bytes. */
  min_available_bytes: number;
  /** PSI full avg10 of /proc/pressure/memory at the decision, percent; null where the kernel has no PSI. */
  psi_full_avg10: number | null;
  /** --max-memory-pressure, percent. */
  max_memory_pressure: number;
  /** --pressure-duration, milliseconds. */
  pressure_duration_ms: number;
  /** The run's tree PSS as the daemon read it for its choice, bytes. */
  run_pss_bytes: number;
  /** The grace period asked for: the run's own, at most HOST_PRESSURE_MAX_GRACE_MS, milliseconds. */
  grace_ms: number;
}

const THRESHOLDS: ReadonlySet<string> = new Set(['min_available', 'memory_pressure']);

/** A request's host_pressure object when every field is well formed; else undefined. */
function hostPressureOf(raw: unknown): HostPressure | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const value = raw as Record<string, unknown>;
  const count = (key: string) => typeof value[key] === 'number' && Number.isFinite(value[key]) && (value[key] as number) >= 0;
  const counts = ['mem_available_bytes', 'mem_total_bytes', 'min_available_bytes', 'max_memory_pressure', 'pressure_duration_ms', 'run_pss_bytes', 'grace_ms'];
  if (!THRESHOLDS.has(String(value.threshold)) || !counts.every(count)) return undefined;
  if (value.psi_full_avg10 !== null && !count('psi_full_avg10')) return undefined;
  const crossed = Date.parse(String(value.crossed_at));
  if (!Number.isFinite(crossed)) return undefined;
  return {
    threshold: value.threshold as HostPressure['threshold'],
    crossed_at: new Date(crossed).toISOString(),
    mem_available_bytes: value.mem_available_bytes as number,
    mem_total_bytes: value.mem_total_bytes as number,
    min_available_bytes: value.min_available_bytes as number,
    psi_full_avg10: value.psi_full_avg10 as number | null,
    max_memory_pressure: value.max_memory_pressure as number,
    pressure_duration_ms: value.pressure_duration_ms as number,
    run_pss_bytes: value.run_pss_bytes as number,
    grace_ms: Math.min(value.grace_ms as number, HOST_PRESSURE_MAX_GRACE_MS),
  };
}

/**
 * How old a request file (its mtime) may be when its signal arrives, milliseconds. The requester writes it
 * just before signalling; an older one was left by a requester that died in between, and must not
 * be pinned on an unrelated later signal.
 */
const FRESH_MS = 60_000;

/**
 * What a request file asks: `cancel` (`<run-id>.cancel`, with a cancelling signal), or `release`
 * (`<run-id>.release`, with SIGUSR1 to an adopting supervisor: `scidex-watchdog release`).
 */
export type RequestKind = 'cancel' | 'release';

/** A release request: who asked an adopted run's supervision to end, and why. Its signal is SIGUSR1. */
export type ReleaseRequest = CancelRequest;

/** The request file of a run. @throws Error for a run id that is not a UUID (it names a file) */
export function cancelRequestPath(stateDir: string, runId: string, kind: RequestKind = 'cancel'): string {
  if (!isRunId(runId)) throw new Error(`not a run id: '${runId}'`);
  return join(stateDir, 'running', `${runId}.${kind}`);
}

/** `user@host pid N` for this process. */
export function requesterName(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = String(process.getuid?.() ?? 'unknown');
  }
  return `${user}@${hostname()} pid ${process.pid}`;
}

/**
 * Writes a run's request file atomically, mode 0600 (replaceStateFile: a symlink or hard link
 * planted at its name is replaced, never followed). When we are root and the wrapper is another
 * user's (the daemon delivering to a user's run), the file is given to the wrapper's user through
 * its descriptor: the wrapper takes a request only from its own user or root.
 * @param wrapperUid the uid the wrapper runs as (checked by the caller against the process)
 * @throws the file system's error, ENOTDIR when running/ is not a directory (the caller then sends no signal)
 */
export function writeCancelRequest(stateDir: string, runId: string, request: CancelRequest, wrapperUid: number, kind: RequestKind = 'cancel'): void {
  const path = cancelRequestPath(stateDir, runId, kind);
  const running = lstatSync(dirname(path));
  if (!running.isDirectory()) throw Object.assign(new Error(`${dirname(path)} is not a directory`), { code: 'ENOTDIR' });
  // gid -1: fchown(2) leaves the group as it is.
  const owner = process.geteuid?.() === 0 && wrapperUid !== 0 ? { uid: wrapperUid, gid: -1 } : undefined;
  replaceStateFile(path, JSON.stringify(request) + '\n', owner);
}

/** Removes a run's request file; never throws. */
export function removeCancelRequest(stateDir: string, runId: string, kind: RequestKind = 'cancel'): void {
  try {
    rmSync(cancelRequestPath(stateDir, runId, kind), { force: true });
  } catch {
    // Nothing to remove, or a run id that names no file.
  }
}

/**
 * Takes (reads and removes) the request file of a run on the arrival of `signal`; never throws.
 * @returns the request when there is one for this signal, fresh (FRESH_MS), well formed, and written
 *          by our own user or root; else undefined (a stale or foreign file is removed all the same)
 */
export function takeCancelRequest(stateDir: string, runId: string, signal: NodeJS.Signals, nowMs = Date.now(), kind: RequestKind = 'cancel'): CancelRequest | undefined {
  let text: string;
  let writtenMs: number;
  let owner: number;
  try {
    const fd = openStateFile(cancelRequestPath(stateDir, runId, kind));
    try {
      ({ mtimeMs: writtenMs, uid: owner } = fstatSync(fd));
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  removeCancelRequest(stateDir, runId, kind);
  // Only we and root (the daemon delivering) write it; whatever else put a file here is no requester.
  if (owner !== process.getuid?.() && owner !== 0) return undefined;
  try {
    const raw = JSON.parse(text) as Partial<CancelRequest> & { host_pressure?: unknown };
    const at = Date.parse(String(raw.requested_at));
    if (raw.signal !== signal || typeof raw.requested_by !== 'string' || !Number.isFinite(at)) return undefined;
    // Fresh by when the file was written (just before the signal), not when the request was made:
    // one made on another host may have waited in PostgreSQL for this host's deliverer.
    if (nowMs - writtenMs > FRESH_MS || writtenMs - nowMs > FRESH_MS) return undefined;
    // A malformed host_pressure object is left out: the request is then the plain cancel an older wrapper reads.
    const pressure = raw.host_pressure === undefined ? undefined : hostPressureOf(raw.host_pressure);
    return {
      signal,
      reason: typeof raw.reason === 'string' ? raw.reason : null,
      requested_by: raw.requested_by,
      requested_at: new Date(at).toISOString(),
      request_id: typeof raw.request_id === 'string' && isRunId(raw.request_id) ? raw.request_id : null,
      ...(typeof raw.requested_role === 'string' ? { requested_role: raw.requested_role } : {}),
      ...(pressure ? { host_pressure: pressure } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Takes the release request of an adopted run on the arrival of SIGUSR1 (as takeCancelRequest). */
export function takeReleaseRequest(stateDir: string, runId: string, nowMs = Date.now()): ReleaseRequest | undefined {
  return takeCancelRequest(stateDir, runId, 'SIGUSR1', nowMs, 'release');
}

/**
 * The `detail` of a cancel_requested event: who asked and why, plus the request's row and
 * PostgreSQL role when it came through PostgreSQL; empty for a plain signal.
 */
export function cancelDetail(request: CancelRequest | undefined): Record<string, unknown> {
  if (!request) return {};
  const { requested_by, reason, requested_at, request_id, requested_role } = request;
  return {
    requested_by,
    reason,
    requested_at,
    ...(request_id ? { request_id } : {}),
    ...(typeof requested_role === 'string' ? { requested_role } : {}),
  };
}

/**
 * How a message names the requester: ` from user@host pid N (reason)`, with ` as role R` after the
 * pid when the request came through PostgreSQL; empty for a plain signal.
 */
export function describeRequester(request: CancelRequest | undefined): string {
  if (!request) return '';
  const role = typeof request.requested_role === 'string' ? ` as role ${request.requested_role}` : '';
  return ` from ${request.requested_by}${role}${request.reason ? ` (${request.reason})` : ''}`;
}

/**
 * The crossing in words: `MemAvailable 1.1 GiB is below the 1.2 GiB floor (PSI full avg10 3.10%)`, or
 * `PSI full avg10 52.00% has been above 40% for 10.0s (MemAvailable 3.0 GiB)`.
 */
export function describeHostPressure(pressure: HostPressure): string {
  const psi = pressure.psi_full_avg10 === null ? 'no PSI' : `PSI full avg10 ${pressure.psi_full_avg10.toFixed(2)}%`;
  if (pressure.threshold === 'min_available') {
    return `MemAvailable ${formatSize(pressure.mem_available_bytes)} is below the ${formatSize(pressure.min_available_bytes)} floor (${psi})`;
  }
  return `${psi} has been above ${pressure.max_memory_pressure}% for ${formatDuration(pressure.pressure_duration_ms)} (MemAvailable ${formatSize(pressure.mem_available_bytes)})`;
}
