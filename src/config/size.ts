/**
 * Memory sizes as users write them. `512MiB`, `2GiB` are binary; a bare suffix `2G`, `512M`
 * is binary too, as in systemd's MemoryMax= and docker's --memory; `2GB` is decimal (SI). A bare
 * number is bytes. Parsing of the unit forms is xbytes'.
 */
import xbytes from 'xbytes';
import { UsageError } from './errors.js';

/** The largest size taken, bytes (2^53 - 1, 8 PiB): exact as a JavaScript number, and within PostgreSQL's bigint. */
export const MAX_SIZE_BYTES = Number.MAX_SAFE_INTEGER;

/**
 * Parses a size.
 * @param text what the user wrote
 * @param what the option's name, for the error message
 * @returns bytes, a non-negative integer
 * @throws UsageError for text that is not a non-negative size, or one over MAX_SIZE_BYTES
 */
export function parseSizeBytes(text: string, what: string): number {
  // A lower-case b is bytes too: xbytes reads it as bits, so `2gb` was an eighth of 2 GB.
  const trimmed = text.trim().replace(/b$/, 'B');
  let bytes: number | undefined;
  if (/^\d+$/.test(trimmed)) bytes = Number(trimmed);
  else if (!trimmed.startsWith('-')) {
    const binaryShorthand = /^(\d+(?:\.\d+)?)\s*([KMGTP])$/i.exec(trimmed);
    bytes = xbytes.parseSize(binaryShorthand ? `${binaryShorthand[1]}${binaryShorthand[2].toUpperCase()}iB` : trimmed);
  }
  if (bytes === undefined || !Number.isFinite(bytes) || bytes < 0) {
    throw new UsageError(`invalid ${what} '${text}': expected a size such as 512MiB, 2GiB, 2G or a number of bytes`);
  }
  if (bytes > MAX_SIZE_BYTES) throw new UsageError(`invalid ${what} '${text}': at most ${formatSize(MAX_SIZE_BYTES)}`);
  // Only 0 disables: a positive size under a byte is one byte, never "no limit".
  return bytes > 0 ? Math.max(1, Math.round(bytes)) : 0;
}

/** Formats bytes for a human, binary units: `1.5 GiB`. */
export function formatSize(bytes: number): string {
  return xbytes(bytes, { iec: true, fixed: 1 });
}
