import { constants } from 'node:os';
import { UsageError } from './errors.js';

/** A signal by its name and number, as in signal(7). */
export interface Signal {
  /** `SIGTERM`. */
  name: NodeJS.Signals;
  /** 15. */
  number: number;
}

const names = constants.signals as Record<string, number>;

/**
 * Parses `SIGTERM`, `TERM`, `term` or `15`.
 * @throws UsageError for an unknown signal, or signal 0 (which only tests for existence)
 */
export function parseSignal(text: string, what: string): Signal {
  const trimmed = text.trim().toUpperCase();
  if (/^\d+$/.test(trimmed)) {
    const number = Number(trimmed);
    const name = Object.keys(names).find((candidate) => names[candidate] === number);
    if (name) return { name: name as NodeJS.Signals, number };
  } else {
    const name = trimmed.startsWith('SIG') ? trimmed : `SIG${trimmed}`;
    if (names[name] !== undefined) return { name: name as NodeJS.Signals, number: names[name] };
  }
  throw new UsageError(`invalid ${what} '${text}': expected a signal name such as SIGTERM or a number such as 15`);
}
