/**
 * Where the records go. Standard PostgreSQL configuration, in this order: --database-url,
 * SCIDEX_RUN_DATABASE_URL, DATABASE_URL, then the libpq variables (PGHOST, PGDATABASE, PGSERVICE,
 * ...; node-postgres reads them itself). Nothing configured (or only empty variables) means the
 * embedded default: the local journal is the only store.
 */
import { UsageError } from './errors.js';

/** A configured database: `url` when given as a URL, undefined when libpq variables alone describe it. */
export interface DatabaseConfig {
  url?: string;
  /** What to print: the URL without its password, or `PGHOST=... PGDATABASE=...`. */
  display: string;
}

const LIBPQ_VARIABLES = ['PGHOST', 'PGHOSTADDR', 'PGDATABASE', 'PGSERVICE', 'PGPORT', 'PGUSER'];

/**
 * Resolves the database from the flag and the environment.
 * @returns the configuration, or undefined when none is configured
 * @throws UsageError for a URL that is not a postgres:// or postgresql:// URL
 */
export function resolveDatabase(flag: string | undefined, env: NodeJS.ProcessEnv): DatabaseConfig | undefined {
  // An empty variable counts as unset: CI systems set a secret that does not exist to "". An empty
  // --database-url is still bad input: someone typed it.
  const url = flag ?? ([env.SCIDEX_RUN_DATABASE_URL, env.DATABASE_URL].find((value) => value !== undefined && value !== ''));
  if (url !== undefined) return { url: validateUrl(url), display: redactUrl(url) };
  const present = LIBPQ_VARIABLES.filter((name) => env[name]);
  if (present.length === 0) return undefined;
  return { display: present.map((name) => `${name}=${env[name]}`).join(' ') };
}

function validateUrl(text: string): string {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new UsageError(`invalid database URL '${redactUrl(text)}': expected postgresql://user@host:port/database`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new UsageError(`invalid database URL '${redactUrl(text)}': the scheme must be postgresql:// or postgres://`);
  }
  return text;
}

/** The URL with any password replaced by `***`; never throws. */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/[^/:@\s]*:)[^@\s]*@/, '$1***@');
}

/**
 * The PostgreSQL role a connection made with `config` logs in as: the URL's user, else PGUSER,
 * else USER (node-postgres's default, as libpq's is the OS user). Null when no database is
 * configured, or when a service file (PGSERVICE) may name the user and nothing else does.
 */
export function databaseUser(config: DatabaseConfig | undefined, env: NodeJS.ProcessEnv): string | null {
  if (!config) return null;
  const fromUrl = config.url ? decodeURIComponent(new URL(config.url).username) : '';
  if (fromUrl !== '') return fromUrl;
  if (env.PGUSER) return env.PGUSER;
  if (env.PGSERVICE) return null;
  return env.USER || null;
}
