/**
 * A FHIR session: every request one CDS call sends to its `fhirServer`, under one set of guards.
 *
 * - The server must be allowed for the calling client (src/fhir/allow-list.ts); otherwise nothing is
 *   sent at all (`TNP_ERR_FHIR_SERVER_NOT_ALLOWED`).
 * - Every request goes to that base or below it, on its origin (a link elsewhere is refused before any
 *   request, so the access token goes nowhere else), and never follows a redirect.
 * - The requests go through one fhir-kit-client client and one connection pool of its own, whose
 *   response bodies are bounded (src/fhir/http.ts); the pool is closed when the session ends, so no
 *   connection outlives it.
 * - The whole session is bounded by `timeoutMs` (`fhirPullTimeoutMs`), on the injected timers: when it
 *   fires, the requests in flight are aborted and late answers ignored.
 * - Response bodies, pages and resources are bounded by {@link FHIR_LIMITS}; past a limit the session
 *   fails (the record could not be completely obtained, so it is never evaluated as if complete).
 *
 * Both ways a call reads its FHIR server use it: the pull (src/fhir/pull.ts) and the paging of a
 * prefetch Bundle; paging itself is src/fhir/paging.ts.
 */
import { TnpError } from '../errors.js';
import type { Timers } from '../util/timers.js';
import { allowedFhirBase, baseHref, isUnderBase, parseFhirUrl, urlTextProblem, type FhirBase } from './allow-list.js';
import { openFhirHttp, type FhirHttp } from './http.js';
import { isObject } from '../util/guards.js';

export interface FhirLimits {
  /** Search pages read at most (a prefetch Bundle counts as page 1). */
  readonly maxPages: number;
  /** Resources taken from the pages of one search at most. */
  readonly maxResources: number;
  /** Bytes read of one response body at most (decoded). */
  readonly maxBodyBytes: number;
}

/**
 * The bounds of one FHIR session. An episode's Observations are a few tens of resources on one page of
 * a few tens of KB; a patient's whole history of the pathway's codes rarely reaches a thousand.
 */
export const FHIR_LIMITS: FhirLimits = Object.freeze({ maxPages: 50, maxResources: 5000, maxBodyBytes: 5 * 1024 * 1024 });

export interface FhirSessionOptions {
  /** `fhirServer` of the CDS call, as sent. */
  readonly fhirServer: string;
  /** The FHIR server bases the calling client may name (`cdsClients[].fhirServers`). */
  readonly allowedServers: readonly string[];
  /** `fhirAuthorization.access_token`, or null to send no Authorization header. */
  readonly accessToken: string | null;
  /** The whole session (every request and page) is bounded by this. */
  readonly timeoutMs: number;
  readonly timers: Timers;
  readonly limits?: FhirLimits;
}

type Json = Record<string, unknown>;

export interface FhirSession {
  /** The base every request stays under. */
  readonly base: FhirBase;
  readonly limits: FhirLimits;
  /** A search under the base (`search('Observation', { patient: 'p1' }, what)`); the answer must be a JSON object. */
  search(resourceType: string, params: Readonly<Record<string, string>>, what: string): Promise<Json>;
  /** A read under the base (`read('Patient', 'p1', what)`); the answer must be a JSON object. */
  read(resourceType: string, id: string, what: string): Promise<Json>;
  /** Resolves a link the server gave (absolute, or relative to the base); refuses one outside the base. */
  link(text: string, what: string): URL;
  /** GETs a URL {@link link} returned; the answer must be a JSON object. */
  get(url: URL, what: string): Promise<Json>;
}

class SessionTimeout extends Error {
  constructor() {
    super('FHIR pull timed out');
    this.name = 'SessionTimeout';
  }
}

/**
 * Opens a session on the call's `fhirServer`, runs `run` in it and closes it (aborting whatever is
 * still in flight).
 *
 * @returns What `run` returned and the number of HTTP requests sent.
 * @throws TnpError (412) `TNP_ERR_FHIR_SERVER_NOT_ALLOWED` before any connection when the server is not
 *   allowed for the client; `TNP_ERR_FHIR_TIMEOUT` when the session outlives `timeoutMs`; whatever
 *   `run` and the requests threw otherwise (`TNP_ERR_FHIR_*`, all 412).
 */
export async function withFhirSession<T>(opts: FhirSessionOptions, run: (session: FhirSession) => Promise<T>): Promise<{ value: T; requests: number }> {
  const allowed = allowedFhirBase(opts.fhirServer, opts.allowedServers);
  if (!allowed.ok) throw new TnpError('TNP_ERR_FHIR_SERVER_NOT_ALLOWED', allowed.reason, { expression: ['fhirServer'] });
  const base = allowed.base;
  const limits = opts.limits ?? FHIR_LIMITS;
  const controller = new AbortController();
  let requests = 0;
  let timedOut = false;
  /** The requests in flight, named, for the timeout message. */
  const pending = new Set<string>();
  const timeoutError = (what: string): TnpError =>
    new TnpError('TNP_ERR_FHIR_TIMEOUT', `the FHIR server ${base.origin} did not answer ${what} within ${opts.timeoutMs} ms (fhirPullTimeoutMs); the pull was abandoned`);

  // One client and one connection pool for the whole session, closed with it (src/fhir/http.ts).
  const http: FhirHttp = openFhirHttp({ base, accessToken: opts.accessToken, signal: controller.signal, maxBytes: limits.maxBodyBytes });

  /** One request: counted, named while in flight, its answer a JSON object. */
  const send = async (what: string, request: () => Promise<unknown>): Promise<Json> => {
    if (controller.signal.aborted) throw new SessionTimeout();
    requests += 1;
    pending.add(what);
    try {
      const body = await request();
      if (!isObject(body)) throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${base.origin} answered ${what} with JSON that is not a FHIR resource`);
      return body;
    } catch (e) {
      if (timedOut) throw timeoutError(what);
      throw e;
    } finally {
      pending.delete(what);
    }
  };

  const session: FhirSession = {
    base,
    limits,
    link(text, what) {
      const problem = urlTextProblem(text);
      if (problem !== null) throw new TnpError('TNP_ERR_FHIR_FOREIGN_LINK', `the FHIR server ${base.origin} gave a next-page link that ${problem} in ${what}; it was not followed`);
      let resolved: URL;
      try {
        resolved = new URL(text, `${baseHref(base)}/`);
      } catch (cause) {
        throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${base.origin} gave a next-page link that is not a URL (${what})`, { cause });
      }
      const parsed = parseFhirUrl(resolved.href);
      if (!parsed.ok || parsed.base.origin !== base.origin) {
        throw new TnpError('TNP_ERR_FHIR_FOREIGN_LINK', `the FHIR server ${base.origin} gave a next-page link to another origin (${parsed.ok ? parsed.base.origin : resolved.origin}) in ${what}; it was not followed, so the access token was not sent there`);
      }
      if (!isUnderBase(base, parsed.base)) {
        throw new TnpError('TNP_ERR_FHIR_FOREIGN_LINK', `the FHIR server ${base.origin} gave a next-page link outside fhirServer (to ${parsed.base.path === '' ? '/' : parsed.base.path}, not under ${baseHref(base)}) in ${what}; it was not followed`);
      }
      // The request goes to the base's origin as normalised (host without a trailing dot, no default port).
      return new URL(`${base.origin}${resolved.pathname}${resolved.search}`);
    },
    search: (resourceType, params, what) => send(what, () => http.search(resourceType, params, what)),
    read: (resourceType, id, what) => send(what, () => http.read(resourceType, id, what)),
    get: (url, what) => send(what, () => http.get(url, what)),
  };

  let cancelTimer: () => void = () => undefined;
  const timeout = new Promise<never>((_, reject) => {
    cancelTimer = opts.timers.after(opts.timeoutMs, () => {
      timedOut = true;
      const err = timeoutError(pending.size > 0 ? [...pending].join(' and ') : 'the pull');
      reject(err);
      controller.abort(err);
    });
  });
  try {
    // Racing the timer returns on time even if a request ignored the abort; its late answer is dropped.
    const value = await Promise.race([run(session), timeout]);
    return { value, requests };
  } catch (e) {
    if (e instanceof TnpError) throw e;
    if (timedOut || e instanceof SessionTimeout) throw timeoutError('the pull');
    // Not the error itself: only coded errors, which carry no request, leave the session.
    throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${base.origin} could not be queried (${e instanceof Error ? e.name : 'a failure'})`);
  } finally {
    cancelTimer();
    // Cancels whatever is still in flight (a sibling request after a failure), then closes the
    // session's connections: none outlives it.
    if (!controller.signal.aborted) controller.abort(new SessionTimeout());
    await http.close();
  }
}
