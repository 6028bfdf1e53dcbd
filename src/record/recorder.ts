/**
 * The recorder: every record goes to the journal first, then to PostgreSQL when one is configured.
 * Shipping runs in the background, one batch at a time, and never fails the run: on the first
 * failure one warning says where the records wait; later attempts retry quietly, and close()
 * bounds the last attempt so that a dead database never holds the wrapper's exit.
 */
import { writeFileSync } from 'node:fs';
import type { DatabaseConfig } from '../config/database.js';
import { describeDatabaseError } from './db-error.js';
import type { Journal } from './journal.js';
import type { EventRecord, ProcessRecord, RunRecord } from './types.js';

export class Recorder {
  private shippedEntries = 0;
  private appendedEntries = 0;
  private migrated = false;
  private warned = false;
  private shipping: Promise<void> = Promise.resolve();

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
  }

  /** Journals a version of the run row; lifecycle versions are fsynced and shipped. */
  run(record: RunRecord): void {
    this.append({ table: 'runs', record }, true);
  }

  /** Journals an event; `lifecycle` events are fsynced and shipped at once. */
  event(record: EventRecord, lifecycle = false): void {
    this.append({ table: 'events', record }, lifecycle);
  }

  /** Journals the process rows of a finished run. */
  processes(records: readonly ProcessRecord[]): void {
    for (const record of records) this.journal.append({ table: 'processes', record });
    this.appendedEntries += records.length;
  }

  /**
   * Ships what is left, waits at most `timeoutMs`, and closes the journal.
   * @returns true when every record reached PostgreSQL
   */
  async close(timeoutMs: number): Promise<boolean> {
    this.journal.close();
    if (!this.database) return false;
    this.ship();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([this.shipping, timedOut]);
    clearTimeout(timer);
    const complete = this.shippedEntries === this.appendedEntries;
    if (complete) this.markShipped();
    else this.warnOnce(`records not yet in the database wait in the journal at ${this.journal.path}`);
    return complete;
  }

  /** `<run>.shipped` beside the journal; a full disk only costs the marker, never the run. */
  private markShipped(): void {
    try {
      writeFileSync(`${this.journal.path.slice(0, -'.jsonl'.length)}.shipped`, '', { mode: 0o600 });
    } catch (error) {
      this.warnOnce(`cannot mark ${this.journal.path} shipped: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  }

  private append(entry: Parameters<Journal['append']>[0], lifecycle: boolean): void {
    this.journal.append(entry, lifecycle);
    this.appendedEntries += 1;
    if (lifecycle) this.ship();
  }

  /** Queues one shipping attempt of everything not yet shipped. */
  private ship(): void {
    const database = this.database;
    if (!database) return;
    this.shipping = this.shipping.then(async () => {
      if (this.shippedEntries === this.appendedEntries) return;
      try {
        // Loaded here, not at the top: a run without a database never pays for pg.
        const [{ withClient }, { migrate }, { shipJournal }] = await Promise.all([
          import('./connect.js'),
          import('./migrate.js'),
          import('./ship.js'),
        ]);
        await withClient(database, async (client) => {
          if (!this.migrated) {
            await migrate(client);
            this.migrated = true;
          }
          this.shippedEntries = await shipJournal(client, this.journal.path, this.shippedEntries);
        });
      } catch (error) {
        this.warnOnce(
          `database ${database.display} unavailable (${describeDatabaseError(error)}): records wait in the journal at ${this.journal.path}`,
        );
      }
    });
  }

  private warnOnce(line: string): void {
    if (this.warned) return;
    this.warned = true;
    this.warn(line);
  }
}
