/**
 * A card's link to the console: `<publicBaseUrl>/console#case=<payload>.<signature>`.
 *
 * - The case is in the fragment: browsers never send it to a server, so it is in no request line
 *   (long links were answered 431), no access log and no Referer.
 * - `payload`: the case's JSON (src/cds/case-link.ts), compressed with raw DEFLATE, base64url.
 * - `signature`: HMAC-SHA256 of the payload with the service's key (src/cds/case-link-key.ts),
 *   base64url. The console asks the service to check it (the key never leaves the service) and says the
 *   case is "from a card of this service" only when it verifies.
 * - The whole link is at most 8,000 characters, whatever the episode: past that (or past 200
 *   observations, the console's bound) the link is summarised: it keeps the baseline, the results the
 *   decision used, the ECG and TIMI used, the unreadable results, then the highest other results, and
 *   says how many of each kind it left out. The console then says the case is summarised and may not
 *   reproduce the card's decision (the card's outcome travels with it).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { PathwayRuntime } from '../engine/catalogue.js';
import { OUTCOME_CODES } from '../engine/pathway.js';
import type { Decision } from '../engine/types.js';
import { TnpError } from '../errors.js';
import { factorToNgPerL } from '../fhir/units.js';
import { caseFromResources, type CaseEntry, type CaseObservation, type ConsoleCase } from './case-link.js';
import { isObject } from '../util/guards.js';

/** Longest link a card carries (under 8 kB, the limit of common servers and proxies for a URL). */
export const MAX_LINK_LENGTH = 8000;
/** Longest `case` value the console reads (characters). */
export const MAX_CASE_LENGTH = 8192;
/** Most observations a link carries (the console API's bound on the resources of one request is 200). */
export const MAX_CASE_OBSERVATIONS = 199;
/** Largest case once inflated (a 8 kB link cannot be a compression bomb). */
const MAX_INFLATED_BYTES = 256 * 1024;
const SIGNING_CONTEXT = 'hs-troponin-cds case link v2\n';
const SIGNATURE_LENGTH = 43;

function signature(payload: string, key: Uint8Array): string {
  return createHmac('sha256', key).update(SIGNING_CONTEXT).update(payload).digest('base64url');
}

/** The payload of a case: compressed JSON, base64url. */
export function encodeCase(c: ConsoleCase): string {
  return deflateRawSync(Buffer.from(JSON.stringify(c), 'utf8'), { level: 9 }).toString('base64url');
}

/** The `case` value of a link: payload and signature. */
export function caseParam(c: ConsoleCase, key: Uint8Array): string {
  const payload = encodeCase(c);
  return `${payload}.${signature(payload, key)}`;
}

function bad(message: string): TnpError {
  return new TnpError('TNP_ERR_BAD_ARGUMENT', `the console case is invalid: ${message}`, { expression: ['case'] });
}

function checkTime(v: unknown, field: string): void {
  if (v === undefined) return;
  if (typeof v === 'number' ? !Number.isFinite(v) : v !== 'date-only' && v !== 'no-zone' && v !== 'invalid') throw bad(`${field} is not a time`);
}

function checkPairs(v: unknown, field: string): void {
  if (!Array.isArray(v) || !v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string' && p[0].length <= 256 && p[1].length <= 256)) {
    throw bad(`${field} must be a list of [system, code]`);
  }
}

const isCount = (n: unknown): boolean => Number.isInteger(n) && (n as number) >= 0;

function checkObservation(o: unknown, i: number): void {
  const f = `observations[${i}]`;
  if (!isObject(o)) throw bad(`${f} is not an object`);
  checkPairs(o['codes'], `${f}.codes`);
  for (const k of ['status', 'absent'] as const) if (o[k] !== undefined && (typeof o[k] !== 'string' || o[k].length > 64)) throw bad(`${f}.${k} is not a short string`);
  checkTime(o['t'], `${f}.t`);
  checkTime(o['issued'], `${f}.issued`);
  checkTime(o['updated'], `${f}.updated`);
  checkTime(o['dt'], `${f}.dt`);
  const period = o['period'];
  if (period !== undefined) {
    if (!isObject(period)) throw bad(`${f}.period is not an object`);
    checkTime(period['start'], `${f}.period.start`);
    checkTime(period['end'], `${f}.period.end`);
  }
  if (o['enc'] !== undefined && o['enc'] !== 'same' && o['enc'] !== 'other') throw bad(`${f}.enc must be "same" or "other"`);
  for (const k of ['group', 'copyOf', 'other'] as const) if (o[k] !== undefined && !isCount(o[k])) throw bad(`${f}.${k} is not a count`);
  if (o['integer'] !== undefined && (typeof o['integer'] !== 'number' || !Number.isFinite(o['integer']))) throw bad(`${f}.integer is not a number`);
  if (o['concept'] !== undefined) checkPairs(o['concept'], `${f}.concept`);
  const q = o['quantity'];
  if (q !== undefined) {
    if (!isObject(q)) throw bad(`${f}.quantity is not an object`);
    if (q['value'] !== undefined && (typeof q['value'] !== 'number' || !Number.isFinite(q['value']))) throw bad(`${f}.quantity.value is not a number`);
    for (const k of ['comparator', 'unit', 'system', 'code'] as const) if (q[k] !== undefined && (typeof q[k] !== 'string' || q[k].length > 256)) throw bad(`${f}.quantity.${k} is not a short string`);
    if (q['ucum'] !== undefined && typeof q['ucum'] !== 'boolean') throw bad(`${f}.quantity.ucum is not a boolean`);
  }
}

/**
 * Parses and checks a payload (v2: compressed; v1, of earlier unsigned links: plain JSON). Throws
 * TNP_ERR_BAD_ARGUMENT naming what is wrong.
 */
export function decodeCase(payload: string): ConsoleCase {
  if (payload.length > MAX_CASE_LENGTH) throw bad(`longer than ${MAX_CASE_LENGTH} characters`);
  if (!/^[A-Za-z0-9_-]*$/.test(payload)) throw bad('not base64url');
  let doc: unknown;
  try {
    const bytes = Buffer.from(payload, 'base64url');
    const text = bytes[0] === 0x7b ? bytes : inflateRawSync(bytes, { maxOutputLength: MAX_INFLATED_BYTES });
    doc = JSON.parse(text.toString('utf8')) as unknown;
  } catch {
    throw bad('not a case (base64url of JSON, compressed or not)');
  }
  if (!isObject(doc) || (doc['v'] !== 1 && doc['v'] !== 2)) throw bad('unknown version');
  if (doc['ref'] !== 'baseline' && doc['ref'] !== 'evaluation') throw bad('ref must be "baseline" or "evaluation"');
  if (typeof doc['now'] !== 'number' || !Number.isFinite(doc['now'])) throw bad('now must be a number of minutes');
  if (typeof doc['encounter'] !== 'boolean') throw bad('encounter must be true or false');
  if (doc['sex'] !== undefined && !['female', 'male', 'other', 'unknown'].includes(doc['sex'] as string)) throw bad('sex is not female, male, other or unknown');
  if (doc['outcome'] !== undefined && !(OUTCOME_CODES as readonly unknown[]).includes(doc['outcome'])) throw bad('outcome is not an outcome code');
  const s = doc['summary'];
  const dropped = isObject(s) && isObject(s['dropped']) ? s['dropped'] : null;
  const countsOk = dropped !== null && ['troponin', 'ecg', 'timi'].every((k) => isCount(dropped[k])) && (dropped['onset'] === undefined || isCount(dropped['onset']));
  if (s !== undefined && (!isObject(s) || !isCount(s['observations']) || !isCount(s['kept']) || !countsOk)) {
    throw bad('summary must give the counts of observations, kept and dropped');
  }
  if (!Array.isArray(doc['observations'])) throw bad('observations must be a list');
  if (doc['observations'].length > MAX_CASE_OBSERVATIONS) throw bad(`more than ${MAX_CASE_OBSERVATIONS} observations`);
  (doc['observations'] as unknown[]).forEach(checkObservation);
  return doc as unknown as ConsoleCase;
}

/** What the console learns from a link's `case` value: the case, and whether this service signed it. */
export interface ReadCase {
  readonly case: ConsoleCase;
  readonly verified: boolean;
  /** Why it is not verified. */
  readonly problem: 'no-signature' | 'bad-signature' | null;
}

/** Reads a link's `case` value and checks its signature with `key`. Throws TNP_ERR_BAD_ARGUMENT. */
export function readCaseParam(text: string, key: Uint8Array): ReadCase {
  if (text.length > MAX_CASE_LENGTH) throw bad(`longer than ${MAX_CASE_LENGTH} characters`);
  const [payload = '', sig, ...rest] = text.split('.');
  if (rest.length > 0) throw bad('more than a payload and a signature');
  const c = decodeCase(payload);
  if (sig === undefined || sig === '') return { case: c, verified: false, problem: 'no-signature' };
  const expected = Buffer.from(signature(payload, key));
  const given = Buffer.from(sig);
  const ok = given.length === SIGNATURE_LENGTH && given.length === expected.length && timingSafeEqual(given, expected);
  return ok && c.v === 2 ? { case: c, verified: true, problem: null } : { case: c, verified: false, problem: 'bad-signature' };
}

/**
 * The order in which a summary keeps observations: the baseline, the ECG and TIMI the decision used,
 * the later results it weighed (highest first), the unreadable results (they make it cautious), the other ECGs and
 * TIMI scores (latest first), the other troponins (highest first), then voided and superseded ones and
 * identical copies.
 */
function ranked(entries: readonly CaseEntry[], decision: Decision): number[] {
  const use = new Map(decision.inputs.map((i) => [i.ref, i.use]));
  const baseline = decision.troponin.baseline?.ref;
  const later = new Set(decision.troponin.later.map((l) => l.ref));
  const tier = (e: CaseEntry): number => {
    const u = use.get(e.ref);
    if (e.obs.copyOf !== undefined) return 7;
    if (u === 'void' || u === 'superseded') return 6;
    if (e.ref === baseline) return 0;
    if (e.kind !== 'troponin' && u === 'used') return 1;
    if (later.has(e.ref)) return 2;
    if (u === 'uninterpretable') return 3;
    if (e.kind !== 'troponin') return 4;
    return 5;
  };
  const ngL = (o: CaseObservation): number => {
    const q = o.quantity;
    const unit = q?.code ?? q?.unit;
    if (q?.value === undefined || unit === undefined) return -1;
    const f = factorToNgPerL(unit);
    return f.ok ? q.value * f.factor.toNumber() : -1;
  };
  const time = (o: CaseObservation): number => (typeof o.t === 'number' ? o.t : Number.NEGATIVE_INFINITY);
  return entries
    .map((e, i) => ({ i, tier: tier(e), value: ngL(e.obs), t: time(e.obs) }))
    .sort((a, b) => a.tier - b.tier || b.value - a.value || b.t - a.t || a.i - b.i)
    .map((x) => x.i);
}

/** The case with only the first `k` observations of `order`, in their original order, with its summary. */
function keep(full: ConsoleCase, entries: readonly CaseEntry[], order: readonly number[], k: number): ConsoleCase {
  if (k >= entries.length) return full;
  const kept = [...order.slice(0, k)].sort((a, b) => a - b);
  const index = new Map(kept.map((old, i) => [old, i]));
  const counts = { troponin: 0, ecg: 0, timi: 0, onset: 0 };
  entries.forEach((e, i) => {
    if (!index.has(i)) counts[e.kind] += 1;
  });
  // The onset count only when one was left out: links of pathways without onsets keep their shape.
  const { onset, ...dropped } = counts;
  const observations = kept.map((old) => {
    const o = entries[old]?.obs as CaseObservation;
    if (o.copyOf === undefined) return o;
    const target = index.get(o.copyOf);
    const { copyOf: _c, ...rest } = o;
    return target === undefined ? rest : { ...rest, copyOf: target };
  });
  return { ...full, summary: { observations: entries.length, kept: k, dropped: onset > 0 ? { ...dropped, onset } : dropped }, observations };
}

export interface CaseLinkInput {
  readonly publicBaseUrl: string;
  readonly key: Uint8Array;
  readonly resources: readonly unknown[];
  readonly decision: Decision;
  readonly runtime: PathwayRuntime;
  readonly encounterId: string | null;
}

/** The console link of a card: signed, in the fragment, at most MAX_LINK_LENGTH characters. */
export function caseLinkUrl(input: CaseLinkInput): string {
  const { case: full, entries } = caseFromResources(input.resources, input.decision, input.runtime, input.encounterId);
  const prefix = `${input.publicBaseUrl.replace(/\/+$/, '')}/console#case=`;
  // Each case is compressed once: its size decides whether it fits, and the same payload is signed.
  const link = (payload: string): string => `${prefix}${payload}.${signature(payload, input.key)}`;
  const fits = (payload: string): boolean => prefix.length + payload.length + 1 + SIGNATURE_LENGTH <= MAX_LINK_LENGTH;
  if (entries.length <= MAX_CASE_OBSERVATIONS) {
    const payload = encodeCase(full);
    if (fits(payload)) return link(payload);
  }
  // The most observations, in order of rank, that fit (compressed size grows with k, nearly monotonically).
  const order = ranked(entries, input.decision);
  const payloads = new Map<number, string>();
  const payloadOf = (k: number): string => {
    let p = payloads.get(k);
    if (p === undefined) {
      p = encodeCase(keep(full, entries, order, k));
      payloads.set(k, p);
    }
    return p;
  };
  let lo = 0;
  let hi = Math.min(entries.length - 1, MAX_CASE_OBSERVATIONS);
  if (fits(payloadOf(hi))) lo = hi;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(payloadOf(mid))) lo = mid;
    else hi = mid - 1;
  }
  while (lo > 0 && !fits(payloadOf(lo))) lo -= 1;
  return link(payloadOf(lo));
}
