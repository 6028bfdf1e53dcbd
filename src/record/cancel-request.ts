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
    const raw = JSON.parse(text) as Partial<CancelRequest>;
    const at = Date.parse(String(raw.requested_at));
    if (raw.signal !== signal || typeof raw.requested_by !== 'string' || !Number.isFinite(at)) return undefined;
    // Fresh by when the file was written (just before the signal), not when the request was made:
    // one made on another host may have waited in PostgreSQL for this host's deliverer.
    if (nowMs - writtenMs > FRESH_MS || writtenMs - nowMs > FRESH_MS) return undefined;
    return {
      signal,
      reason: typeof raw.reason === 'string' ? raw.reason : null,
      requested_by: raw.requested_by,
      requested_at: new Date(at).toISOString(),
      request_id: typeof raw.request_id === 'string' && isRunId(raw.request_id) ? raw.request_id : null,
      ...(typeof raw.requested_role === 'string' ? { requested_role: raw.requested_role } : {}),
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
