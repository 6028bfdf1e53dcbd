/**
 * Durations as users write them: `90s`, `30m`, `1h30m`, `1.5h`, `250ms`, or a bare number of
 * seconds as timeout(1) takes it. Parsing is parse-duration's; this module adds the bare-number
 * rule, rejects what it cannot read, and formats for messages.
 */
import parse from 'parse-duration';
import { UsageError } from './errors.js';

/**
 * Parses a duration.
 * @param text what the user wrote
 * @param what the option's name, for the error message
 * @returns milliseconds, >= 0 (0 means "disabled" where the option allows it)
 * @throws UsageError for text that is not a non-negative duration
 */
export function parseDurationMs(text: string, what: string): number {
  const trimmed = text.trim();
  const ms = /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) * 1000 : parse(trimmed);
  if (trimmed === '' || trimmed.startsWith('-') || ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) {
    throw new UsageError(`invalid ${what} '${text}': expected a duration such as 90s, 30m, 1h30m or a number of seconds`);
  }
  return Math.round(ms);
}

/** Formats milliseconds for a human: `850ms`, `12.3s`, `30m0s`, `1h30m0s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  const totalSeconds = Math.floor(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  return hours > 0 ? `${hours}h${minutes}m${seconds}s` : `${minutes}m${seconds}s`;
}
