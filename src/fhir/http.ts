/**
 * The HTTP of a FHIR session, through fhir-kit-client (the project's FHIR client: `search`, `read`, and
 * `request` for a next page that src/fhir/session.ts has already checked), with the guards every request
 * of the pull needs:
 *
 * - Redirects are never followed (`redirect: 'manual'`): a 3xx is a failure, its target gets no
 *   connection and the access token goes nowhere else.
 * - Every response body is bounded (src/fhir/body-guard.ts): each session has its own undici `Agent`,
 *   the dispatcher of Node's `fetch` that fhir-kit-client calls, with `maxResponseSize`; a larger
 *   Content-Length is refused before the body is read, bodies are asked for uncompressed and a
 *   compressed one is refused (so what is counted is what is decoded). Past the limit the connection is
 *   closed. The agent is destroyed when the session ends: no connection outlives it.
 * - The session's `AbortSignal` (its time bound, on injected timers) goes with every request.
 * - fhir-kit-client's debug logging, which prints request headers (the access token), is switched off
 *   where the client is made, whatever `DEBUG` says.
 * - Its errors carry the request URL (with the patient id) and the response, and its results hide the
 *   request (with the Authorization header): neither leaves this module. Each failure becomes a coded
 *   `TnpError` (412) whose message says what the far side answered, for the log and the audit record,
 *   with a cause that keeps only the kind of failure; each result is copied without the hidden request.
 *   The CDS answer itself only says that the server could not be queried (src/cds/prefetch.ts).
 */
import createDebug from 'debug';
import { Client } from 'fhir-kit-client';
import { TnpError } from '../errors.js';
import { auditableFhirUrl, baseHref, type FhirBase } from './allow-list.js';
import { boundedAgent, failureCode, type BoundedAgent } from './body-guard.js';
import { isObject } from '../util/guards.js';

export interface FhirHttpOptions {
  /** Every request goes to this base or below it. */
  readonly base: FhirBase;
  /** Sent as `Authorization: Bearer <token>` when not null. */
  readonly accessToken: string | null;
  /** Aborts every request (the session's time bound, or its end). */
  readonly signal: AbortSignal;
  /** The largest body read, in bytes; past it the request fails. */
  readonly maxBytes: number;
}

/** The requests of one session. `what` names the request in messages: "the Observation search (page 2)". */
export interface FhirHttp {
  search(resourceType: string, params: Readonly<Record<string, string>>, what: string): Promise<unknown>;
  read(resourceType: string, id: string, what: string): Promise<unknown>;
  /** GETs an absolute URL under the base (a next link the session has checked). */
  get(url: URL, what: string): Promise<unknown>;
  /** Closes the session's connections (aborting any request still in flight). Never throws. */
  close(): Promise<void>;
}

const MAX_OUTCOME_TEXT = 500;
/** fhir-kit-client's debug namespaces (`fhir-kit-client:info` prints request headers). */
const CLIENT_DEBUG = 'fhir-kit-client:*';

/** The readable text of an OperationOutcome (details.text, else diagnostics, else code), short and on one line. */
export function operationOutcomeText(body: unknown): string | null {
  if (!isObject(body) || body['resourceType'] !== 'OperationOutcome' || !Array.isArray(body['issue'])) return null;
  const parts: string[] = [];
  for (const issue of body['issue'] as unknown[]) {
    if (!isObject(issue)) continue;
    const details = issue['details'];
    const text = isObject(details) && typeof details['text'] === 'string' ? details['text'] : typeof issue['diagnostics'] === 'string' ? issue['diagnostics'] : typeof issue['code'] === 'string' ? issue['code'] : null;
    if (text !== null && text.trim() !== '') parts.push(text.trim());
  }
  if (parts.length === 0) return null;
  // Control characters (log and header injection) become spaces.
  const joined = [...parts.join('; ')].map((ch) => (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? ' ' : ch)).join('');
  return joined.length > MAX_OUTCOME_TEXT ? `${joined.slice(0, MAX_OUTCOME_TEXT)}…` : joined;
}

/**
 * Switches fhir-kit-client's debug namespaces off, keeping whatever else `DEBUG` enables: they would
 * print every request's headers, the access token among them. Checked each time a client is made, so
 * that a later `debug.enable(...)` cannot switch them back on for the next session.
 */
function silenceClientDebug(): void {
  if (!createDebug.enabled('fhir-kit-client:info') && !createDebug.enabled('fhir-kit-client:error')) return;
  const current = createDebug.disable();
  createDebug.enable(current === '' ? `-${CLIENT_DEBUG}` : `${current},-${CLIENT_DEBUG}`);
}

/** What fhir-kit-client throws for a status that is not 2xx, or a body that is not JSON. */
interface ClientHttpError {
  readonly response: { readonly status: number; readonly data: unknown };
  readonly config?: { readonly headers?: unknown; readonly url?: unknown };
}

function isClientHttpError(e: unknown): e is ClientHttpError {
  return isObject(e) && isObject(e['response']) && typeof e['response']['status'] === 'number';
}

/** A failure as kept in a `cause`: its kind only, never a URL, a header or a body. */
function strippedCause(kind: string): Error {
  const cause = new Error(kind);
  cause.name = 'FhirRequestFailure';
  return cause;
}

/** Where a 3xx pointed, for the message: ` to <origin and path>`, or '' when it named nowhere. */
function redirectTarget(e: ClientHttpError): string {
  const headers = e.config?.headers;
  const location = headers instanceof Headers ? headers.get('location') : null;
  if (location === null) return '';
  try {
    return ` to ${auditableFhirUrl(new URL(location, typeof e.config?.url === 'string' ? e.config.url : undefined).href) ?? '(not a URL)'}`;
  } catch {
    return ' to (not a URL)';
  }
}

/** The coded error for a status that is not 2xx (or a 2xx body that is not JSON). */
function statusError(e: ClientHttpError, origin: string, what: string): TnpError {
  const { status, data } = e.response;
  const cause = strippedCause(`HTTP ${status}`);
  if (status >= 300 && status < 400) {
    return new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered ${what} with HTTP ${status}, a redirect${redirectTarget(e)}; redirects are not followed`, { cause });
  }
  const said = operationOutcomeText(data);
  if (status === 401 || status === 403) {
    return new TnpError('TNP_ERR_FHIR_UNAUTHORIZED', `the FHIR server ${origin} refused the access token (HTTP ${status}) for ${what}${said !== null ? `: ${said}` : ''}`, { cause });
  }
  if (status >= 200 && status < 300) return new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered ${what} with a body that is not JSON`, { cause });
  return new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered HTTP ${status} to ${what}${said !== null ? `: ${said}` : ''}`, { cause });
}

/** The coded error for whatever a request threw. */
function requestError(e: unknown, o: FhirHttpOptions, what: string): unknown {
  // Aborted by the session (its time bound, or its end): the session names it.
  if (o.signal.aborted) return o.signal.reason;
  const origin = o.base.origin;
  if (isClientHttpError(e)) return statusError(e, origin, what);
  const failure = failureCode(e);
  if (failure.kind === 'too-large') {
    return new TnpError('TNP_ERR_FHIR_LIMIT_EXCEEDED', `the FHIR server ${origin} answered ${what} with a body larger than ${o.maxBytes} bytes; reading stopped there, so the record could not be completely obtained`, {
      cause: strippedCause(failure.code),
    });
  }
  if (failure.kind === 'encoded') {
    return new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered ${what} with a compressed body (Content-Encoding: ${failure.detail}) although an uncompressed one was asked for; it was not read`, {
      cause: strippedCause(failure.code),
    });
  }
  return new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} could not be reached for ${what} (${failure.code})`, { cause: strippedCause(failure.code) });
}

/**
 * A copy of a result without what fhir-kit-client hides on it (the `Request`, with the Authorization
 * header, and the `Response`): only the JSON goes on.
 */
function plain(result: unknown): unknown {
  return isObject(result) ? { ...result } : result;
}

/**
 * Opens the HTTP of one session: one fhir-kit-client `Client` on the base, one bounded undici agent.
 * Close it when the session ends.
 */
export function openFhirHttp(o: FhirHttpOptions): FhirHttp {
  silenceClientDebug();
  const agent: BoundedAgent = boundedAgent(o.maxBytes);
  const client = new Client({
    baseUrl: baseHref(o.base),
    ...(o.accessToken === null ? {} : { bearerToken: o.accessToken }),
    // Node's fetch decodes a compressed body after the dispatcher has counted it: ask for none.
    customHeaders: { 'accept-encoding': 'identity' },
    requestOptions: { redirect: 'manual', dispatcher: agent },
  });
  const options = { signal: o.signal };
  const call = async (what: string, send: () => Promise<unknown>): Promise<unknown> => {
    let result: unknown;
    try {
      result = await send();
    } catch (e) {
      throw requestError(e, o, what);
    }
    // fhir-kit-client answers an empty body with `{}`.
    if (isObject(result) && Object.keys(result).length === 0) throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${o.base.origin} answered ${what} with an empty body, not a FHIR resource`);
    return plain(result);
  };
  return {
    search: (resourceType, params, what) => call(what, () => client.search({ resourceType, searchParams: { ...params }, options })),
    read: (resourceType, id, what) => call(what, () => client.read({ resourceType, id, options })),
    get: (url, what) => call(what, () => client.request(url.href, { options })),
    close: () => agent.destroy().catch(() => undefined),
  };
}
