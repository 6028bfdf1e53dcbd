/**
 * What a test-owned server (a throwaway PostgreSQL, a pgbouncer, a Pushgateway) needs from the
 * host: a free loopback port, the user to run as when we are root (PostgreSQL and pgbouncer refuse
 * to run as root), and a child process that is stopped by its pid and starttime, never by name.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import getPort, { portNumbers } from 'get-port';
import { isDead, readStat } from '../../src/proc/stat.js';
import { until } from './until.js';

/**
 * A free loopback port below Linux's ephemeral range (32768 and up), so that no outgoing
 * connection takes it as its source port while the server is down. Tried in random order: test
 * files run in parallel workers, and two that tried 20000, 20001, ... in step would both get 20000.
 */
export function freeLoopbackPort(): Promise<number> {
  const candidates = [...portNumbers(20_000, 32_000)].sort(() => Math.random() - 0.5).slice(0, 200);
  return getPort({ host: '127.0.0.1', port: candidates });
}

/** uid and gid of the `postgres` user when we are root; undefined when we are not. */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** A server process a test started: its identity, what it printed, and how to stop it. */
export interface ServerChild {
  pid: number;
  /** Clock ticks after boot (proc(5) stat field 22), read right after the spawn. */
  starttime: number | undefined;
  /** Its exit, once it has exited. */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** What it wrote to stderr so far. */
  stderr(): string;
  /**
   * SIGTERM, up to 10 s for the exit, then SIGKILL: only to our own child, by its pid, while it is
   * still the process we started. Idempotent.
   * @throws when it is still there after both
   */
  stop(): Promise<void>;
}

/** Whether the process (pid, starttime) is gone: no such pid, a zombie, or another process under the pid. */
export function gone(pid: number, starttime: number | undefined): boolean {
  const stat = readStat(pid);
  return stat === undefined || isDead(stat) || (starttime !== undefined && stat.starttime !== starttime);
}

/**
 * Spawns a server binary with stderr captured, and resolves once it is spawned.
 * @param name what error messages call it (`pgbouncer`, `the Pushgateway`)
 * @throws when it cannot be spawned, or gets a pid <= 1
 */
export async function spawnServer(name: string, binary: string, args: string[], options: SpawnOptions = {}): Promise<ServerChild> {
  const child: ChildProcess = spawn(binary, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number));
    child.once('error', reject);
  });
  if (!(pid > 1)) throw new Error(`${name} started with an unusable pid ${pid}`);
  const starttime = readStat(pid)?.starttime;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (exited === undefined && !gone(pid, starttime)) process.kill(pid, 'SIGTERM');
    // Bounded: a server still there after 10 s gets SIGKILL below.
    await until(`${name} to exit on SIGTERM`, () => exited !== undefined, 10_000, { onTimeout: 'return' });
    if (exited === undefined && !gone(pid, starttime)) {
      process.kill(pid, 'SIGKILL');
      await exit;
    }
    if (!gone(pid, starttime)) throw new Error(`${name} (pid ${pid}) is still there after SIGTERM and SIGKILL`);
  };
  return { pid, starttime, exited: () => exited, stderr: () => stderr, stop };
}

/**
 * Waits until a server answers GET `<url>/-/ready` with 200 (the readiness endpoint of Prometheus
 * and the Pushgateway); a server that is not ready in time is stopped.
 * @param name what the error calls it
 * @throws when it exits first, or is not ready within `timeoutMs` (with its stderr)
 */
export async function awaitReady(server: ServerChild, name: string, url: string, timeoutMs: number): Promise<void> {
  const ready = await until(
    `${name} to be ready`,
    async () => {
      if (server.exited() !== undefined) throw new Error(`${name} exited at start (${JSON.stringify(server.exited())}): ${server.stderr()}`);
      return fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) }).then(
        (response) => response.status === 200,
        () => false,
      );
    },
    timeoutMs,
    { every: 100, onTimeout: 'return' },
  );
  if (ready) return;
  await server.stop();
  throw new Error(`${name} was not ready within ${timeoutMs / 1000} s: ${server.stderr()}`);
}
