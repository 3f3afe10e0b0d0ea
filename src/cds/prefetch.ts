/**
 * Getting the data a CDS call needs: from prefetch, or from the EHR's FHIR server, per CDS Hooks 2.0
 * ({@link https://cds-hooks.hl7.org/2.0/#prefetch-data | Prefetch Data},
 * {@link https://cds-hooks.hl7.org/2.0/#fhir-resource-access | FHIR Resource Access}).
 *
 * For each prefetch key (`observations`; `patient` only when the site uses sex-specific URLs, the only
 * time the Patient bears on the decision):
 *
 * - key present with a Bundle: its entries are the data; a `link[rel=next]` is followed on `fhirServer`
 *   (under that base only, with `fhirAuthorization` as Bearer), and without a `fhirServer` the data are
 *   incomplete: 412;
 * - key present and `null`: there are no such data;
 * - key present with an `OperationOutcome`: the EHR could not get them; they are pulled from
 *   `fhirServer`, and without one: 412 naming the key and quoting the outcome;
 * - key absent: pulled from `fhirServer` (src/fhir/pull.ts, one search followed through its pages);
 *   without one: 412.
 *
 * The FHIR server is read only when it is one the calling client may name (`cdsClients[].fhirServers`),
 * through one FHIR session (src/fhir/session.ts: allow-list, no redirects, time bound, size limits).
 *
 * Every failure is a coded TnpError: 412 when the data cannot be had (`TNP_ERR_DATA_UNAVAILABLE`;
 * `TNP_ERR_FHIR_SERVER_NOT_ALLOWED`; `TNP_ERR_FHIR_UNAVAILABLE`, whose `cause` says what the FHIR server
 * did), 400 (`TNP_ERR_PREFETCH_INVALID`) when a prefetch value is not what its template asks for. The
 * access token is passed on to the FHIR session only; it is never logged nor put in an error.
 */
import { TnpError } from '../errors.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import { operationOutcomeText } from '../fhir/http.js';
import { bundleEntryResources, bundleIncompleteText, nextLink } from '../fhir/paging.js';
import { pullPathwayData } from '../fhir/pull.js';
import { subjectPatientId } from '../fhir/resource-fields.js';
import type { Timers } from '../util/timers.js';
import type { CdsPatientViewRequest } from './types.js';
import { isObject } from '../util/guards.js';

/** The prefetch key of the Observations the pathway reads. */
export const OBSERVATIONS_KEY = 'observations';
/** The prefetch key of the Patient (declared only when sex-specific URLs are on). */
export const PATIENT_KEY = 'patient';

/** Where a kind of data came from, for the audit record. */
export type DataSource = 'prefetch' | 'prefetch-paged' | 'prefetch-null' | 'fhir-pull' | 'not-needed';

export interface GatheredData {
  readonly resources: readonly unknown[];
  readonly sources: { readonly observations: DataSource; readonly patient: DataSource };
  /** Resources left out because they are about another patient than `context.patientId`. */
  readonly excluded: readonly { readonly ref: string; readonly reason: string }[];
  /** HTTP requests sent to the FHIR server. */
  readonly fhirRequests: number;
}

export interface GatherOptions {
  readonly runtime: PathwayRuntime;
  /** True when the Patient bears on the decision (sex-specific URLs). */
  readonly needPatient: boolean;
  readonly timeoutMs: number;
  /** The FHIR server bases the calling client may name (`cdsClients[].fhirServers`); none: no FHIR pull. */
  readonly fhirServers: readonly string[];
  /** The timers of the FHIR pull's time bound. */
  readonly timers: Timers;
  /** Told of each FHIR pull (for metrics): its duration and, when it failed, the error. */
  readonly onPull?: (ms: number, error: TnpError | null) => void;
}

type Json = Record<string, unknown>;

/** Every coding the pathway reads an Observation by (troponin assays, ECG, TIMI, chest-pain onset), sorted. */
export function pathwayObservationCodes(runtime: PathwayRuntime): { system: string; code: string }[] {
  const keys = new Set<string>([...runtime.codeMaps.assayByCoding.keys(), ...runtime.codeMaps.ecgCodes, ...runtime.codeMaps.timiCodes, ...runtime.codeMaps.onsetCodes]);
  return [...keys].sort().map((k) => {
    const bar = k.lastIndexOf('|');
    return { system: k.slice(0, bar), code: k.slice(bar + 1) };
  });
}

/** Escapes a token search value part (FHIR search: `\`, `|`, `,` and `$`). */
function escapeSearchValue(v: string): string {
  return v.replace(/[\\|,$]/g, (c) => `\\${c}`);
}

/**
 * The prefetch templates of the discovery document (CDS Hooks 2.0: a relative FHIR search with
 * `{{context.patientId}}`, token parameters by equality, `_count`).
 */
export function prefetchTemplates(runtime: PathwayRuntime, needPatient: boolean): Record<string, string> {
  const code = pathwayObservationCodes(runtime)
    .map((c) => `${escapeSearchValue(c.system)}|${escapeSearchValue(c.code)}`)
    .join(',');
  return {
    ...(needPatient ? { [PATIENT_KEY]: 'Patient/{{context.patientId}}' } : {}),
    [OBSERVATIONS_KEY]: `Observation?patient={{context.patientId}}&code=${code}&_count=100`,
  };
}

type KeyState =
  | { readonly kind: 'absent' }
  | { readonly kind: 'null' }
  /** The EHR could not get the data: the key is an OperationOutcome, or a Bundle whose OperationOutcome says its results are not whole. */
  | { readonly kind: 'failed'; readonly text: string; readonly said: string }
  | { readonly kind: 'data'; readonly resources: unknown[]; readonly bundle: Json | null; readonly next: string | null };

function outcomeText(oo: Json): string {
  return operationOutcomeText(oo) ?? 'no details given';
}

function bundleResources(bundle: Json, key: string): unknown[] {
  const resources = bundleEntryResources(bundle);
  if (resources === null) throw new TnpError('TNP_ERR_PREFETCH_INVALID', `prefetch "${key}": Bundle.entry is not an array`, { expression: [`prefetch.${key}.entry`] });
  return resources;
}

function readKey(prefetch: Readonly<Record<string, unknown>> | null | undefined, key: string, expect: 'Bundle' | 'Patient'): KeyState {
  if (prefetch === null || prefetch === undefined || !Object.prototype.hasOwnProperty.call(prefetch, key)) return { kind: 'absent' };
  const v = prefetch[key];
  if (v === null) return { kind: 'null' };
  if (!isObject(v) || typeof v['resourceType'] !== 'string') {
    throw new TnpError('TNP_ERR_PREFETCH_INVALID', `prefetch "${key}" is not a FHIR resource (expected ${expect === 'Bundle' ? 'a searchset Bundle' : 'a Patient'}, null or an OperationOutcome)`, { expression: [`prefetch.${key}`] });
  }
  if (v['resourceType'] === 'OperationOutcome') return { kind: 'failed', text: outcomeText(v), said: 'is an OperationOutcome' };
  if (v['resourceType'] === 'Bundle') {
    const resources = bundleResources(v, key);
    const incomplete = bundleIncompleteText(v);
    if (incomplete !== null) return { kind: 'failed', text: incomplete, said: 'is a Bundle whose OperationOutcome says its results are not whole' };
    return { kind: 'data', resources, bundle: v, next: nextLink(v) };
  }
  if (expect === 'Patient' && v['resourceType'] === 'Patient') return { kind: 'data', resources: [v], bundle: null, next: null };
  throw new TnpError('TNP_ERR_PREFETCH_INVALID', `prefetch "${key}" is a ${String(v['resourceType']).slice(0, 64)}, not ${expect === 'Bundle' ? 'a Bundle' : 'a Patient'}, null or an OperationOutcome`, { expression: [`prefetch.${key}`] });
}

/**
 * What the EHR is told when its FHIR server could not be read. A refusal of the `fhirServer` itself
 * (not allowed for this client; nothing was sent) says why. Anything the far side did (refused the
 * token, failed, redirected, timed out, sent too much, could not be reached) gets one answer that says
 * in general terms what could not be had, never what the server answered, how, or how fast: otherwise
 * the answers would let a caller map what listens where. The detail is the `cause` (for the log and the
 * audit record), with the access token and the patient id blanked out of its message.
 */
export function publicFhirError(err: TnpError, wanted: readonly string[], secrets: readonly (string | null)[]): TnpError {
  if (err.code === 'TNP_ERR_FHIR_SERVER_NOT_ALLOWED') return err;
  let detail = err.message;
  for (const s of secrets) if (s !== null && s.length >= 4) detail = detail.split(s).join('[redacted]');
  const what = wanted.length === 0 ? 'the data the pathway requires' : `the data the pathway requires (${wanted.join(' and ')})`;
  return new TnpError('TNP_ERR_FHIR_UNAVAILABLE', `${what} could not be obtained: the FHIR server could not be queried. What it answered is in the service log and in this call's audit record.`, {
    expression: ['fhirServer'],
    cause: new TnpError(err.code, detail),
  });
}

function refOf(r: Json, i: number): string {
  return typeof r['id'] === 'string' && typeof r['resourceType'] === 'string' ? `${r['resourceType']}/${r['id'].slice(0, 64)}` : `input #${i + 1}`;
}

/**
 * Gathers the resources for one `patient-view` call.
 *
 * @throws TnpError 412 (`TNP_ERR_DATA_UNAVAILABLE`, `TNP_ERR_FHIR_*`) when required data cannot be had;
 *   400 (`TNP_ERR_PREFETCH_INVALID`) when a prefetch value is malformed.
 */
export async function gatherData(req: CdsPatientViewRequest, opts: GatherOptions): Promise<GatheredData> {
  const patientId = req.context.patientId;
  const obs = readKey(req.prefetch, OBSERVATIONS_KEY, 'Bundle');
  const pat: KeyState = opts.needPatient ? readKey(req.prefetch, PATIENT_KEY, 'Patient') : { kind: 'null' };

  const server = typeof req.fhirServer === 'string' && req.fhirServer !== '' ? req.fhirServer : null;
  const token = req.fhirAuthorization?.access_token ?? null;
  const problems: string[] = [];
  const pullObservations = obs.kind === 'absent' || obs.kind === 'failed';
  const pullPatient = pat.kind === 'absent' || pat.kind === 'failed';
  if (server === null) {
    if (obs.kind === 'absent') problems.push(`no prefetch "${OBSERVATIONS_KEY}"`);
    if (obs.kind === 'failed') problems.push(`prefetch "${OBSERVATIONS_KEY}" ${obs.said} (${obs.text})`);
    if (obs.kind === 'data' && obs.next !== null) problems.push(`prefetch "${OBSERVATIONS_KEY}" has further pages (link next)`);
    if (pat.kind === 'absent') problems.push(`no prefetch "${PATIENT_KEY}" (needed: sex-specific URLs are on)`);
    if (pat.kind === 'failed') problems.push(`prefetch "${PATIENT_KEY}" ${pat.said} (${pat.text})`);
    if (problems.length > 0) {
      throw new TnpError('TNP_ERR_DATA_UNAVAILABLE', `the data the pathway requires could not be obtained: ${problems.join('; ')}, and there is no fhirServer to ask`, {
        expression: [`prefetch.${problems[0]?.includes(PATIENT_KEY) === true ? PATIENT_KEY : OBSERVATIONS_KEY}`],
      });
    }
  }

  let fhirRequests = 0;
  const resources: unknown[] = [];
  let obsSource: DataSource = obs.kind === 'null' ? 'prefetch-null' : 'prefetch';
  let patSource: DataSource = !opts.needPatient ? 'not-needed' : pat.kind === 'null' ? 'prefetch-null' : 'prefetch';

  const pagePrefetch = obs.kind === 'data' && obs.next !== null && obs.bundle !== null ? obs.bundle : null;
  if (obs.kind === 'data') resources.push(...obs.resources);
  if (server !== null && (pullObservations || pullPatient || pagePrefetch !== null)) {
    const started = performance.now();
    try {
      const pulled = await pullPathwayData({
        fhirServer: server,
        allowedServers: opts.fhirServers,
        accessToken: token,
        patientId,
        observationCodes: pullObservations ? pathwayObservationCodes(opts.runtime) : [],
        ...(pagePrefetch === null ? {} : { prefetchPages: { bundle: pagePrefetch, key: OBSERVATIONS_KEY } }),
        includePatient: pullPatient,
        timeoutMs: opts.timeoutMs,
        timers: opts.timers,
      });
      opts.onPull?.(performance.now() - started, null);
      fhirRequests += pulled.requests;
      resources.push(...pulled.resources);
      if (pullObservations) obsSource = 'fhir-pull';
      if (pagePrefetch !== null) obsSource = 'prefetch-paged';
      if (pullPatient) patSource = 'fhir-pull';
    } catch (e) {
      const err = e instanceof TnpError ? e : new TnpError('TNP_ERR_FHIR_FAILED', 'the FHIR pull failed', { cause: e });
      opts.onPull?.(performance.now() - started, err);
      const wanted = [pullObservations ? 'the Observations' : null, pagePrefetch !== null ? `the further pages of prefetch "${OBSERVATIONS_KEY}"` : null, pullPatient ? 'the Patient' : null].filter((w): w is string => w !== null);
      throw publicFhirError(err, wanted, [token, patientId]);
    }
  }
  if (pat.kind === 'data') resources.push(...pat.resources);

  // Only this patient's data: a resource naming another patient is left out (and audited as such).
  const kept: unknown[] = [];
  const excluded: { ref: string; reason: string }[] = [];
  resources.forEach((r, i) => {
    if (!isObject(r)) return;
    const other = r['resourceType'] === 'Patient' ? (typeof r['id'] === 'string' && r['id'] !== patientId ? r['id'] : null) : subjectPatientId(r);
    if (other !== null && other !== patientId) excluded.push({ ref: refOf(r, i), reason: 'about another patient than context.patientId' });
    else kept.push(r);
  });
  return { resources: kept, sources: { observations: obsSource, patient: patSource }, excluded, fhirRequests };
}
