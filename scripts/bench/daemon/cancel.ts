// Measure 3: cancel latency, over --cancel-runs runs of `scidex-run -- sleep 60` each, one at a time.
// A run is "ready" once its marker is there, its journal has run_started, its wrapper catches SIGTERM
// (SigCgt) and its row is `running` in PostgreSQL. The clock starts right before the spawn of the
// CLI (or the kill) and stops when the bench process sees the wrapper exit.
//
//   (a) same host: `scidex-watchdog cancel RUN --state-dir D` (the marker is in D: the wrapper is
//       signalled through it), interleaved with the peer, `kill -TERM <wrapper pid>` from this
//       process (signalMember: pidfd, pid and starttime checked), on the same kind of run;
//   (b) across PostgreSQL: the same CLI with an EMPTY state directory, so it finds no marker and
//       queues a request row + NOTIFY; the run host's `scidex-watchdog serve` (LISTEN) delivers it.
//       The floor beside it: a fresh connection of this process sending NOTIFY to a LISTEN
//       connection of this process, from before the connect to the arrival.
// The CLI's own run time is reported beside `node -e 0` (its start-up floor).
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { readJournal } from '../../../src/record/journal.js';
import { listMarkers } from '../../../src/record/markers.js';
import { catchesSignal } from '../../../src/proc/signals.js';
import { signalMember } from '../../../src/terminate/guard.js';
import { log, newFolder, WATCHDOG_BIN, wallMs, WORK } from '../common/context.js';
import { withPg, type BenchDatabase } from '../common/db.js';
import { runCli, start } from '../common/processes.js';
import { identify, startWrapper } from './serve.js';

export interface CancelSide {
  /** CLI (or kill) start to wrapper exit, ms. */
  exitMs: number[];
  /** The CLI's own wall time, spawn to exit, ms. */
  cliMs: number[];
  /** CLI start to the wrapper's cancel_requested event (journal `at`), ms. */
  effectMs: number[];
  /** The request's requested_at (stamped by the CLI) to cancel_requested, ms: the CLI's start-up left out. */
  fromRequestMs: number[];
  /** watchdog_cancel_requests: requested_at to handled_at (the daemon's delivery), ms. */
  handledMs: number[];
  /** Exit codes of the wrappers, and of the CLI. */
  exits: number[];
  cliExits: number[];
  notes: string[];
}

export interface CancelResult {
  runs: number;
  local?: { cli: CancelSide; kill: CancelSide };
  remote?: { cli: CancelSide; notifyMs: number[] };
  nodeMs: number[];
}

const side = (): CancelSide => ({ exitMs: [], cliMs: [], effectMs: [], fromRequestMs: [], handledMs: [], exits: [], cliExits: [], notes: [] });

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const journalPath = (stateDir: string, runId: string): string => join(stateDir, 'journal', `${runId}.jsonl`);
function eventAt(stateDir: string, runId: string, kind: string): number | undefined {
  const path = journalPath(stateDir, runId);
  if (!existsSync(path)) return undefined;
  const entry = readJournal(path).entries.find((candidate) => candidate.table === 'events' && candidate.record.kind === kind);
  return entry ? Date.parse((entry.record as { at: string }).at) : undefined;
}

/** Starts `sleep 60` under a wrapper and waits until it is ready (header). */
async function readyRun(stateDir: string, db: BenchDatabase, client: pg.Client, analysisId: string) {
  const before = listMarkers(stateDir);
  const child = startWrapper(stateDir, db.url, analysisId, ['sleep', '60']);
  const proc = identify(child.pid);
  let exitedAt: number | undefined;
  const exited = child.then((result) => {
    exitedAt = performance.now();
    return result;
  });
  const runId = await until('the run marker', () => listMarkers(stateDir).find((id) => !before.includes(id)));
  await until('run_started', () => eventAt(stateDir, runId, 'run_started') !== undefined);
  await until('the wrapper to catch SIGTERM', () => catchesSignal(proc.pid, 'SIGTERM'));
  await until('the running row', async () => (await client.query("SELECT 1 FROM watchdog_runs WHERE id = $1 AND status = 'running'", [runId])).rowCount === 1);
  return { runId, proc, exited, exitedAt: () => exitedAt };
}

type Ready = Awaited<ReturnType<typeof readyRun>>;

async function finish(run: Ready, t0: number, t0Wall: number, stateDir: string, into: CancelSide): Promise<void> {
  const result = await Promise.race([run.exited, sleep(30_000).then(() => undefined)]);
  if (result === undefined) {
    into.notes.push(`**a wrapper did not exit within 30 s of the cancel: SIGTERM by pid**`);
    signalMember(run.proc, 'SIGTERM');
  }
  const final = await run.exited;
  into.exits.push(final.exitCode ?? -1);
  into.exitMs.push(run.exitedAt()! - t0);
  const effect = eventAt(stateDir, run.runId, 'cancel_requested');
  if (effect !== undefined) into.effectMs.push(effect - t0Wall);
  const stderr = String(final.stderr ?? '').trim();
  if (stderr !== '') into.notes.push(`wrapper stderr: ${stderr.split('\n').slice(0, 3).join(' / ')}`);
}

/** The request row's timestamps and the journal's cancel_requested, for the remote path. */
async function requestTimes(client: pg.Client, stateDir: string, runId: string, into: CancelSide): Promise<void> {
  const { rows } = await client.query<{ requested_at: Date; handled_at: Date | null; outcome: string | null }>(
    'SELECT requested_at, handled_at, outcome FROM watchdog_cancel_requests WHERE run_id = $1',
    [runId],
  );
  const effect = eventAt(stateDir, runId, 'cancel_requested');
  for (const row of rows) {
    if (row.handled_at) into.handledMs.push(row.handled_at.getTime() - row.requested_at.getTime());
    if (effect !== undefined) into.fromRequestMs.push(effect - row.requested_at.getTime());
    if (row.outcome !== 'delivered') into.notes.push(`**request outcome ${row.outcome ?? 'not handled'}**`);
  }
}

/** The CLI's side: spawn it, time it and the wrapper. */
async function viaCli(run: Ready, args: string[], stateDir: string, cliStateDir: string, db: BenchDatabase, into: CancelSide): Promise<void> {
  const [t0, t0Wall] = [performance.now(), wallMs()];
  const cli = await runCli(WATCHDOG_BIN, ['cancel', run.runId, '--state-dir', cliStateDir, ...args], cliStateDir, db.url);
  into.cliMs.push(performance.now() - t0);
  into.cliExits.push(cli.exitCode ?? -1);
  if (cli.exitCode !== 0) into.notes.push(`**cancel exited ${cli.exitCode}**: ${cli.stderr.trim()}`);
  await finish(run, t0, t0Wall, stateDir, into);
}

export async function cancelLatency(db: BenchDatabase, daemonStateDir: string | undefined, runs: number, parts: { local: boolean; remote: boolean }): Promise<CancelResult> {
  const result: CancelResult = { runs, nodeMs: [] };
  const client = new pg.Client({ connectionString: db.url, application_name: 'scidex-bench' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    if (parts.local) {
      const stateDir = newFolder('cancel-local');
      const local = { cli: side(), kill: side() };
      for (let i = 0; i < runs; i++) {
        log(`cancel, same host: ${i + 1} of ${runs}`);
        await viaCli(await readyRun(stateDir, db, client, `bench-cancel-local-${process.pid}`), ['--reason', 'bench'], stateDir, stateDir, db, local.cli);
        const run = await readyRun(stateDir, db, client, `bench-cancel-kill-${process.pid}`);
        const [t0, t0Wall] = [performance.now(), wallMs()];
        const sent = signalMember(run.proc, 'SIGTERM');
        if (sent !== 'sent') local.kill.notes.push(`**kill -TERM: ${sent}**`);
        await finish(run, t0, t0Wall, stateDir, local.kill);
      }
      result.local = local;
    }
    if (parts.remote && daemonStateDir !== undefined) {
      const empty = mkdtempSync(join(WORK, 'empty-state-'));
      const remote = { cli: side(), notifyMs: [] as number[] };
      for (let i = 0; i < runs; i++) {
        log(`cancel through PostgreSQL: ${i + 1} of ${runs}`);
        const run = await readyRun(daemonStateDir, db, client, `bench-cancel-remote-${process.pid}`);
        await viaCli(run, ['--reason', 'bench from afar'], daemonStateDir, empty, db, remote.cli);
        await requestTimes(client, daemonStateDir, run.runId, remote.cli);
      }
      // The floor: NOTIFY from a fresh connection to a LISTEN connection, both of this process.
      const arrived = new Map<string, number>();
      client.on('notification', (message) => void arrived.set(message.payload!, performance.now()));
      await client.query('LISTEN bench_floor');
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await withPg(db.url, (notifier) => notifier.query(`NOTIFY bench_floor, '${i}'`));
        await until('the notification', () => arrived.has(String(i)), 5000);
        remote.notifyMs.push(arrived.get(String(i))! - t0);
      }
      await client.query('UNLISTEN bench_floor');
      result.remote = remote;
    }
    // The CLI's start-up floor.
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await start(process.execPath, ['-e', '0'], WORK, { stdio: 'ignore' });
      result.nodeMs.push(performance.now() - t0);
    }
    return result;
  } finally {
    await client.end().catch(() => undefined);
  }
}
