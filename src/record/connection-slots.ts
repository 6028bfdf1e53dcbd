/**
 * A host-wide cap on the connections shipping opens at once: at most SHIPPING_SLOTS per state
 * directory (the runs of one user on one host share it). Hundreds of runs that start or end
 * together would otherwise each open a connection and could fill the server's max_connections,
 * refusing everyone else's clients; with the cap they queue here, and a run that finds every slot
 * taken retries like one that found the server busy. A slot is a lock file (lock-file.ts), so a
 * wrapper killed while holding one frees it for the next taker.
 */
import { join } from 'node:path';
import { releaseLock, tryLock } from './lock-file.js';

/** Connections one state directory's wrappers may hold at once. */
export const SHIPPING_SLOTS = 8;

/**
 * Takes a free slot in `journalDir`, trying them from a random one so takers spread out. When no
 * slot file can be made at all (a full disk, a read-only journal folder), shipping goes ahead
 * without one: the cap spares the server, but records the journal may not even hold come first.
 * @returns the function that gives it back, or undefined when all are held by live processes
 */
export function takeShippingSlot(journalDir: string): (() => void) | undefined {
  const first = Math.floor(Math.random() * SHIPPING_SLOTS);
  let unavailable = 0;
  for (let offset = 0; offset < SHIPPING_SLOTS; offset++) {
    const path = join(journalDir, `.shipping-slot-${(first + offset) % SHIPPING_SLOTS}.lock`);
    const attempt = tryLock(path);
    if (attempt === 'taken') return () => releaseLock(path);
    if (attempt === 'unavailable') unavailable += 1;
  }
  return unavailable === SHIPPING_SLOTS ? () => undefined : undefined;
}
