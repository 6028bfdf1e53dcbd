/**
 * Memory sizes as users write them. `512MiB`, `2GiB` are binary; a bare suffix `2G`, `512M`
 * is binary too, as in systemd's MemoryMax= and docker's --memory; `2GB` is decimal (SI). A bare
 * number is bytes. Parsing of the unit forms is xbytes'.
 */
import xbytes from 'xbytes';
import { UsageError } from './errors.js';

/**
 * Parses a size.
 * @param text what the user wrote
 * @param what the option's name, for the error message
 * @returns bytes, a non-negative integer
 * @throws UsageError for text that is not a non-negative size
 */
export function parseSizeBytes(text: string, what: string): number {
  const trimmed = text.trim();
  let bytes: number | undefined;
  if (/^\d+$/.test(trimmed)) bytes = Number(trimmed);
  else if (!trimmed.startsWith('-')) {
    const binaryShorthand = /^(\d+(?:\.\d+)?)\s*([KMGTP])$/i.exec(trimmed);
    bytes = xbytes.parseSize(binaryShorthand ? `${binaryShorthand[1]}${binaryShorthand[2].toUpperCase()}iB` : trimmed);
  }
  if (bytes === undefined || !Number.isFinite(bytes) || bytes < 0) {
    throw new UsageError(`invalid ${what} '${text}': expected a size such as 512MiB, 2GiB, 2G or a number of bytes`);
  }
  return Math.round(bytes);
}

/** Formats bytes for a human, binary units: `1.5 GiB`. */
export function formatSize(bytes: number): string {
  return xbytes(bytes, { iec: true, fixed: 1 });
}
