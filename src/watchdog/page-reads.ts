/**
 * The daemon's bound on the database reads of its pages (/runs/<id>.json, /fleet.json): each holds
 * a PostgreSQL connection while it runs, and the connections are the fleet's (max_connections is
 * shared with every wrapper's shipping and the daemons' sweeps), so a page open in many tabs, or
 * a client looping on /fleet.json, must not take them. At most `limit` reads run at once; one more
 * is refused at once (the server answers 503 with Retry-After) rather than queued, since a queue
 * would only make its readers wait past their pages' fetch timeout. Reads asked for under the same
 * key while one is in flight (the same /fleet.json filter) share its answer without a slot.
 */
import { Unavailable } from './http/server.js';

/** How many page reads may hold a database connection at once. */
export const PAGE_READS_AT_ONCE = 3;

/** How long a refused reader is told to wait before it asks again, seconds (Retry-After). */
const RETRY_AFTER_S = 2;

export class PageReads {
  private running = 0;
  private readonly shared = new Map<string, Promise<unknown>>();

  constructor(private readonly limit = PAGE_READS_AT_ONCE) {}

  /**
   * Runs `read` in a slot, or joins the read in flight under `key` (when given).
   * @throws Unavailable when every slot is taken; whatever `read` throws
   */
  run<T>(key: string | undefined, read: () => Promise<T>): Promise<T> {
    const inFlight = key === undefined ? undefined : this.shared.get(key);
    if (inFlight) return inFlight as Promise<T>;
    if (this.running >= this.limit) {
      return Promise.reject(new Unavailable(`the daemon is already reading the database for ${this.limit} page requests: try again`, RETRY_AFTER_S));
    }
    this.running++;
    const reading = read().finally(() => {
      this.running--;
      if (key !== undefined) this.shared.delete(key);
    });
    if (key !== undefined) this.shared.set(key, reading);
    return reading;
  }
}
