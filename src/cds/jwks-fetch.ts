/**
 * The default fetch of a CDS client's JWKS from its configured `jwksUrl`: that URL only, no redirects, the
 * body streamed and abandoned (the connection closed) as soon as it passes {@link JWKS_MAX_BYTES}, and the
 * whole fetch (connect, headers, body) abandoned past {@link JWKS_FETCH_TIMEOUT_MS}. A JWKS is a few kB;
 * nothing a client publishes can make the service hold more than the cap.
 *
 * The retry policy (back-off while no key is held, the refetch rate limit once keys are held) is the key
 * source's (src/cds/jwt-keys.ts); its constants live here with the other bounds of the fetch.
 */

/** The whole fetch gives up after this long. */
export const JWKS_FETCH_TIMEOUT_MS = 3_000;
/** A larger JWKS document is refused; reading stops there. */
export const JWKS_MAX_BYTES = 64 * 1024;
/** While no key is held, the first retry after a failed fetch waits this long, doubling after each failure... */
export const JWKS_RETRY_MIN_MS = 1_000;
/** ... up to this. */
export const JWKS_RETRY_MAX_MS = 16_000;

/** The timers of the time bound (injectable: tests fire them by hand). */
export interface JwksTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: JwksTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface JwksFetcherOptions {
  /** Default {@link JWKS_FETCH_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Default {@link JWKS_MAX_BYTES}. */
  readonly maxBytes?: number;
  /** Default: the global setTimeout and clearTimeout. */
  readonly timers?: JwksTimers;
}

/** Fetches and parses a JWKS document (not yet checked: the key source keeps its usable keys). */
export type FetchJwks = (url: string) => Promise<unknown>;

function tooLarge(maxBytes: number): Error {
  return new Error(`JWKS document larger than ${maxBytes} bytes`);
}

/** Reads a body to its end, or throws once more than `maxBytes` have arrived (nothing more is read). */
async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Buffer> {
  if (body === null) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks, total);
    total += value.byteLength;
    if (total > maxBytes) throw tooLarge(maxBytes);
    chunks.push(value);
  }
}

/** `fetch failed` says little: add the cause's code (ECONNREFUSED, ...) when there is one. */
function describe(e: unknown): Error {
  if (!(e instanceof Error)) return new Error('JWKS fetch failed');
  const cause = (e as { cause?: unknown }).cause;
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return typeof code === 'string' && !e.message.includes(code) ? new Error(`${e.message} (${code})`, { cause: e }) : e;
}

/** Creates the JWKS fetch with its bounds. */
export function createJwksFetcher(opts: JwksFetcherOptions = {}): FetchJwks {
  const timeoutMs = opts.timeoutMs ?? JWKS_FETCH_TIMEOUT_MS;
  const maxBytes = opts.maxBytes ?? JWKS_MAX_BYTES;
  const timers = opts.timers ?? realTimers;
  return async (url) => {
    const controller = new AbortController();
    const timer = timers.setTimeout(() => controller.abort(new Error(`JWKS fetch gave no complete answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      const res = await fetch(url, {
        headers: { accept: 'application/jwk-set+json, application/json' },
        redirect: 'error',
        signal: controller.signal,
      });
      if (!res.ok) throw new Error(`JWKS fetch answered HTTP ${res.status}`);
      const declared = res.headers.get('content-length');
      if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes);
      const bytes = await readCapped(res.body, maxBytes);
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        throw new Error('JWKS document is not UTF-8');
      }
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw describe(e);
    } finally {
      timers.clearTimeout(timer);
      // Closes the connection when the body was not read to its end (too large, refused status, time up).
      controller.abort();
    }
  };
}
