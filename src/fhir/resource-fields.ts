/**
 * The parts of a FHIR resource every fact reads the same way (pure: no network, no clock): its codings,
 * status, draw time, encounter, identities, content digest and the reference people and the trace see.
 */
import type { Coding } from 'fhir/r4.js';
import { canonicalJson, contentSha256, sha256Hex } from '../util/canonical-json.js';
import { parseInstant } from '../engine/time.js';
import type { Instant, StatusUse } from '../engine/types.js';
import { statusUseOf } from './status.js';
import { isObject } from '../util/guards.js';

export function codings(cc: unknown): Coding[] {
  if (!isObject(cc) || !Array.isArray(cc['coding'])) return [];
  const out: Coding[] = [];
  for (const c of cc['coding'] as unknown[]) if (isObject(c) && typeof c['system'] === 'string' && typeof c['code'] === 'string') out.push(c);
  return out;
}

/** The id an encounter reference names: the last segment of a relative or absolute reference. */
export function encounterIdOf(ref: unknown): string | null {
  if (!isObject(ref) || typeof ref['reference'] !== 'string') return null;
  const path = ref['reference'].split(/[?#]/)[0] ?? '';
  const parts = path.split('/').filter((s) => s !== '');
  const hist = parts.lastIndexOf('_history');
  const segs = hist >= 0 ? parts.slice(0, hist) : parts;
  const last = segs[segs.length - 1];
  return last === undefined || last === '' ? null : last;
}

/** The `fullUrl` each resource had in the Bundle it was read from, kept beside it (never written into it). */
const fullUrls = new WeakMap<object, string>();

/** Notes the `fullUrl` a resource had in its Bundle (src/fhir/bundle.ts, as it reads a Bundle). */
export function rememberFullUrl(resource: object, fullUrl: string): void {
  fullUrls.set(resource, fullUrl);
}

/** The `fullUrl` a resource had in the Bundle it was read from, or null (read from no Bundle, or none given). */
export function fullUrlOf(resource: object): string | null {
  return fullUrls.get(resource) ?? null;
}

/** A resource's `subject.reference` as written, or null when its subject names nothing by reference. */
export function subjectReference(r: Record<string, unknown>): string | null {
  const s = r['subject'];
  return isObject(s) && typeof s['reference'] === 'string' && s['reference'].trim() !== '' ? s['reference'] : null;
}

/**
 * The patient id a resource's `subject` names: the id of a `Patient/<id>` reference, relative or absolute
 * (a version or query after it is not part of the id), or null when it names no Patient by reference.
 */
export function subjectPatientId(r: Record<string, unknown>): string | null {
  const s = r['subject'];
  if (!isObject(s) || typeof s['reference'] !== 'string') return null;
  const m = /(?:^|\/)Patient\/([^/?#]+)(?:\/_history\/[^/?#]+)?(?:[?#].*)?$/.exec(s['reference']);
  return m === null || m[1] === undefined ? null : m[1];
}

function statusOf(o: Record<string, unknown>): { status: StatusUse; text: string | null } {
  const s = o['status'];
  return { status: statusUseOf(s), text: typeof s === 'string' ? s : null };
}

export function drawTimeOf(o: Record<string, unknown>): { time: Instant | null; problem: string | null } {
  let raw: unknown;
  let field: string;
  if (o['effectiveDateTime'] !== undefined) {
    raw = o['effectiveDateTime'];
    field = 'effectiveDateTime';
  } else if (o['effectiveInstant'] !== undefined) {
    raw = o['effectiveInstant'];
    field = 'effectiveInstant';
  } else if (o['effectivePeriod'] !== undefined) {
    const p = o['effectivePeriod'];
    raw = isObject(p) ? p['start'] : undefined;
    field = 'effectivePeriod.start';
    if (raw === undefined) return { time: null, problem: 'effectivePeriod has no start' };
  } else if (o['effectiveTiming'] !== undefined) {
    return { time: null, problem: 'effectiveTiming is not a draw time' };
  } else {
    return { time: null, problem: 'no draw time (effectiveDateTime, effectiveInstant or effectivePeriod.start)' };
  }
  const p = parseInstant(raw);
  return p.ok ? { time: p.instant, problem: null } : { time: null, problem: `${field}: ${p.problem}` };
}

function instantOrNull(x: unknown): Instant | null {
  if (x === undefined) return null;
  const p = parseInstant(x);
  return p.ok ? p.instant : null;
}

function identitiesOf(o: Record<string, unknown>, ref: string): string[] {
  const keys: string[] = [];
  if (typeof o['id'] === 'string' && o['id'] !== '') keys.push(`id|${ref}`);
  const ids = o['identifier'];
  if (Array.isArray(ids)) {
    for (const i of ids) {
      if (isObject(i) && typeof i['value'] === 'string' && i['value'] !== '') {
        keys.push(`identifier|${typeof i['system'] === 'string' ? i['system'] : ''}|${i['value']}`);
      }
    }
  }
  return keys.sort();
}

/**
 * A fact's `contentKey` (a digest of its clinical content), computed on first use: only rule 12's version
 * groups and ties of the canonical order read it, so most resources are never hashed.
 */
export function contentKeyOf(o: Record<string, unknown>): () => string {
  let key: string | undefined;
  return () => {
    if (key === undefined) {
      // The clinical content: the resource without its `meta` (a new version of the same content is the same result).
      const { meta: _meta, ...content } = o;
      key = sha256Hex(canonicalJson(content));
    }
    return key;
  };
}

/** The fields every observation fact shares. */
export function baseOf(o: Record<string, unknown>, ref: string) {
  const st = statusOf(o);
  const draw = drawTimeOf(o);
  const issued = instantOrNull(o['issued']);
  const meta = o['meta'];
  const lastUpdated = isObject(meta) ? instantOrNull(meta['lastUpdated']) : null;
  const base = {
    ref,
    status: st.status,
    statusText: st.text,
    drawTime: draw.time,
    drawTimeProblem: draw.problem,
    issued,
    encounterId: encounterIdOf(o['encounter']),
    identities: identitiesOf(o, ref),
    versionTime: lastUpdated ?? issued,
    contentKey: contentKeyOf(o),
  };
  return base;
}
export function formatNumber(x: unknown): string {
  return typeof x === 'number' ? String(x) : JSON.stringify(x) ?? 'undefined';
}

/** The keys of `o` that are a FHIR value[x] (in `Object.keys` order). */
export function valueKeysOf(o: Record<string, unknown>): string[] {
  const keys: string[] = [];
  for (const k of Object.keys(o)) if (k.startsWith('value')) keys.push(k);
  return keys;
}

/**
 * A reference for people and the trace that does not depend on the order of the input (rule 15):
 * the resource id, else its first identifier, else a digest of its content.
 */
export function refOf(obj: Record<string, unknown>, type: string): string {
  if (typeof obj['id'] === 'string' && obj['id'] !== '') return `${type}/${obj['id']}`;
  const ids = obj['identifier'];
  if (Array.isArray(ids)) {
    const first = ids.find((i): i is Record<string, unknown> => isObject(i) && typeof i['value'] === 'string' && i['value'] !== '');
    if (first !== undefined) return `${type} with identifier ${String(first['value'])}`;
  }
  return `${type} without id (content ${contentSha256(obj).slice(0, 12)})`;
}
