/**
 * The byte bound of FHIR response bodies, put in the dispatcher of Node's `fetch`: fhir-kit-client reads
 * each body whole itself (`response.text()`), so the bound cannot be put around that read.
 *
 * A session's agent (one per FHIR session, destroyed with it) has undici's `maxResponseSize`, which counts
 * a body's bytes as they arrive and closes the connection past the limit. In front of it an interceptor
 * refuses, on the response's headers and before any of its body is read:
 *
 * - a Content-Length over the limit;
 * - a Content-Encoding other than identity. `fetch` decodes a body after the dispatcher has counted it,
 *   and a 5 MB gzip can expand to gigabytes; so bodies are asked for uncompressed (`Accept-Encoding:
 *   identity`, src/fhir/http.ts) and a compressed one is never read. What is counted is what is decoded.
 *
 * undici 6 is the major version Node 20 bundles (`process.versions.undici`): its dispatchers work with
 * the global `fetch`. Nothing here touches the global dispatcher, so every other `fetch` of the process
 * is left as it is.
 */
import { Agent, DecoratorHandler, errors, type Dispatcher } from 'undici';

/** The dispatcher of one FHIR session. */
export type BoundedAgent = Dispatcher;

const ENCODED_BODY = 'TNP_FHIR_ENCODED_BODY';

/** A response whose body is compressed, refused unread. */
class EncodedBodyError extends Error {
  readonly code = ENCODED_BODY;

  constructor(readonly encoding: string) {
    super(`the body is compressed (${encoding})`);
    this.name = 'EncodedBodyError';
  }
}

/** Refuses a response on its headers: a Content-Length over the limit, or a compressed body. */
class BodyGuard extends DecoratorHandler {
  constructor(
    private readonly inner: Dispatcher.DispatchHandlers,
    private readonly maxBytes: number,
  ) {
    super(inner);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx answers have no body; the final answer's headers come after them.
    if (statusCode >= 200) {
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
        const name = String(rawHeaders[i]).toLowerCase();
        const value = String(rawHeaders[i + 1]).trim().toLowerCase();
        // Thrown here, undici aborts the request and closes its connection.
        if (name === 'content-length' && Number(value) > this.maxBytes) throw new errors.ResponseExceededMaxSizeError();
        if (name === 'content-encoding' && value !== '' && value !== 'identity') throw new EncodedBodyError(value.slice(0, 40));
      }
    }
    return this.inner.onHeaders?.(statusCode, rawHeaders, resume, statusText) ?? true;
  }
}

/**
 * A dispatcher for one FHIR session: bodies bounded to `maxBytes`, at most two connections (the search
 * and the Patient read run side by side), idle connections kept 4 s at most. Destroy it when the
 * session ends.
 */
export function boundedAgent(maxBytes: number): BoundedAgent {
  const guard: Dispatcher.DispatchInterceptor = (dispatch) => (opts, handler) => dispatch(opts, new BodyGuard(handler, maxBytes));
  return new Agent({ maxResponseSize: maxBytes, connections: 2, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 4_000 }).compose(guard);
}

export type RequestFailure = { readonly kind: 'too-large'; readonly code: string } | { readonly kind: 'encoded'; readonly code: string; readonly detail: string } | { readonly kind: 'network'; readonly code: string };

/**
 * What a failed request comes down to, from its chain of causes: a body over the limit, a compressed
 * body, or the most specific network reason (e.g. `ECONNREFUSED`). Never a URL nor a header.
 */
export function failureCode(e: unknown): RequestFailure {
  let network: string | null = null;
  let cur: unknown = e;
  for (let depth = 0; depth < 5 && typeof cur === 'object' && cur !== null; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return { kind: 'too-large', code };
    if (cur instanceof EncodedBodyError) return { kind: 'encoded', code: ENCODED_BODY, detail: cur.encoding };
    if (network === null && typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code)) network = code;
    cur = (cur as { cause?: unknown }).cause;
  }
  if (network !== null) return { kind: 'network', code: network };
  // A message without its URLs (a request URL carries the patient id).
  const message = e instanceof Error && e.message !== '' ? e.message.replace(/[a-z][a-z0-9+.-]*:\/\/\S*/gi, '(a URL)').slice(0, 200) : 'network error';
  return { kind: 'network', code: message };
}
