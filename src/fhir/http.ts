/**
 * One GET of FHIR JSON from a FHIR server, with the guards every request of the pull needs: redirects
 * are never followed (a 3xx is a failure: its target gets no connection, the access token goes nowhere
 * else), and a response body is read as a stream and abandoned past a byte limit (never buffered
 * whole). Node's own `fetch` (undici) does the HTTP.
 *
 * Every failure is a coded `TnpError` (412) whose message says what the far side answered, for the log
 * and the audit record; the CDS answer itself only says that the server could not be queried
 * (src/cds/prefetch.ts). The access token is never put in an error.
 */
import { TnpError } from '../errors.js';
import { auditableFhirUrl } from './allow-list.js';

export interface FhirGet {
  readonly url: URL;
  /** The request, for messages: "the Observation search (page 2)". */
  readonly what: string;
  /** The server's origin, for messages. */
  readonly origin: string;
  /** Sent as `Authorization: Bearer <token>` when not null. */
  readonly accessToken: string | null;
  readonly signal: AbortSignal;
  /** The largest body read, in bytes (decoded); past it the request fails. */
  readonly maxBytes: number;
}

type Json = Record<string, unknown>;

const MAX_OUTCOME_TEXT = 500;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The readable text of an OperationOutcome (details.text, else diagnostics, else code), short and on one line. */
export function operationOutcomeText(body: unknown): string | null {
  if (!isRecord(body) || body['resourceType'] !== 'OperationOutcome' || !Array.isArray(body['issue'])) return null;
  const parts: string[] = [];
  for (const issue of body['issue'] as unknown[]) {
    if (!isRecord(issue)) continue;
    const details = issue['details'];
    const text = isRecord(details) && typeof details['text'] === 'string' ? details['text'] : typeof issue['diagnostics'] === 'string' ? issue['diagnostics'] : typeof issue['code'] === 'string' ? issue['code'] : null;
    if (text !== null && text.trim() !== '') parts.push(text.trim());
  }
  if (parts.length === 0) return null;
  // Control characters (log and header injection) become spaces.
  const joined = [...parts.join('; ')].map((ch) => (ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? ' ' : ch)).join('');
  return joined.length > MAX_OUTCOME_TEXT ? `${joined.slice(0, MAX_OUTCOME_TEXT)}…` : joined;
}

/** The most specific reason a network failure gives (e.g. `ECONNREFUSED`), without URLs or headers. */
function networkReason(e: unknown): string {
  let cur: unknown = e;
  for (let depth = 0; depth < 4 && isRecord(cur); depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const next = (cur as { cause?: unknown }).cause;
    if (next === undefined) break;
    cur = next;
  }
  return e instanceof Error && e.message !== '' ? e.message.slice(0, 200) : 'network error';
}

function tooLarge(g: FhirGet): TnpError {
  return new TnpError('TNP_ERR_FHIR_LIMIT_EXCEEDED', `the FHIR server ${g.origin} answered ${g.what} with a body larger than ${g.maxBytes} bytes; reading stopped there, so the record could not be completely obtained`);
}

/** Reads the body as a stream, at most `maxBytes`; cancels the stream (and so the connection) past it. */
async function readBounded(res: Response, g: FhirGet): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > g.maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(g);
  }
  if (res.body === null) return '';
  const reader = res.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > g.maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(g);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/**
 * GETs `g.url` and returns its JSON.
 *
 * @throws TnpError (412): `TNP_ERR_FHIR_UNAUTHORIZED` on 401/403; `TNP_ERR_FHIR_LIMIT_EXCEEDED` on a body
 *   over `maxBytes`; `TNP_ERR_FHIR_FAILED` on a redirect (not followed), any other status that is not
 *   2xx (quoting the server's OperationOutcome), a body that is not JSON, or a server that cannot be
 *   reached. When `g.signal` aborts, the abort's error is thrown as it is (the caller names it).
 */
export async function getFhirJson(g: FhirGet): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/fhir+json' };
  if (g.accessToken !== null) headers['authorization'] = `Bearer ${g.accessToken}`;
  let res: Response;
  try {
    res = await fetch(g.url, { method: 'GET', headers, redirect: 'manual', signal: g.signal });
  } catch (e) {
    if (g.signal.aborted) throw e;
    throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${g.origin} could not be reached for ${g.what} (${networkReason(e)})`, { cause: e });
  }
  const { status } = res;
  if (status >= 300 && status < 400) {
    await res.body?.cancel().catch(() => undefined);
    const location = res.headers.get('location');
    let target = '';
    if (location !== null) {
      try {
        target = ` to ${auditableFhirUrl(new URL(location, g.url).href) ?? '(not a URL)'}`;
      } catch {
        target = ' to (not a URL)';
      }
    }
    throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${g.origin} answered ${g.what} with HTTP ${status}, a redirect${target}; redirects are not followed`);
  }
  const text = await readBounded(res, g);
  const body = parseJson(text);
  if (status === 401 || status === 403) {
    const said = body.ok ? operationOutcomeText(body.value) : null;
    throw new TnpError('TNP_ERR_FHIR_UNAUTHORIZED', `the FHIR server ${g.origin} refused the access token (HTTP ${status}) for ${g.what}${said !== null ? `: ${said}` : ''}`);
  }
  if (status < 200 || status >= 300) {
    const said = body.ok ? operationOutcomeText(body.value) : null;
    throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${g.origin} answered HTTP ${status} to ${g.what}${said !== null ? `: ${said}` : ''}`);
  }
  if (!body.ok || text === '') throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${g.origin} answered ${g.what} with a body that is not JSON`);
  return body.value;
}
