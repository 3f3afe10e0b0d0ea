/**
 * Pulls the pathway's data from the EHR's FHIR server when the CDS client did not prefetch them (or
 * prefetched only the first page).
 *
 * CDS Hooks 2.0 lets a service query `fhirServer` with `Authorization: Bearer
 * <fhirAuthorization.access_token>` when prefetch is missing, and requires 412 when the data can be had
 * neither way ({@link https://cds-hooks.hl7.org/2.0/#fhir-resource-access | FHIR Resource Access},
 * {@link https://cds-hooks.hl7.org/2.0/#prefetch-data | Prefetch Data}). Everything goes through one
 * FHIR session (src/fhir/session.ts: the client's allow-list, no redirects, the time bound, the size
 * limits; the HTTP is fhir-kit-client's `search` and `read`, src/fhir/http.ts) and one paging helper
 * (src/fhir/paging.ts). Every failure is a coded `TNP_ERR_FHIR_*` error
 * with HTTP status 412 and a message naming what failed, for the log and the audit record.
 *
 * The access token is transient: it is sent to the allowed `fhirServer` base only, never logged and
 * never put in an error.
 */
import { TnpError } from '../errors.js';
import type { Timers } from '../util/timers.js';
import { describeResource, followPages } from './paging.js';
import { withFhirSession, type FhirLimits, type FhirSession } from './session.js';

export interface PullRequest {
  /** `fhirServer` of the CDS request: the FHIR base URL. */
  fhirServer: string;
  /** The FHIR server bases the calling client may name (`cdsClients[].fhirServers`). */
  allowedServers: readonly string[];
  /** `fhirAuthorization.access_token`, or null to send no Authorization header. */
  accessToken: string | null;
  /** `context.patientId`. */
  patientId: string;
  /** FHIR search for the Observations: token params as system|code (none: no search). */
  observationCodes: { system: string; code: string }[];
  /**
   * A prefetch Bundle whose further pages are to be read (instead of a search), with the prefetch key
   * for messages.
   */
  prefetchPages?: { readonly bundle: Record<string, unknown>; readonly key: string };
  /** Also read `Patient/<patientId>` (needed for sex-specific URLs). */
  includePatient: boolean;
  /** The whole pull (every request and page) is bounded by this. */
  timeoutMs: number;
  /** The timers of the time bound (default: the real ones). */
  timers: Timers;
  /** Default: FHIR_LIMITS. */
  limits?: FhirLimits;
}

export interface PullResult {
  /** The Observations of every page, then the Patient when asked for. */
  resources: unknown[];
  /** HTTP requests sent. */
  requests: number;
}

/** Entries asked for per search page. */
export const PULL_PAGE_COUNT = 100;

/** FHIR `id` (R4 datatype). */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** Escapes a token search value part (FHIR search: `\`, `|`, `,` and `$` are escaped with `\`). */
function escapeSearchValue(v: string): string {
  return v.replace(/[\\|,$]/g, (c) => `\\${c}`);
}

async function searchObservations(s: FhirSession, req: PullRequest): Promise<unknown[]> {
  if (req.prefetchPages !== undefined) {
    return followPages(s, req.prefetchPages.bundle, { what: `prefetch "${req.prefetchPages.key}"`, includeFirst: false });
  }
  if (req.observationCodes.length === 0) return [];
  const code = req.observationCodes.map((c) => `${escapeSearchValue(c.system)}|${escapeSearchValue(c.code)}`).join(',');
  const what = 'the Observation search';
  const first = await s.search('Observation', { patient: req.patientId, code, _count: String(PULL_PAGE_COUNT) }, what);
  return followPages(s, first, { what, includeFirst: true });
}

async function readPatient(s: FhirSession, req: PullRequest): Promise<unknown[]> {
  if (!req.includePatient) return [];
  const patient = await s.read('Patient', req.patientId, 'the Patient read');
  if (patient['resourceType'] !== 'Patient') {
    throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${s.base.origin} answered the Patient read with ${describeResource(patient)}, not a Patient`);
  }
  return [patient];
}

/**
 * Pulls the Observations with the given codes for one patient (or the further pages of a prefetch
 * Bundle), and the Patient when asked, with as few requests as FHIR search allows: one
 * `Observation?patient=<id>&code=<sys>|<a>,<sys>|<b>&_count=100` search followed through its
 * `link[rel=next]` pages, and, in parallel, one `Patient/<id>` read.
 *
 * @param req - The server, the client's allowed servers, token, patient, codes, time bound and timers.
 * @returns The resources gathered and the number of HTTP requests sent.
 * @throws TnpError (status 412) `TNP_ERR_FHIR_SERVER_NOT_ALLOWED` (nothing sent) when `fhirServer` is not
 *   under a base the client may name; `TNP_ERR_FHIR_UNAUTHORIZED` on 401/403; `TNP_ERR_FHIR_TIMEOUT`
 *   when the whole pull exceeds `timeoutMs` (the requests in flight are aborted and late answers
 *   ignored); `TNP_ERR_FHIR_FOREIGN_LINK` when a next link leaves `fhirServer` (not followed);
 *   `TNP_ERR_FHIR_LIMIT_EXCEEDED` past a page, resource or body-size limit; `TNP_ERR_FHIR_FAILED` on any
 *   other failure (a redirect, an error status, an unreachable server, a body that is not the expected
 *   FHIR resource, a paging loop, a patient id that is not a FHIR id).
 */
export async function pullPathwayData(req: PullRequest): Promise<PullResult> {
  if (!FHIR_ID.test(req.patientId)) throw new TnpError('TNP_ERR_FHIR_FAILED', 'the patient id is not a FHIR id, so the data could not be pulled');
  const { value, requests } = await withFhirSession(
    { fhirServer: req.fhirServer, allowedServers: req.allowedServers, accessToken: req.accessToken, timeoutMs: req.timeoutMs, timers: req.timers, ...(req.limits === undefined ? {} : { limits: req.limits }) },
    (s) => Promise.all([searchObservations(s, req), readPatient(s, req)]),
  );
  const [observations, patient] = value;
  return { resources: [...observations, ...patient], requests };
}
