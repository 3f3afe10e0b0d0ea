/**
 * Pulls the pathway's data from the EHR's FHIR server when the CDS client did not prefetch it.
 *
 * CDS Hooks 2.0 lets a service query `fhirServer` with `Authorization: Bearer
 * <fhirAuthorization.access_token>` when prefetch is missing, and requires 412 when the data can be had
 * neither way ({@link https://cds-hooks.hl7.org/2.0/#fhir-resource-access | FHIR Resource Access},
 * {@link https://cds-hooks.hl7.org/2.0/#prefetch-data | Prefetch Data}). Every failure here is a coded
 * `TNP_ERR_FHIR_*` error with HTTP status 412 and a message naming what failed.
 *
 * The access token is transient: it is sent to `fhirServer`'s origin only (a next-page link to another
 * origin is refused before any request), never logged and never put in an error. fhir-kit-client's
 * debug logging (the `DEBUG=fhir-kit-client:*` namespaces, which print request headers and bodies) is
 * never enabled by this product.
 */
import { Client, type FhirResource } from 'fhir-kit-client';
import { TnpError, type ErrorCode } from '../errors.js';

export interface PullRequest {
  /** `fhirServer` of the CDS request: the FHIR base URL. */
  fhirServer: string;
  /** `fhirAuthorization.access_token`, or null to send no Authorization header. */
  accessToken: string | null;
  /** `context.patientId`. */
  patientId: string;
  /** FHIR search for the Observations: token params as system|code */
  observationCodes: { system: string; code: string }[];
  /** Also read `Patient/<patientId>` (needed for sex-specific URLs). */
  includePatient: boolean;
  /** The whole pull (every request and page) is bounded by this. */
  timeoutMs: number;
}

export interface PullResult {
  /** The Observations of every page (deduplicated by id), then the Patient when asked for. */
  resources: unknown[];
  /** HTTP requests sent. */
  requests: number;
}

/** Entries asked for per search page. */
export const PULL_PAGE_COUNT = 100;
/** Pages followed at most; a search needing more is refused (it would be a loop or a runaway result). */
export const PULL_MAX_PAGES = 50;

/** FHIR `id` (R4 datatype). */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const MAX_OUTCOME_TEXT = 500;

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Escapes a token search value part (FHIR search: `\`, `|`, `,` and `$` are escaped with `\`). */
function escapeSearchValue(v: string): string {
  return v.replace(/[\\|,$]/g, (c) => `\\${c}`);
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

/** What fhir-kit-client throws for an HTTP error or a body that is not JSON. */
interface FhirKitHttpError {
  response: { status: number; data: unknown };
}

function isFhirKitHttpError(e: unknown): e is FhirKitHttpError {
  return isRecord(e) && isRecord(e['response']) && typeof e['response']['status'] === 'number';
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
  return e instanceof Error && e.message !== '' ? e.message : 'network error';
}

class PullTimeout extends Error {
  constructor() {
    super('FHIR pull timed out');
    this.name = 'PullTimeout';
  }
}

/**
 * Turns whatever a request threw into a coded error naming the request (`what`) and the server.
 * Coded errors pass through.
 */
function toPullError(e: unknown, what: string, origin: string, timedOut: () => boolean, timeoutMs: number): TnpError {
  if (e instanceof TnpError) return e;
  if (timedOut() || e instanceof PullTimeout) {
    return new TnpError('TNP_ERR_FHIR_TIMEOUT', `the FHIR server ${origin} did not answer ${what} within ${timeoutMs} ms (fhirPullTimeoutMs); the pull was abandoned`, { cause: e });
  }
  if (isFhirKitHttpError(e)) {
    const { status, data } = e.response;
    if (status === 401 || status === 403) {
      const text = operationOutcomeText(data);
      return new TnpError('TNP_ERR_FHIR_UNAUTHORIZED', `the FHIR server ${origin} refused the access token (HTTP ${status}) for ${what}${text !== null ? `: ${text}` : ''}`, { cause: e });
    }
    if (status >= 200 && status < 300) {
      return new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered ${what} with a body that is not JSON`, { cause: e });
    }
    const text = operationOutcomeText(data);
    return new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered HTTP ${status} to ${what}${text !== null ? `: ${text}` : ''}`, { cause: e });
  }
  return new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} could not be reached for ${what} (${networkReason(e)})`, { cause: e });
}

function failed(code: ErrorCode, message: string): TnpError {
  return new TnpError(code, message);
}

/**
 * Pulls the Observations with the given codes for one patient (and the Patient when asked), with as few
 * requests as FHIR search allows: one `Observation?patient=<id>&code=<sys>|<a>,<sys>|<b>&_count=100`
 * search followed through its `link[rel=next]` pages (at most {@link PULL_MAX_PAGES}), and, in parallel,
 * one `Patient/<id>` read.
 *
 * @param req - The server, token, patient, codes and time bound.
 * @returns The resources gathered and the number of HTTP requests sent.
 * @throws TnpError (status 412) `TNP_ERR_FHIR_UNAUTHORIZED` on 401/403; `TNP_ERR_FHIR_TIMEOUT` when the
 *   whole pull exceeds `timeoutMs` (the requests in flight are aborted and late answers ignored);
 *   `TNP_ERR_FHIR_FOREIGN_LINK` when a next link leaves `fhirServer`'s origin (not followed);
 *   `TNP_ERR_FHIR_FAILED` on any other failure (error status, with the server's OperationOutcome text;
 *   unreachable server; a body that is not the expected FHIR resource; too many pages; an unusable
 *   `fhirServer` or patient id). Every error keeps the underlying one as `cause`.
 */
export async function pullPathwayData(req: PullRequest): Promise<PullResult> {
  let base: URL;
  try {
    base = new URL(req.fhirServer);
  } catch (cause) {
    throw new TnpError('TNP_ERR_FHIR_FAILED', 'fhirServer is not a URL, so the data could not be pulled', { cause });
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw failed('TNP_ERR_FHIR_FAILED', `fhirServer must be an http(s) URL, not ${base.protocol}`);
  if (base.username !== '' || base.password !== '') throw failed('TNP_ERR_FHIR_FAILED', 'fhirServer must not carry credentials in its URL');
  if (!FHIR_ID.test(req.patientId)) throw failed('TNP_ERR_FHIR_FAILED', 'the patient id is not a FHIR id, so the data could not be pulled');
  const origin = base.origin;
  const baseUrl = base.href.replace(/\/+$/, '');

  const client = new Client({ baseUrl, ...(req.accessToken !== null ? { bearerToken: req.accessToken } : {}) });
  const controller = new AbortController();
  const options = { signal: controller.signal };
  let requests = 0;
  let timedOut = false;
  const isTimedOut = (): boolean => timedOut;
  /** The requests in flight, named, for the timeout message. */
  const pending = new Set<string>();

  /** One HTTP request through fhir-kit-client, counted and with its errors coded. */
  const call = async (what: string, send: () => Promise<FhirResource>): Promise<Json> => {
    if (controller.signal.aborted) throw new PullTimeout();
    requests += 1;
    pending.add(what);
    try {
      return await send();
    } catch (e) {
      throw toPullError(e, what, origin, isTimedOut, req.timeoutMs);
    } finally {
      pending.delete(what);
    }
  };

  const searchObservations = async (): Promise<unknown[]> => {
    if (req.observationCodes.length === 0) return [];
    const code = req.observationCodes.map((c) => `${escapeSearchValue(c.system)}|${escapeSearchValue(c.code)}`).join(',');
    const found = new Map<string, unknown>();
    const anonymous: unknown[] = [];
    const seenPages = new Set<string>();
    let page = 1;
    let bundle = await call('the Observation search', () =>
      client.search({ resourceType: 'Observation', searchParams: { patient: req.patientId, code, _count: PULL_PAGE_COUNT }, options }),
    );
    for (;;) {
      if (bundle['resourceType'] !== 'Bundle') {
        throw failed('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered the Observation search (page ${page}) with ${describeResource(bundle)}, not a Bundle`);
      }
      for (const entry of Array.isArray(bundle['entry']) ? (bundle['entry'] as unknown[]) : []) {
        if (!isRecord(entry) || !isRecord(entry['resource'])) continue;
        const search = entry['search'];
        if (isRecord(search) && search['mode'] === 'outcome') continue;
        const resource = entry['resource'];
        if (resource['resourceType'] === 'OperationOutcome') continue;
        const key = typeof resource['id'] === 'string' ? `${String(resource['resourceType'])}/${resource['id']}` : null;
        if (key === null) anonymous.push(resource);
        else if (!found.has(key)) found.set(key, resource);
      }
      const next = nextLink(bundle);
      if (next === null) break;
      let nextUrl: URL;
      try {
        nextUrl = new URL(next, `${baseUrl}/`);
      } catch (cause) {
        throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} gave a next-page link that is not a URL (page ${page})`, { cause });
      }
      if (nextUrl.origin !== origin) {
        throw failed(
          'TNP_ERR_FHIR_FOREIGN_LINK',
          `the FHIR server ${origin} gave a next-page link to another origin (${nextUrl.origin}) on page ${page} of the Observation search; it was not followed, so the access token was not sent there`,
        );
      }
      if (seenPages.has(nextUrl.href) || page >= PULL_MAX_PAGES) {
        throw failed('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} kept paging the Observation search (${seenPages.has(nextUrl.href) ? 'a next link repeats' : `more than ${PULL_MAX_PAGES} pages`}); the pull was stopped`);
      }
      seenPages.add(nextUrl.href);
      page += 1;
      bundle = await call(`the Observation search (page ${page})`, () => client.request(nextUrl.href, { options }));
    }
    return [...found.values(), ...anonymous];
  };

  const readPatient = async (): Promise<unknown[]> => {
    if (!req.includePatient) return [];
    const patient = await call('the Patient read', () => client.read({ resourceType: 'Patient', id: req.patientId, options }));
    if (patient['resourceType'] !== 'Patient') {
      throw failed('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered the Patient read with ${describeResource(patient)}, not a Patient`);
    }
    return [patient];
  };

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      const err = toPullError(new PullTimeout(), pending.size > 0 ? [...pending].join(' and ') : 'the pull', origin, isTimedOut, req.timeoutMs);
      reject(err);
      controller.abort(err);
    }, req.timeoutMs);
  });
  try {
    // Racing the timer returns on time even if a request ignored the abort; its late answer is dropped.
    const [observations, patient] = await Promise.race([Promise.all([searchObservations(), readPatient()]), timeout]);
    return { resources: [...observations, ...patient], requests };
  } catch (e) {
    throw toPullError(e, 'the pull', origin, isTimedOut, req.timeoutMs);
  } finally {
    clearTimeout(timer);
    // Cancels whatever is still in flight (a sibling request after a failure).
    if (!controller.signal.aborted) controller.abort(new PullTimeout());
  }
}

function nextLink(bundle: Json): string | null {
  const links = bundle['link'];
  if (!Array.isArray(links)) return null;
  for (const l of links as unknown[]) {
    if (isRecord(l) && l['relation'] === 'next' && typeof l['url'] === 'string' && l['url'] !== '') return l['url'];
  }
  return null;
}

function describeResource(r: Json): string {
  const text = operationOutcomeText(r);
  if (text !== null) return `an OperationOutcome (${text})`;
  return typeof r['resourceType'] === 'string' ? `a ${r['resourceType'].slice(0, 64)}` : 'JSON that is not a FHIR resource';
}
