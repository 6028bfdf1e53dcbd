/**
 * koffi, the optional dependency (prebuilt binaries) through which src/sys calls what Node lacks:
 * loaded once per process, for libc.ts and sd-notify.ts alike, with the reason when it cannot be.
 *
 * `SCIDEX_NO_FFI` turns it off: set to anything but empty, `0`, `false`, `no` or `off` (any case),
 * koffi is never loaded, and every caller degrades exactly as on a host where it is not installed
 * (no subreaper backend, starttime re-checks instead of pidfds, lock files without flock(2), no
 * sd_notify). It is read once, when koffi is first asked for. CI runs the kill tests this way too.
 */
import { createRequire } from 'node:module';

export type Koffi = typeof import('koffi');

/** The off switch; see the module comment. */
export const NO_FFI_VARIABLE = 'SCIDEX_NO_FFI';

let loaded: Koffi | null | undefined;
let unavailable = '';

/** koffi, or null when it is turned off or cannot be loaded (the reason is in `koffiUnavailable()`). */
export function koffi(): Koffi | null {
  if (loaded === undefined) loaded = load();
  return loaded;
}

/** Why `koffi()` returned null, as a phrase for messages; empty when it did not. */
export function koffiUnavailable(): string {
  koffi();
  return unavailable;
}

function load(): Koffi | null {
  const off = process.env[NO_FFI_VARIABLE]?.trim() ?? '';
  if (off !== '' && !/^(0|false|no|off)$/i.test(off)) {
    unavailable = `${NO_FFI_VARIABLE}=${off} turned FFI off (koffi is not loaded)`;
    return null;
  }
  try {
    return createRequire(import.meta.url)('koffi') as Koffi;
  } catch (error) {
    unavailable = `the optional dependency koffi is not installed (${(error as Error).message.split('\n')[0]})`;
    return null;
  }
}
