/**
 * What a test-owned server (a throwaway PostgreSQL, a pgbouncer) needs from the host: a free
 * loopback port, and the user to run as when we are root (both servers refuse to run as root).
 */
import { execFileSync } from 'node:child_process';
import getPort, { portNumbers } from 'get-port';

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
