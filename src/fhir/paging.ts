/**
 * FHIR search paging: following a searchset Bundle's `link[rel=next]` to the end, the one way the
 * service does it, for a search it sent (src/fhir/pull.ts) and for a prefetch Bundle the EHR sent with
 * further pages (src/cds/prefetch.ts).
 *
 * Every next link goes through the session (src/fhir/session.ts): it must stay under the allowed
 * `fhirServer` base, on its origin, with no redirect, within the time bound; only the URL the session
 * checked is requested (fhir-kit-client's `nextPage` would request the link as written, unchecked, so it
 * is not used). Paging stops with a 412
 * past {@link FhirLimits.maxPages} pages or {@link FhirLimits.maxResources} resources (a runaway or
 * looping result is never evaluated as if complete), and on a next link already followed (a loop).
 */
import { TnpError } from '../errors.js';
import { contentSha256 } from '../util/canonical-json.js';
import { operationOutcomeText } from './http.js';
import type { FhirSession } from './session.js';
import { isObject } from '../util/guards.js';

type Json = Record<string, unknown>;

/** The first `link[rel=next]` URL of a Bundle, or null. */
export function nextLink(bundle: Json): string | null {
  const links = bundle['link'];
  if (!Array.isArray(links)) return null;
  for (const l of links as unknown[]) {
    if (isObject(l) && l['relation'] === 'next' && typeof l['url'] === 'string' && l['url'] !== '') return l['url'];
  }
  return null;
}

/**
 * The resources of a Bundle's entries, without search outcomes and OperationOutcomes (issues about the
 * search, not data); null when `entry` is present but not an array.
 */
export function bundleEntryResources(bundle: Json): unknown[] | null {
  const entries = bundle['entry'];
  if (entries === undefined) return [];
  if (!Array.isArray(entries)) return null;
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

/** Issue codes that say a search's results are not whole, whatever the severity. */
const INCOMPLETE_CODES: ReadonlySet<string> = new Set(['incomplete', 'too-costly', 'throttled', 'timeout', 'transient', 'exception']);

/**
 * What a Bundle's OperationOutcome entries say that makes its results not whole (FHIR search: a server
 * reports problems as an OperationOutcome entry, `search.mode` "outcome"): an issue of severity `fatal`
 * or `error`, or one whose code says the results are incomplete, too costly, throttled or timed out.
 * Null when none does: warnings and information (a search parameter the server ignored, say) leave the
 * results whole. Such a Bundle is never read as the patient's whole record: a result left out could be
 * the one that rules in.
 */
export function bundleIncompleteText(bundle: Json): string | null {
  const entries = bundle['entry'];
  if (!Array.isArray(entries)) return null;
  for (const e of entries as unknown[]) {
    if (!isObject(e) || !isObject(e['resource'])) continue;
    const oo = e['resource'];
    if (oo['resourceType'] !== 'OperationOutcome' || !Array.isArray(oo['issue'])) continue;
    const serious = (oo['issue'] as unknown[]).some((i) => isObject(i) && (i['severity'] === 'fatal' || i['severity'] === 'error' || (typeof i['code'] === 'string' && INCOMPLETE_CODES.has(i['code']))));
    if (serious) return operationOutcomeText(oo) ?? 'no details given';
  }
  return null;
}

/** A short description of a JSON resource for messages: "a Patient", "an OperationOutcome (text)". */
export function describeResource(r: Json): string {
  const text = operationOutcomeText(r);
  if (text !== null) return `an OperationOutcome (${text})`;
  return typeof r['resourceType'] === 'string' ? `a ${r['resourceType'].slice(0, 64)}` : 'JSON that is not a FHIR resource';
}

/**
 * Gathers the resources of the pages, at most `limit`. A resource sent twice, identical (a result set
 * that shifted between pages), is kept once; two different versions of one resource are both kept (the
 * pathway's status and version rules decide between them, never the order of pages).
 */
class Collector {
  readonly resources: unknown[] = [];
  private readonly seen = new Set<string>();

  constructor(
    private readonly limit: number,
    private readonly origin: string,
  ) {}

  add(resources: readonly unknown[], what: string): void {
    for (const r of resources) {
      if (isObject(r) && typeof r['id'] === 'string') {
        const key = `${String(r['resourceType'])}/${r['id']}/${contentSha256(r)}`;
        if (this.seen.has(key)) continue;
        this.seen.add(key);
      }
      if (this.resources.length >= this.limit) {
        throw new TnpError('TNP_ERR_FHIR_LIMIT_EXCEEDED', `the FHIR server ${this.origin} sent more than ${this.limit} resources for ${what}; the rest was not read, so the record could not be completely obtained`);
      }
      this.resources.push(r);
    }
  }
}

export interface PagesOptions {
  /** The search, for messages: "the Observation search", `prefetch "observations"`. */
  readonly what: string;
  /** True when page 1's resources are to be gathered too (a search sent); false for a prefetch Bundle. */
  readonly includeFirst: boolean;
}

/**
 * Follows `first`'s next links to the last page and returns the resources gathered.
 *
 * @throws TnpError (412): `TNP_ERR_FHIR_LIMIT_EXCEEDED` past the page or resource limit;
 *   `TNP_ERR_FHIR_FOREIGN_LINK` for a next link outside `fhirServer`; `TNP_ERR_FHIR_FAILED` for a page
 *   that is not a Bundle, an `entry` that is not an array, or a next link that repeats; and whatever the
 *   session's requests throw.
 */
export async function followPages(session: FhirSession, first: Json, opts: PagesOptions): Promise<unknown[]> {
  const origin = session.base.origin;
  const { maxPages, maxResources } = session.limits;
  const collector = new Collector(maxResources, origin);
  const followed = new Set<string>();
  let bundle = first;
  for (let page = 1; ; page++) {
    if (page > 1 || opts.includeFirst) {
      if (bundle['resourceType'] !== 'Bundle') {
        throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered ${opts.what} (page ${page}) with ${describeResource(bundle)}, not a Bundle`);
      }
      const resources = bundleEntryResources(bundle);
      if (resources === null) throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered ${opts.what} (page ${page}) with a Bundle whose entry is not an array`);
      const incomplete = bundleIncompleteText(bundle);
      if (incomplete !== null) throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} answered ${opts.what} (page ${page}) with a Bundle whose OperationOutcome says the results are not whole (${incomplete}); the record could not be completely obtained`);
      collector.add(resources, opts.what);
    }
    const next = nextLink(bundle);
    if (next === null) return collector.resources;
    if (page >= maxPages) {
      throw new TnpError('TNP_ERR_FHIR_LIMIT_EXCEEDED', `the FHIR server ${origin} kept paging ${opts.what}: more than ${maxPages} pages; the rest was not read, so the record could not be completely obtained`);
    }
    const url = session.link(next, `page ${page} of ${opts.what}`);
    if (followed.has(url.href)) throw new TnpError('TNP_ERR_FHIR_FAILED', `the FHIR server ${origin} kept paging ${opts.what} (a next link repeats); the pull was stopped`);
    followed.add(url.href);
    bundle = await session.get(url, `${opts.what} (page ${page + 1})`);
  }
}
