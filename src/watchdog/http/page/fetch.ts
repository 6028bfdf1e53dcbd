/**
 * How the pages read their data: one GET of a same-origin JSON document (relative URL,
 * `cache: 'no-store'`), given up after a timeout, and why a read failed in words a banner can show.
 */

/** A read answered, but not with 200: its HTTP status and the body's `error` sentence, when it had one. */
export class ReadError extends Error {
  constructor(
    readonly status: number,
    /** The server's own sentence ({error} of a JSON body), or null. */
    readonly sentence: string | null,
    message: string,
    /** Whether the answer had a Retry-After: refused for now (a busy daemon or database), not for good. */
    readonly temporary = false,
  ) {
    super(message);
  }
}

/**
 * Reads `url` (relative to the page) as a JSON object.
 * @param cancel ends the read early when aborted (a newer read replaces it)
 * @throws ReadError when it answers other than 200; an AbortError (DOMException) when it has not answered, body included, within `timeoutMs`
 *   or `cancel` was aborted; SyntaxError when it is not JSON; Error when it is not an object
 */
export async function readJson<T>(url: string, timeoutMs: number, cancel?: AbortSignal): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  cancel?.addEventListener('abort', () => controller.abort(), { once: true });
  try {
    const response = await fetch(url, { cache: 'no-store', headers: { accept: 'application/json' }, signal: controller.signal });
    if (!response.ok) {
      const body: unknown = await response.json().catch((error: unknown) => {
        // Cut off while its body was read (the timeout, or a newer read): that is why it failed, not
        // an answer without a sentence. Under load the headers can come just before the timeout.
        if (controller.signal.aborted) throw error;
        return null;
      });
      const error = body !== null && typeof body === 'object' && 'error' in body && typeof body.error === 'string' ? body.error : null;
      throw new ReadError(response.status, error, `${url} answered HTTP ${response.status}${error === null ? '' : `: ${error}`}`, response.headers.has('retry-after'));
    }
    const body: unknown = await response.json();
    if (body === null || typeof body !== 'object') throw new Error(`${url} is not a JSON object`);
    return body as T;
  } finally {
    clearTimeout(timer);
  }
}

/** Why a read of `url` failed, in the words of a banner. */
export function whyFailed(error: unknown, url: string, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  if (error instanceof SyntaxError) return `${url} is not JSON`;
  return (error instanceof Error && error.message) || 'fetch failed';
}
