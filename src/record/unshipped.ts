/**
 * Which journals still wait for PostgreSQL: those without the `<run>.shipped` mark that the
 * recorder or `scidex-watchdog ship` writes once every line of a finished run is in.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The journals of a state directory not yet marked shipped, oldest name first. */
export function unshippedJournals(stateDir: string): string[] {
  const dir = join(stateDir, 'journal');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const present = new Set(names);
  return names
    .filter((name) => name.endsWith('.jsonl') && !present.has(`${name.slice(0, -'.jsonl'.length)}.shipped`))
    .sort()
    .map((name) => join(dir, name));
}

