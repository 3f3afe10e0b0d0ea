/**
 * Getting the data a CDS call needs: from prefetch, or from the EHR's FHIR server, per CDS Hooks 2.0
 * ({@link https://cds-hooks.hl7.org/2.0/#prefetch-data | Prefetch Data},
 * {@link https://cds-hooks.hl7.org/2.0/#fhir-resource-access | FHIR Resource Access}).
 *
 * For each prefetch key (`observations`; `patient` only when the site uses sex-specific URLs, the only
 * time the Patient bears on the decision):
 *
 * - key present with a Bundle: its entries are the data; a `link[rel=next]` is followed on `fhirServer`
 *   (same origin only, with `fhirAuthorization` as Bearer), and without a `fhirServer` the data are
 *   incomplete: 412;
 * - key present and `null`: there are no such data;
 * - key present with an `OperationOutcome`: the EHR could not get them; they are pulled from
 *   `fhirServer`, and without one: 412 naming the key and quoting the outcome;
 * - key absent: pulled from `fhirServer` (src/fhir/pull.ts, one search followed through its pages);
 *   without one: 412.
 *
 * Every failure is a coded TnpError: 412 (`TNP_ERR_DATA_UNAVAILABLE`, `TNP_ERR_FHIR_*`) when the data
 * cannot be had, 400 (`TNP_ERR_PREFETCH_INVALID`) when a prefetch value is not what its template asks for.
 * The access token is passed on to the FHIR client only; it is never logged nor put in an error.
 */
import { Client, type FhirResource } from 'fhir-kit-client';
import { TnpError } from '../errors.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import { operationOutcomeText, PULL_MAX_PAGES, pullPathwayData } from '../fhir/pull.js';
import type { CdsPatientViewRequest } from './types.js';

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
  /** Told of each FHIR pull (for metrics): its duration and, when it failed, the error. */
  readonly onPull?: (ms: number, error: TnpError | null) => void;
}

type Json = Record<string, unknown>;

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Every coding the pathway reads an Observation by (troponin assays, ECG, TIMI), sorted. */
export function pathwayObservationCodes(runtime: PathwayRuntime): { system: string; code: string }[] {
  const keys = new Set<string>([...runtime.codeMaps.assayByCoding.keys(), ...runtime.codeMaps.ecgCodes, ...runtime.codeMaps.timiCodes]);
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
  | { readonly kind: 'failed'; readonly text: string }
  | { readonly kind: 'data'; readonly resources: unknown[]; readonly next: string | null };

function outcomeText(oo: Json): string {
  return operationOutcomeText(oo) ?? 'no details given';
}

function nextLink(bundle: Json): string | null {
  const links = bundle['link'];
  if (!Array.isArray(links)) return null;
  for (const l of links as unknown[]) {
    if (isObject(l) && l['relation'] === 'next' && typeof l['url'] === 'string' && l['url'] !== '') return l['url'];
  }
  return null;
}

function bundleResources(bundle: Json, key: string): unknown[] {
  const entries = bundle['entry'];
  if (entries === undefined) return [];
  if (!Array.isArray(entries)) throw new TnpError('TNP_ERR_PREFETCH_INVALID', `prefetch "${key}": Bundle.entry is not an array`, { expression: [`prefetch.${key}.entry`] });
  const out: unknown[] = [];
  for (const e of entries as unknown[]) {
    if (!isObject(e) || !isObject(e['resource'])) continue;
    const search = e['search'];
    if (isObject(search) && search['mode'] === 'outcome') continue;
    const r = e['resource'];
    if (r['resourceType'] === 'OperationOutcome') continue;
    out.push(r);
  }
  return out;
}

function readKey(prefetch: Readonly<Record<string, unknown>> | null | undefined, key: string, expect: 'Bundle' | 'Patient'): KeyState {
  if (prefetch === null || prefetch === undefined || !Object.prototype.hasOwnProperty.call(prefetch, key)) return { kind: 'absent' };
  const v = prefetch[key];
  if (v === null) return { kind: 'null' };
  if (!isObject(v) || typeof v['resourceType'] !== 'string') {
    throw new TnpError('TNP_ERR_PREFETCH_INVALID', `prefetch "${key}" is not a FHIR resource (expected ${expect === 'Bundle' ? 'a searchset Bundle' : 'a Patient'}, null or an OperationOutcome)`, { expression: [`prefetch.${key}`] });
  }
  if (v['resourceType'] === 'OperationOutcome') return { kind: 'failed', text: outcomeText(v) };
  if (v['resourceType'] === 'Bundle') return { kind: 'data', resources: bundleResources(v, key), next: nextLink(v) };
  if (expect === 'Patient' && v['resourceType'] === 'Patient') return { kind: 'data', resources: [v], next: null };
  throw new TnpError('TNP_ERR_PREFETCH_INVALID', `prefetch "${key}" is a ${String(v['resourceType']).slice(0, 64)}, not ${expect === 'Bundle' ? 'a Bundle' : 'a Patient'}, null or an OperationOutcome`, { expression: [`prefetch.${key}`] });
}

/** fhir-kit-client throws `{ response: { status, data } }` for an HTTP error. */
function httpStatusOf(e: unknown): { status: number; data: unknown } | null {
  if (!isObject(e) || !isObject(e['response']) || typeof e['response']['status'] !== 'number') return null;
  return { status: e['response']['status'], data: e['response']['data'] };
}

/**
 * Follows a prefetch Bundle's `link[rel=next]` pages on `fhirServer`, within `timeoutMs`, never leaving
 * its origin (the access token goes nowhere else). Returns the resources of the further pages.
 */
async function followPages(firstNext: string, fhirServer: string, accessToken: string | null, timeoutMs: number, key: string): Promise<{ resources: unknown[]; requests: number }> {
  let base: URL;
  try {
    base = new URL(fhirServer);
  } catch (cause) {
    throw new TnpError('TNP_ERR_FHIR_FAILED', 'fhirServer is not a URL, so the prefetch pages could not be followed', { cause });
  }
  const origin = base.origin;
  const client = new Client({ baseUrl: base.href.replace(/\/+$/, ''), ...(accessToken !== null ? { bearerToken: accessToken } : {}) });
  const controller = new AbortController();
  const deadline = Date.now() + timeoutMs;
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const resources: unknown[] = [];
  const seen = new Set<string>();
  let requests = 0;
  let next: string | null = firstNext;
  try {
    for (let page = 2; next !== null; page++) {
      let url: URL;
      try {
        url = new URL(next, `${base.href.replace(/\/+$/, '')}/`);
      } catch (cause) {
        throw new TnpError('TNP_ERR_FHIR_FAILED', `prefetch "${key}": the next-page link of page ${page - 1} is not a URL`, { cause });
      }
      if (url.origin !== origin) {
        throw new TnpError('TNP_ERR_FHIR_FOREIGN_LINK', `prefetch "${key}": the next-page link of page ${page - 1} points to another origin (${url.origin}) than fhirServer (${origin}); it was not followed, so the access token was not sent there`);
      }
      if (seen.has(url.href) || page > PULL_MAX_PAGES) {
        throw new TnpError('TNP_ERR_FHIR_FAILED', `prefetch "${key}": the FHIR server ${origin} kept paging (${seen.has(url.href) ? 'a next link repeats' : `more than ${PULL_MAX_PAGES} pages`}); stopped`);
      }
      seen.add(url.href);
      requests += 1;
      let bundle: FhirResource;
      try {
        bundle = await client.request(url.href, { options: { signal: controller.signal } });
      } catch (e) {
        if (controller.signal.aborted || Date.now() >= deadline) {
          throw new TnpError('TNP_ERR_FHIR_TIMEOUT', `the FHIR server ${origin} did not answer page ${page} of prefetch "${key}" within ${timeoutMs} ms (fhirPullTimeoutMs)`, { cause: e });
        }
        const http = httpStatusOf(e);
        if (http !== null && (http.status === 401 || http.status === 403)) {
          const text = operationOutcomeText(http.data);
          throw new TnpError('TNP_ERR_FHIR_UNAUTHORIZED', `the FHIR server ${origin} refused the access token (HTTP ${http.status}) for page ${page} of prefetch "${key}"${text === null ? '' : `: ${text}`}`, { cause: e });
        }
        if (http !== null) {
          const text = operationOutcomeText(http.data);
          throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered HTTP ${http.status} to page ${page} of prefetch "${key}"${text === null ? '' : `: ${text}`}`, { cause: e });
        }
        throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} could not be reached for page ${page} of prefetch "${key}"`, { cause: e });
      }
      const b = bundle as unknown as Json;
      if (b['resourceType'] !== 'Bundle') throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered page ${page} of prefetch "${key}" with something that is not a Bundle`);
      resources.push(...bundleResources(b, key));
      next = nextLink(b);
    }
  } finally {
    clearTimeout(timer);
  }
  return { resources, requests };
}

/** The patient id a `subject` reference names (last segment of `Patient/<id>`), or null when it names none. */
function subjectPatientId(r: Json): string | null {
  const s = r['subject'];
  if (!isObject(s) || typeof s['reference'] !== 'string') return null;
  const m = /(?:^|\/)Patient\/([^/?#]+)(?:\/_history\/[^/?#]+)?(?:[?#].*)?$/.exec(s['reference']);
  return m === null || m[1] === undefined ? null : m[1];
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
    if (obs.kind === 'failed') problems.push(`prefetch "${OBSERVATIONS_KEY}" is an OperationOutcome (${obs.text})`);
    if (obs.kind === 'data' && obs.next !== null) problems.push(`prefetch "${OBSERVATIONS_KEY}" has further pages (link next)`);
    if (pat.kind === 'absent') problems.push(`no prefetch "${PATIENT_KEY}" (needed: sex-specific URLs are on)`);
    if (pat.kind === 'failed') problems.push(`prefetch "${PATIENT_KEY}" is an OperationOutcome (${pat.text})`);
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

  if (server !== null && (pullObservations || pullPatient)) {
    const started = performance.now();
    try {
      const pulled = await pullPathwayData({
        fhirServer: server,
        accessToken: token,
        patientId,
        observationCodes: pullObservations ? pathwayObservationCodes(opts.runtime) : [],
        includePatient: pullPatient,
        timeoutMs: opts.timeoutMs,
      });
      opts.onPull?.(performance.now() - started, null);
      fhirRequests += pulled.requests;
      resources.push(...pulled.resources);
      if (pullObservations) obsSource = 'fhir-pull';
      if (pullPatient) patSource = 'fhir-pull';
    } catch (e) {
      const err = e instanceof TnpError ? e : new TnpError('TNP_ERR_FHIR_FAILED', 'the FHIR pull failed', { cause: e });
      opts.onPull?.(performance.now() - started, err);
      throw err;
    }
  }
  if (obs.kind === 'data') {
    resources.push(...obs.resources);
    if (obs.next !== null && server !== null) {
      const started = performance.now();
      try {
        const more = await followPages(obs.next, server, token, opts.timeoutMs, OBSERVATIONS_KEY);
        opts.onPull?.(performance.now() - started, null);
        fhirRequests += more.requests;
        resources.push(...more.resources);
        obsSource = 'prefetch-paged';
      } catch (e) {
        const err = e instanceof TnpError ? e : new TnpError('TNP_ERR_FHIR_FAILED', 'following the prefetch pages failed', { cause: e });
        opts.onPull?.(performance.now() - started, err);
        throw err;
      }
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
