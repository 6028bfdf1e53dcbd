/**
 * PostgreSQL roles as the identity across hosts (docs/roles.md, migrations/1764201600000_roles.sql).
 * The roles are made by running docs/roles.md's own statements, with every role name but
 * scidex_operator made unique to this file (roles belong to the whole cluster), and dropped after
 * it. Real wrappers record as alice; the real CLI asks as bob, carol (an operator) and victor (a
 * viewer); the run host's deliverer connects as the daemon's role. The other-host path is taken on
 * this one machine as in cancel.test.ts: the CLI gets a state directory without the run's marker.
 * The file has a database of its own: a deliverer takes every pending request of this host.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMarkers } from '../../src/record/markers.js';
import { writeRecords } from '../../src/record/sql.js';
import type { RunRecord } from '../../src/record/types.js';
import { listenForCancels } from '../../src/watchdog/cancel-delivery.js';
import { forgeRun } from '../helpers/lost-runs.js';
import { ownDatabase } from '../helpers/own-database.js';
import { ownedTag } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const WATCHDOG = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));
const ROLES_DOC = fileURLToPath(new URL('../../docs/roles.md', import.meta.url));
const tag = ownedTag();
const own = ownDatabase('roles');

/** The role names docs/roles.md uses, each made unique here; scidex_operator is the migration's, used as is. */
const DOC_ROLES = ['scidex_viewer', 'scidex_writer', 'scidex_daemon', 'alice', 'bob', 'carol', 'victor'] as const;
type DocRole = (typeof DOC_ROLES)[number];
const LOGIN_ROLES = ['alice', 'bob', 'scidex_daemon', 'carol', 'victor'] as const satisfies readonly DocRole[];
type LoginRole = (typeof LOGIN_ROLES)[number];
const prefix = `scidex_t_${randomBytes(4).toString('hex')}_`;
const roleOf = (name: DocRole): string => prefix + name.replace(/^scidex_/, '');
/** A password for every login role, so the test holds on a server that asks for one too. */
const password = randomBytes(12).toString('hex');

/** A ```sql <block> fenced block of docs/roles.md, with this file's role names. */
function docStatements(block: string): string {
  const match = new RegExp('```sql ' + block + '\\n([\\s\\S]*?)```').exec(readFileSync(ROLES_DOC, 'utf8'));
  if (!match) throw new Error(`docs/roles.md has no \`\`\`sql ${block} block`);
  return match[1].replace(new RegExp(`\\b(${DOC_ROLES.join('|')})\\b`, 'g'), (name) => roleOf(name as DocRole));
}

function urlOf(login: LoginRole): string {
  const url = new URL(own.url);
  url.username = roleOf(login);
  url.password = password;
  return url.toString();
}

let admin: pg.Client;
const clients: pg.Client[] = [];

/** A connection as `login`, closed after the file. */
async function connectAs(login: LoginRole): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: urlOf(login) });
  await client.connect();
  clients.push(client);
  return client;
}

beforeAll(async () => {
  await own.create();
  admin = new pg.Client({ connectionString: own.url });
  await admin.connect();
  // The admin migrates (docs/roles.md, "Who migrates"); that also makes sure scidex_operator exists.
  const migrated = await execa(WATCHDOG, ['migrate', '--database-url', own.url], { reject: false });
  expect(migrated.exitCode, migrated.stderr).toBe(0);
  for (const block of ['roles-cluster', 'roles-database', 'roles-people']) await admin.query(docStatements(block));
  for (const login of LOGIN_ROLES) await admin.query(`ALTER ROLE ${roleOf(login)} PASSWORD '${password}'`);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  if (admin) {
    // People first: the groups cannot go while members hold them.
    for (const name of [...LOGIN_ROLES, 'scidex_writer', 'scidex_viewer'] as const) {
      const role = roleOf(name);
      await admin.query(`DO $$ BEGIN
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN
          REASSIGN OWNED BY ${role} TO CURRENT_USER; DROP OWNED BY ${role}; DROP ROLE ${role};
        END IF; END $$`);
    }
    await admin.end();
  }
  await own.drop();
});

/** scidex-watchdog as `login`, with nothing of the caller's environment's database. */
function watchdog(args: string[], login: LoginRole) {
  return execa(WATCHDOG, [...args, '--database-url', urlOf(login)], {
    reject: false,
    env: { DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, PGUSER: undefined, SCIDEX_RUN_DATABASE_URL: undefined, SCIDEX_RUN_STATE_DIR: undefined },
  });
}

function emptyStateDir(): string {
  return mkdtempSync(join(tmpdir(), 'scidex-empty-'));
}

/** `sleep 300` under a wrapper recording as alice; resolves once its row is in, `running`. */
async function aliceRun(label: string) {
  const stateDir = newStateDir();
  const wrapper = startWrapper(['--quiet', '--grace', '5s', '--database-url', urlOf('alice'), '--analysis-id', `roles-${label}-${tag}`, '--', 'sleep', '300'], { tag, stateDir });
  const runId = await until('the run marker', () => listMarkers(stateDir)[0]);
  await until('the run row', async () => (await admin.query(`SELECT 1 FROM watchdog_runs WHERE id = $1 AND status = 'running'`, [runId])).rowCount === 1);
  return { wrapper, runId, stateDir, analysisId: `roles-${label}-${tag}` };
}

async function dbRoleOf(runId: string): Promise<string | null> {
  return (await admin.query('SELECT db_role FROM watchdog_runs WHERE id = $1', [runId])).rows[0].db_role;
}

async function requestsOf(runId: string) {
  return (await admin.query('SELECT id, requested_role, outcome FROM watchdog_cancel_requests WHERE run_id = $1 ORDER BY requested_at', [runId])).rows;
}

/** A request for `runId` as a client writing SQL would insert it; the requested_role it supplies must not count. clock_timestamp(): two in one transaction keep their order. */
const INSERT_REQUEST = `
  INSERT INTO watchdog_cancel_requests (id, run_id, host, signal, reason, requested_by, requested_at, requested_role)
  SELECT gen_random_uuid(), id, host, 'SIGTERM', 'by hand', 'psql', clock_timestamp(), $2 FROM watchdog_runs WHERE id = $1
  RETURNING id, requested_role`;

/** What a query rejected with; fails the test when it succeeded. */
async function refusal(query: Promise<unknown>): Promise<pg.DatabaseError> {
  return query.then(
    () => expect.fail('the query succeeded'),
    (error: pg.DatabaseError) => error,
  );
}

// A wrapper's start and several CLI runs as different roles, each seconds long on a host loaded by the suite.
describe('who may cancel a run through PostgreSQL', { timeout: 180_000 }, () => {
  it("refuses bob, through the CLI (exit 1, says why) and through SQL (42501), and changes nothing; alice cancels her own run", async () => {
    const { wrapper, runId, stateDir } = await aliceRun('bob');
    expect(await dbRoleOf(runId)).toBe(roleOf('alice'));
    const errors: unknown[] = [];
    // The run's host is up and listening all along: a request that got in would be delivered at once.
    const listener = listenForCancels({ url: urlOf('scidex_daemon'), display: 'daemon' }, stateDir, (error) => errors.push(error));
    try {
      await listener.ready;
      const cli = await watchdog(['cancel', runId, '--reason', 'not mine', '--state-dir', emptyStateDir()], 'bob');
      expect(cli.exitCode).toBe(1);
      expect(cli.stderr.trim()).toBe(
        `scidex-watchdog: run ${runId}: refused: role ${roleOf('bob')} may not cancel it (it belongs to role ${roleOf('alice')}; members of scidex_operator may)`,
      );
      const json = await watchdog(['cancel', runId, '--json', '--state-dir', emptyStateDir()], 'bob');
      expect(json.exitCode).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ runId, outcome: 'refused', via: 'database' });

      const bob = await connectAs('bob');
      const error = await refusal(bob.query(INSERT_REQUEST, [runId, roleOf('alice')]));
      expect(error.code).toBe('42501');
      expect(error.message).toBe(
        `role ${roleOf('bob')} may not cancel run ${runId}: it belongs to role ${roleOf('alice')}, and only that role and members of scidex_operator may`,
      );

      expect(await requestsOf(runId)).toEqual([]);
      expect(wrapper.exitCode).toBeNull();
      expect((await admin.query('SELECT status FROM watchdog_runs WHERE id = $1', [runId])).rows).toEqual([{ status: 'running' }]);
      expect(journalOf(stateDir).events.map((event) => event.kind)).not.toContain('cancel_requested');

      const hers = await watchdog(['cancel', runId, '--reason', 'mine', '--state-dir', emptyStateDir()], 'alice');
      expect(hers.exitCode, hers.stderr).toBe(0);
      expect(hers.stderr).toContain('SIGTERM delivered to its wrapper');
      expect((await wrapper).exitCode).toBe(143);
      const [request] = await requestsOf(runId);
      expect(request).toMatchObject({ requested_role: roleOf('alice'), outcome: 'delivered' });
      const event = journalOf(stateDir).events.find((candidate) => candidate.kind === 'cancel_requested');
      expect(event?.detail).toMatchObject({ reason: 'mine', request_id: request.id, requested_role: roleOf('alice') });
      const shipped = await admin.query(`SELECT detail FROM watchdog_events WHERE run_id = $1 AND kind = 'cancel_requested'`, [runId]);
      expect(shipped.rows).toEqual([{ detail: expect.objectContaining({ requested_role: roleOf('alice') }) }]);
      expect(errors).toEqual([]);
    } finally {
      await listener.close();
    }
  });

  it("lets a member of scidex_operator cancel anyone's run", async () => {
    const { wrapper, runId, stateDir, analysisId } = await aliceRun('operator');
    const listener = listenForCancels({ url: urlOf('scidex_daemon'), display: 'daemon' }, stateDir, () => undefined);
    try {
      await listener.ready;
      const cancel = await watchdog(['cancel', '--analysis-id', analysisId, '--reason', 'operator', '--state-dir', emptyStateDir()], 'carol');
      expect(cancel.exitCode, cancel.stderr).toBe(0);
      expect((await wrapper).exitCode).toBe(143);
      expect(await requestsOf(runId)).toEqual([expect.objectContaining({ requested_role: roleOf('carol'), outcome: 'delivered' })]);
      expect(journalOf(stateDir).events.find((event) => event.kind === 'cancel_requested')?.detail).toMatchObject({ requested_role: roleOf('carol') });
    } finally {
      await listener.close();
    }
  });

  it('lets a viewer read runs and show, but not ask for a cancel', async () => {
    const { wrapper, runId, analysisId } = await aliceRun('viewer');
    try {
      const runs = await watchdog(['runs', '--analysis-id', analysisId, '--json'], 'victor');
      expect(runs.exitCode, runs.stderr).toBe(0);
      expect(JSON.parse(runs.stdout)).toMatchObject({ id: runId, status: 'running' });
      const show = await watchdog(['show', runId, '--json'], 'victor');
      expect(show.exitCode, show.stderr).toBe(0);
      expect(JSON.parse(show.stdout).run).toMatchObject({ id: runId });

      const cli = await watchdog(['cancel', runId, '--state-dir', emptyStateDir()], 'victor');
      expect(cli.exitCode).toBe(1);
      expect(cli.stderr.trim().split('\n')).toHaveLength(1);
      expect(cli.stderr).toContain(`run ${runId}: refused: role ${roleOf('victor')} may not request cancels (permission denied for table watchdog_cancel_requests)`);
      const error = await refusal((await connectAs('victor')).query(INSERT_REQUEST, [runId, roleOf('alice')]));
      expect(error.code).toBe('42501');
      expect(await requestsOf(runId)).toEqual([]);
      expect(wrapper.exitCode).toBeNull();
    } finally {
      wrapper.kill('SIGTERM');
      expect((await wrapper).exitCode).toBe(143);
    }
  });

  it("has the run's host refuse, without a signal, requests that got past the trigger", async () => {
    const { wrapper, runId, stateDir } = await aliceRun('recheck');
    try {
      // As a superuser who turned the triggers off: bob's request, and one from before roles (no role).
      await admin.query('BEGIN');
      await admin.query('SET LOCAL session_replication_role = replica');
      await admin.query(INSERT_REQUEST, [runId, roleOf('bob')]);
      await admin.query(INSERT_REQUEST, [runId, null]);
      await admin.query('COMMIT');
      const deliver = await watchdog(['cancel', '--deliver', '--state-dir', stateDir], 'scidex_daemon');
      expect(deliver.exitCode, deliver.stderr).toBe(0);
      expect(deliver.stderr).toContain('handled 2 cancel requests');
      expect((await requestsOf(runId)).map((row) => [row.requested_role, row.outcome])).toEqual([
        [roleOf('bob'), 'refused'],
        [null, 'refused'],
      ]);
      expect(existsSync(join(stateDir, 'running', `${runId}.cancel`))).toBe(false);
      expect(wrapper.exitCode).toBeNull();

      // Alice's own request, through the trigger, is the one signal the wrapper ever gets.
      const [{ id }] = (await (await connectAs('alice')).query(INSERT_REQUEST, [runId, roleOf('bob')])).rows;
      const again = await watchdog(['cancel', '--deliver', '--state-dir', stateDir], 'scidex_daemon');
      expect(again.stderr).toContain('handled 1 cancel request');
      expect((await wrapper).exitCode).toBe(143);
      const cancels = journalOf(stateDir).events.filter((event) => event.kind === 'cancel_requested');
      expect(cancels.map((event) => event.detail)).toEqual([expect.objectContaining({ request_id: id, requested_role: roleOf('alice') })]);
    } finally {
      if (wrapper.exitCode === null) wrapper.kill('SIGTERM');
      await wrapper;
    }
  });
});

// A wrapper's start and several CLI runs as different roles, each seconds long on a host loaded by the suite.
describe("a row's first writer does not own the run on its host", { timeout: 180_000 }, () => {
  it("refuses bob's cancel of a run whose row he inserted before its wrapper: the marker says whose it is", async () => {
    // Alice's wrapper has no database: its row is bob's to insert, and the trigger lets him ask.
    const stateDir = newStateDir();
    const wrapper = startWrapper(['--quiet', '--grace', '5s', '--', 'sleep', '300'], { tag, stateDir });
    try {
      const runId = await until('the run marker', () => listMarkers(stateDir)[0]);
      const row = { ...(forgeRun(newStateDir(), { id: runId }) as RunRecord), revision: 1 };
      await writeRecords(await connectAs('bob'), { runs: [row] });
      expect(await dbRoleOf(runId)).toBe(roleOf('bob'));
      const [{ id }] = (await (await connectAs('bob')).query(INSERT_REQUEST, [runId, null])).rows;
      const deliver = await watchdog(['cancel', '--deliver', '--state-dir', stateDir], 'scidex_daemon');
      expect(deliver.exitCode, deliver.stderr).toBe(0);
      expect((await requestsOf(runId)).map((request) => [request.id, request.outcome])).toEqual([[id, 'refused']]);
      expect(existsSync(join(stateDir, 'running', `${runId}.cancel`))).toBe(false);
      expect(wrapper.exitCode).toBeNull();
      // Positive control: an operator's request is delivered.
      expect((await watchdog(['cancel', runId, '--state-dir', emptyStateDir()], 'carol')).exitCode).toBe(1); // queued: no deliverer runs
      await watchdog(['cancel', '--deliver', '--state-dir', stateDir], 'scidex_daemon');
      expect((await wrapper).exitCode).toBe(143);
    } finally {
      if (wrapper.exitCode === null) wrapper.kill('SIGTERM');
      await wrapper;
    }
  });
});

describe('the roles in the rows are the database\'s, never a client\'s', () => {
  /** A run row of a host no deliverer here serves, as a wrapper journals it. */
  function runRecord(revision: number, id = randomUUID()): RunRecord {
    return { ...(forgeRun(newStateDir(), { id, host: 'roles-test-elsewhere', analysis_id: `roles-forged-${tag}` }) as RunRecord), revision };
  }

  it('sets db_role to the writer on INSERT and keeps it on every UPDATE and upsert, whatever they supply', async () => {
    const alice = await connectAs('alice');
    const bob = await connectAs('bob');
    const first = runRecord(1);
    // The wrappers' and shippers' own statement, with a db_role the record should not be able to carry.
    await writeRecords(alice, { runs: [{ ...first, db_role: roleOf('bob') }] });
    expect(await dbRoleOf(first.id)).toBe(roleOf('alice'));
    // A later shipper of a higher revision (the daemon shipping the journal) updates the row, not its owner.
    await writeRecords(bob, { runs: [{ ...first, revision: 2, status: 'completed' }] });
    expect((await admin.query('SELECT revision, status, db_role FROM watchdog_runs WHERE id = $1', [first.id])).rows).toEqual([
      { revision: 2, status: 'completed', db_role: roleOf('alice') },
    ]);
    await bob.query('UPDATE watchdog_runs SET db_role = $2 WHERE id = $1', [first.id, roleOf('bob')]);
    await bob.query(
      `INSERT INTO watchdog_runs SELECT * FROM jsonb_populate_record(NULL::watchdog_runs, $1::jsonb)
       ON CONFLICT (id) DO UPDATE SET db_role = EXCLUDED.db_role`,
      [JSON.stringify({ ...first, revision: 3, db_role: roleOf('bob') })],
    );
    expect(await dbRoleOf(first.id)).toBe(roleOf('alice'));
    // A row inserted by hand with someone else's role is the inserter's.
    const second = runRecord(1);
    await bob.query('INSERT INTO watchdog_runs SELECT * FROM jsonb_populate_record(NULL::watchdog_runs, $1::jsonb)', [
      JSON.stringify({ ...second, db_role: roleOf('alice') }),
    ]);
    expect(await dbRoleOf(second.id)).toBe(roleOf('bob'));
  });

  it('sets requested_role to the requester, keeps it, and judges a request moved to another run again', async () => {
    const alice = await connectAs('alice');
    const bob = await connectAs('bob');
    const alices = runRecord(1);
    const bobs = runRecord(1);
    await writeRecords(alice, { runs: [alices] });
    await writeRecords(bob, { runs: [bobs] });
    const [mine] = (await bob.query(INSERT_REQUEST, [bobs.id, roleOf('alice')])).rows;
    expect(mine.requested_role).toBe(roleOf('bob'));
    await bob.query('UPDATE watchdog_cancel_requests SET requested_role = $2 WHERE id = $1', [mine.id, roleOf('carol')]);
    expect((await requestsOf(bobs.id)).map((row) => row.requested_role)).toEqual([roleOf('bob')]);
    const moved = await refusal(bob.query('UPDATE watchdog_cancel_requests SET run_id = $2 WHERE id = $1', [mine.id, alices.id]));
    expect(moved.code).toBe('42501');
    expect(await requestsOf(alices.id)).toEqual([]);
  });
});
