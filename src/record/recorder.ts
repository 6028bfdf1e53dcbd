/**
 * The recorder: every record goes to the journal first, then to PostgreSQL when one is configured.
 * Shipping runs in the background, one attempt at a time, and never fails the run. An attempt
 * opens a connection, writes what the journal holds beyond what is already in, and closes it: a
 * wrapper holds no connection between attempts. A failed attempt is retried with backoff while the
 * run goes on (one warning says where the records wait; a server merely out of connection slots
 * gets no warning), and close() keeps trying until its deadline, so a dead database never holds
 * the wrapper's exit for long and a busy one still gets every record. The runs of a state
 * directory share a few connection slots (connection-slots.ts), so many runs never fill the server.
 */
import type { DatabaseConfig } from '../config/database.js';
import { dirname } from 'node:path';
import { backoffMs, isBusy } from './backoff.js';
import { takeShippingSlot } from './connection-slots.js';
import { describeDatabaseError } from './db-error.js';
import { markShipped } from './journal-files.js';
import type { Journal } from './journal.js';
import type { EventRecord, JournalEntry, ProcessRecord, RunRecord, SampleRecord } from './types.js';

/** How an attempt went: everything in, the server busy (try again soon), or the database down. */
export type Attempt = 'done' | 'busy' | 'down';

/** Retries while the run goes on: 1 s, 2 s, 4 s ... up to 30 s between attempts (half of it jitter). */
const RUNNING_BACKOFF = { baseMs: 1000, capMs: 30_000 };
/** Retries within close()'s deadline: short, so that a server that is only busy is caught in time. */
const CLOSING_BACKOFF = { baseMs: 100, capMs: 1000 };

export class Recorder {
  private shippedEntries = 0;
  private appendedEntries = 0;
  /** Entries the journal could not take (a full disk): only PostgreSQL can keep them now. */
  private unjournaled: JournalEntry[] = [];
  private warned = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closing = false;
  /** The attempt under way, or the last one: attempts never overlap. */
  private shipping: Promise<Attempt> = Promise.resolve('done');

  /**
   * @param journal the run's journal, already created
   * @param database where to ship; undefined keeps the journal as the only store
   * @param warn prints one line to the user
   */
  constructor(
    readonly journal: Journal,
    private readonly database: DatabaseConfig | undefined,
    private readonly warn: (line: string) => void,
  ) {
    journal.onError = warn;
    // Shipments count the whole file's entries: those already there count as appended, or a
    // continued journal would never look complete.
    this.appendedEntries = journal.initialEntries;
  }

  /** Journals a version of the run row (start, heartbeat, end): fsynced and shipped at once. */
  run(record: RunRecord): void {
    this.append({ table: 'runs', record }, true);
  }

  /** Journals an event; `lifecycle` events are fsynced and shipped at once. */
  event(record: EventRecord, lifecycle = false): void {
    this.append({ table: 'events', record }, lifecycle);
  }

  /** Journals a sample of the tree; it travels with the next shipment (a heartbeat, the end). */
  sample(record: SampleRecord): void {
    this.append({ table: 'samples', record }, false);
  }

  /** Journals the process rows of a finished run. */
  processes(records: readonly ProcessRecord[]): void {
    for (const record of records) this.append({ table: 'processes', record }, false);
  }

  /**
   * Ships what is left and closes the journal. A busy server (out of connection slots, or slower
   * than the bound) is retried until `timeoutMs` has passed; a database that is down gets one
   * attempt, so that an outage does not slow every run's exit, and a warning says where the records
   * wait. A busy server gets no warning here: the caller hands the journal over (sweep.ts
   * shipLeftovers) or calls warnRecordsWait().
   * @returns 'done' when every record reached PostgreSQL, 'busy' or 'down' when some wait in the
   *          journal, 'journal-only' when no database is configured
   */
  async close(timeoutMs: number): Promise<Attempt | 'journal-only'> {
    this.journal.close();
    if (!this.database) {
      this.warnLost();
      return 'journal-only';
    }
    this.closing = true;
    clearTimeout(this.retryTimer);
    const deadline = performance.now() + timeoutMs;
    let outcome: Attempt;
    for (let attempt = 1; ; attempt++) {
      outcome = await this.withinDeadline(this.ship(), deadline);
      const left = deadline - performance.now();
      if (outcome !== 'busy' || left <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, backoffMs(attempt, CLOSING_BACKOFF))));
    }
    if (outcome === 'done') this.markShipped();
    if (outcome === 'down') this.warnRecordsWait();
    this.warnLost();
    return outcome;
  }

  /** Records that reached neither the journal nor PostgreSQL (both failed: a full disk and a server down); 0 normally. */
  get lostRecords(): number {
    return this.unjournaled.length;
  }

  private warnLost(): void {
    if (this.unjournaled.length === 0) return;
    const where = this.database ? 'neither to the journal nor to PostgreSQL' : 'to the journal, and no database is configured';
    this.warn(`${this.unjournaled.length} records could be written ${where}: lost`);
  }

  /** The one warning that records wait in the journal for a later shipper. */
  warnRecordsWait(): void {
    this.warnOnce(`records not yet in the database wait in the journal at ${this.journal.path}; the next scidex-run or scidex-watchdog ship sends them`);
  }

  private async withinDeadline(attempt: Promise<Attempt>, deadline: number): Promise<Attempt> {
    let timer: NodeJS.Timeout | undefined;
    // An attempt still under way at the deadline met a slow server or host, not a refusal.
    const timedOut = new Promise<Attempt>((resolve) => (timer = setTimeout(() => resolve('busy'), Math.max(0, deadline - performance.now()))));
    const result = await Promise.race([attempt, timedOut]);
    clearTimeout(timer);
    return result;
  }

  /** `<run>.shipped` beside the journal; a full disk only costs the marker, never the run. */
  private markShipped(): void {
    try {
      markShipped(this.journal.path);
    } catch (error) {
      this.warnOnce(`cannot mark ${this.journal.path} shipped: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  }

  private append(entry: JournalEntry, lifecycle: boolean): void {
    const grouped = this.moment !== undefined;
    if (this.journal.append(entry, lifecycle && !grouped)) this.appendedEntries += 1;
    else this.unjournaled.push(entry);
    if (grouped) this.moment ||= lifecycle;
    else if (lifecycle) void this.ship();
  }

  /** Whether a lifecycle entry was appended in the moment under way (together()); undefined outside one. */
  private moment: boolean | undefined;

  /**
   * Journals what `work` appends as one moment of the run (its start, its end): one fsync and one
   * shipment after the last line, when any of them is a lifecycle entry, instead of one per line.
   */
  together(work: () => void): void {
    this.moment = false;
    try {
      work();
    } finally {
      const lifecycle = this.moment;
      this.moment = undefined;
      if (lifecycle) {
        this.journal.sync();
        void this.ship();
      }
    }
  }

  /** Everything appended so far is in PostgreSQL. */
  private allShipped(): boolean {
    return this.shippedEntries >= this.appendedEntries && this.unjournaled.length === 0;
  }

  /**
   * Queues one shipping attempt of everything not yet shipped; a failure while the run goes on
   * arms a retry.
   * @returns how it went ('done': everything appended so far is in PostgreSQL)
   */
  private ship(): Promise<Attempt> {
    if (!this.database) return Promise.resolve('down');
    this.shipping = this.shipping.then(async () => {
      if (this.allShipped()) return 'done';
      const outcome = await this.attempt();
      if (outcome === 'done') {
        this.failures = 0;
        // Records appended while the batch was under way wait for the next shipment.
        return this.allShipped() ? 'done' : 'busy';
      }
      this.failures += 1;
      this.armRetry();
      return outcome;
    });
    return this.shipping;
  }

  private armRetry(): void {
    if (this.closing || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.ship();
    }, backoffMs(this.failures, RUNNING_BACKOFF));
    // The run's end decides when the wrapper exits, never a pending retry.
    this.retryTimer.unref();
  }

  /** One connection, one batch, in one of the state directory's shipping slots. */
  private async attempt(): Promise<Attempt> {
    const database = this.database!;
    const release = takeShippingSlot(dirname(this.journal.path));
    if (!release) return 'busy';
    try {
      // Loaded here, not at the top: a run without a database never pays for pg.
      const [{ withSchema }, { shipEntries, shipJournal }] = await Promise.all([import('./migrate.js'), import('./ship.js')]);
      const shipment = await withSchema(database, async (client) => {
        const fromFile = await shipJournal(client, this.journal.path, this.shippedEntries);
        const fromMemory = this.unjournaled.slice();
        const { rejected: refused, deferred } = fromMemory.length > 0 ? await shipEntries(client, fromMemory) : { rejected: [], deferred: [] };
        return { fromFile, fromMemory, refused, deferred };
      });
      this.shippedEntries = shipment.fromFile.next;
      // What PostgreSQL could not take yet (its run row was not in) stays for the next attempt.
      this.unjournaled.splice(0, shipment.fromMemory.length, ...shipment.deferred);
      if (shipment.fromFile.rejected.length > 0) {
        this.warn(`${shipment.fromFile.rejected.length} records refused by PostgreSQL, set aside with the reason in ${shipment.fromFile.rejectedPath}`);
      }
      if (shipment.refused.length > 0) {
        this.warn(`${shipment.refused.length} records refused by PostgreSQL and not in the journal (it could not be written): lost; the first reason: ${shipment.refused[0].reason}`);
      }
      return 'done';
    } catch (error) {
      if (isBusy(error)) return 'busy';
      this.warnOnce(
        `database ${database.display} unavailable (${describeDatabaseError(error)}): records wait in the journal at ${this.journal.path}; retrying in the background`,
      );
      return 'down';
    } finally {
      release();
    }
  }

  private warnOnce(line: string): void {
    if (this.warned) return;
    this.warned = true;
    this.warn(line);
  }
}
