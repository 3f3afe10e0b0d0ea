/**
 * What an EHR does with a discovery document's prefetch templates, for `npx hs-troponin-cds call`: each
 * template's tokens are filled from the call's context, and the query is answered from the resources of
 * the file given (a read gives the resource or null; a search gives a searchset Bundle of the matches).
 * The search parameters understood are those of the CDS Hooks recommended subset the service uses
 * (`patient`/`subject`, `encounter`, `code` tokens by equality, `_id`; `_count` and `_sort` are
 * ignored: every match is sent in one Bundle). A template asking for anything else is refused with its
 * name, never answered with a guess; a template naming a context field the call has not is left out,
 * as CDS Hooks 2.0 says a client does for what it cannot satisfy.
 */
import { TnpError } from '../errors.js';
import { isObject } from '../util/guards.js';

type Json = Record<string, unknown>;

export interface CallContext {
  readonly userId: string;
  readonly patientId: string;
  readonly encounterId?: string;
}

/** Splits on `sep` where it is not escaped with a backslash (FHIR search escaping), unescaping the parts. */
function splitEscaped(text: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (c === '\\' && i + 1 < text.length) {
      cur += text.charAt(++i);
      continue;
    }
    if (c === sep) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

/** The template with its `{{...}}` tokens filled, or null when it names a context field the call has not. */
export function fillTokens(template: string, ctx: CallContext): string | null {
  let missing = false;
  const values: Readonly<Record<string, string | undefined>> = {
    'context.userId': ctx.userId,
    'context.patientId': ctx.patientId,
    'context.encounterId': ctx.encounterId,
    userPractitionerId: ctx.userId.startsWith('Practitioner/') ? ctx.userId.slice('Practitioner/'.length) : undefined,
  };
  const filled = template.replace(/\{\{\s*([^}\s]+)\s*\}\}/g, (_m, token: string) => {
    const v = values[token];
    if (v === undefined) missing = true;
    return v ?? '';
  });
  return missing ? null : filled;
}

/** A reference (`Patient/p1`, or absolute `https://.../Patient/p1`) names `type`/`id`. */
function refersTo(ref: unknown, type: string, id: string): boolean {
  const r = isObject(ref) ? ref['reference'] : undefined;
  return typeof r === 'string' && (r === `${type}/${id}` || r.endsWith(`/${type}/${id}`));
}

function tokenMatches(concept: unknown, tokens: readonly string[]): boolean {
  const codings = isObject(concept) && Array.isArray(concept['coding']) ? concept['coding'].filter(isObject) : [];
  return tokens.some((t) => {
    const [system, code] = t.includes('|') ? splitEscaped(t, '|') : [undefined, t];
    return codings.some((c) => (system === undefined || (system === '' ? c['system'] === undefined : c['system'] === system)) && (code === undefined || code === '' || c['code'] === code));
  });
}

type Matcher = (r: Json) => boolean;

function matcherFor(name: string, value: string, template: string): Matcher | null {
  const values = splitEscaped(value, ',');
  switch (name) {
    case 'patient':
    case 'subject':
      return (r) => values.some((v) => refersTo(r['subject'], 'Patient', v.replace(/^Patient\//, '')));
    case 'encounter':
      return (r) => values.some((v) => refersTo(r['encounter'], 'Encounter', v.replace(/^Encounter\//, '')));
    case 'code':
      return (r) => tokenMatches(r['code'], values);
    case '_id':
      return (r) => values.includes(String(r['id']));
    case '_count':
    case '_sort':
      return null;
    default:
      throw new TnpError('TNP_ERR_BAD_ARGUMENT', `call cannot answer the prefetch template "${template}": the search parameter "${name}" is not one it understands`);
  }
}

function searchset(matches: readonly { fullUrl: string | undefined; resource: Json }[]): Json {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: matches.length,
    entry: matches.map((m) => ({ ...(m.fullUrl === undefined ? {} : { fullUrl: m.fullUrl }), resource: m.resource, search: { mode: 'match' } })),
  };
}

/** One template answered from the resources: a resource or null (read), a searchset Bundle (search). */
export function answerTemplate(filled: string, resources: readonly { fullUrl: string | undefined; resource: Json }[]): Json | null {
  const [path = '', query] = filled.split('?', 2);
  const segments = path.split('/');
  if (query === undefined && segments.length === 2) {
    const [type, id] = segments;
    return resources.find((r) => r.resource['resourceType'] === type && r.resource['id'] === id)?.resource ?? null;
  }
  if (segments.length !== 1 || !/^[A-Z][A-Za-z]+$/.test(path)) throw new TnpError('TNP_ERR_BAD_ARGUMENT', `call cannot answer the prefetch template "${filled}": not a read (Type/id) or a type-level search (Type?...)`);
  const matchers = (query ?? '')
    .split('&')
    .filter((p) => p !== '')
    .flatMap((p) => {
      const eq = p.indexOf('=');
      const name = decodeURIComponent(eq < 0 ? p : p.slice(0, eq));
      const m = matcherFor(name, decodeURIComponent(eq < 0 ? '' : p.slice(eq + 1)), filled);
      return m === null ? [] : [m];
    });
  return searchset(resources.filter((r) => r.resource['resourceType'] === path && matchers.every((m) => m(r.resource))));
}

/** Every template of a discovery service answered (a key left out when its tokens cannot be filled). */
export function fillPrefetch(templates: Readonly<Record<string, unknown>>, ctx: CallContext, resources: readonly { fullUrl: string | undefined; resource: Json }[]): Json {
  const out: Json = {};
  for (const [key, template] of Object.entries(templates)) {
    if (typeof template !== 'string') continue;
    const filled = fillTokens(template, ctx);
    if (filled !== null) out[key] = answerTemplate(filled, resources);
  }
  return out;
}

/** The resources of a Bundle (with their fullUrls), an array of resources, or one resource. */
export function entriesOf(doc: unknown): { fullUrl: string | undefined; resource: Json }[] {
  if (Array.isArray(doc)) return doc.flatMap(entriesOf);
  if (!isObject(doc)) return [];
  if (doc['resourceType'] !== 'Bundle') return [{ fullUrl: undefined, resource: doc }];
  const entries = Array.isArray(doc['entry']) ? doc['entry'].filter(isObject) : [];
  return entries.flatMap((e) => {
    const r = e['resource'];
    if (!isObject(r)) return [];
    if (r['resourceType'] === 'Bundle') return entriesOf(r);
    return [{ fullUrl: typeof e['fullUrl'] === 'string' ? e['fullUrl'] : undefined, resource: r }];
  });
}
