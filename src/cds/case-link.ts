/**
 * The de-identified case a card's console link carries (service contract, "The CDS call": the link
 * carries the evaluation's de-identified inputs, codes, values, units and times relative to the
 * baseline, never a patient identifier, so the console needs no access to patient data).
 *
 * What a case keeps of each Observation: its codings, status, value (quantity with comparator and unit,
 * integer, codeable concept, or the data-absent reason), and its times as minutes relative to the
 * baseline draw (or to the evaluation time when there is no baseline). What it never keeps: any id
 * (patient, resource, encounter, identifier), names, free text, or absolute dates. Which results are
 * versions of one result (rule 12) is kept as a group number; whether an observation names the
 * requested encounter or another is kept as `same`/`other` (rule 3), so the console reproduces the
 * decision exactly.
 *
 * `caseToResources` rebuilds FHIR resources from a case, anchored at any instant, for the console.
 */
import type { Resource } from 'fhir/r4.js';
import { TnpError } from '../errors.js';
import { codingKey, type PathwayRuntime } from '../engine/catalogue.js';
import { parseInstant } from '../engine/time.js';
import type { Decision, Sex } from '../engine/types.js';
import { encounterIdOf } from '../fhir/mapping.js';

/** A time as minutes from the case's reference instant, or why it is not a time (date only, no zone, other). */
export type CaseTime = number | 'date-only' | 'no-zone' | 'invalid';

export interface CaseQuantity {
  readonly value?: number;
  readonly comparator?: string;
  readonly unit?: string;
  /** The unit system, only when it is not UCUM (absent means UCUM or none). */
  readonly system?: string;
  /** True when the quantity had a unit system of its own that was UCUM. */
  readonly ucum?: boolean;
  readonly code?: string;
}

export interface CaseObservation {
  /** The codings of Observation.code, as [system, code]. */
  readonly codes: readonly (readonly [string, string])[];
  readonly status?: string;
  /** Draw time (effectiveDateTime, effectiveInstant or effectivePeriod.start). */
  readonly t?: CaseTime;
  readonly issued?: CaseTime;
  /** meta.lastUpdated. */
  readonly updated?: CaseTime;
  /** `same`: names the encounter of the request; `other`: names another one. Absent: names none. */
  readonly enc?: 'same' | 'other';
  /** Observations sharing a group number are versions of one result (shared identifier or id). */
  readonly group?: number;
  readonly quantity?: CaseQuantity;
  readonly integer?: number;
  readonly concept?: readonly (readonly [string, string])[];
  /** dataAbsentReason code (or `unknown`). */
  readonly absent?: string;
}

export interface ConsoleCase {
  readonly v: 1;
  /** What the times are relative to: the baseline draw, or the evaluation time when there is no baseline. */
  readonly ref: 'baseline' | 'evaluation';
  /** The evaluation time, minutes from the reference. */
  readonly now: number;
  /** Whether the request named an encounter. */
  readonly encounter: boolean;
  /** Patient sex, only when the site uses sex-specific URLs and a Patient was given. */
  readonly sex?: Sex;
  readonly observations: readonly CaseObservation[];
}

type Json = Record<string, unknown>;

function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const MS_PER_MINUTE = 60_000;

function codingPairs(cc: unknown): [string, string][] {
  if (!isObject(cc) || !Array.isArray(cc['coding'])) return [];
  const out: [string, string][] = [];
  for (const c of cc['coding'] as unknown[]) {
    if (isObject(c) && typeof c['system'] === 'string' && typeof c['code'] === 'string') out.push([c['system'], c['code']]);
  }
  return out;
}

function relative(raw: unknown, refNs: bigint): CaseTime | undefined {
  if (raw === undefined) return undefined;
  const p = parseInstant(raw);
  if (!p.ok) {
    if (typeof raw === 'string' && /^\d{4}(-\d{2}(-\d{2})?)?$/.test(raw)) return 'date-only';
    if (typeof raw === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(raw)) return 'no-zone';
    return 'invalid';
  }
  const ms = (p.instant - refNs) / 1_000_000n;
  return Number(ms) / MS_PER_MINUTE;
}

function drawRaw(o: Json): unknown {
  if (o['effectiveDateTime'] !== undefined) return o['effectiveDateTime'];
  if (o['effectiveInstant'] !== undefined) return o['effectiveInstant'];
  const p = o['effectivePeriod'];
  if (isObject(p)) return p['start'];
  return undefined;
}

function finite(n: unknown): number | undefined {
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** Groups resources that are versions of one result: same identifier (system|value) or same id. */
function groupsOf(observations: readonly Json[]): (number | undefined)[] {
  const parent = observations.map((_, i) => i);
  const find = (i: number): number => {
    let r = i;
    // Path halving: chains stay short whatever the order of the identifiers (no quadratic walk).
    while (parent[r] !== r) r = parent[r] = parent[parent[r] ?? r] ?? r;
    return r;
  };
  const byKey = new Map<string, number>();
  observations.forEach((o, i) => {
    const keys: string[] = [];
    if (typeof o['id'] === 'string') keys.push(`id|${o['id']}`);
    if (Array.isArray(o['identifier'])) {
      for (const id of o['identifier'] as unknown[]) {
        if (isObject(id) && typeof id['value'] === 'string') keys.push(`identifier|${typeof id['system'] === 'string' ? id['system'] : ''}|${id['value']}`);
      }
    }
    for (const k of keys) {
      const j = byKey.get(k);
      if (j === undefined) byKey.set(k, i);
      else parent[find(i)] = find(j);
    }
  });
  const size = new Map<number, number>();
  observations.forEach((_, i) => size.set(find(i), (size.get(find(i)) ?? 0) + 1));
  const numbers = new Map<number, number>();
  return observations.map((_, i) => {
    const root = find(i);
    if ((size.get(root) ?? 0) < 2) return undefined;
    if (!numbers.has(root)) numbers.set(root, numbers.size + 1);
    return numbers.get(root);
  });
}

/** Whether the runtime reads an observation with these codings (troponin, ECG or TIMI). */
function isPathwayObservation(runtime: PathwayRuntime, codes: readonly (readonly [string, string])[]): boolean {
  const m = runtime.codeMaps;
  return codes.some(([s, c]) => {
    const k = codingKey(s, c);
    return m.assayByCoding.has(k) || m.ecgCodes.has(k) || m.timiCodes.has(k);
  });
}

/**
 * Reduces the resources of an evaluation to a de-identified case.
 *
 * @param resources - The resources the decision was made from.
 * @param decision - The decision (its baseline draw time is the reference; else its evaluation time).
 * @param runtime - Keeps only the observations the pathway reads, and says whether sex matters.
 * @param encounterId - The encounter the request named, or null.
 */
export function caseFromResources(resources: readonly unknown[], decision: Decision, runtime: PathwayRuntime, encounterId: string | null): ConsoleCase {
  const evaluated = parseInstant(decision.evaluatedAt);
  const baseline = decision.troponin.baseline === null ? null : parseInstant(decision.troponin.baseline.drawTime);
  const useBaseline = baseline !== null && baseline.ok;
  const refNs = baseline !== null && baseline.ok ? baseline.instant : evaluated.ok ? evaluated.instant : 0n;
  const nowRel = relative(decision.evaluatedAt, refNs);

  const observations = resources.filter((r): r is Json => isObject(r) && r['resourceType'] === 'Observation').filter((o) => isPathwayObservation(runtime, codingPairs(o['code'])));
  const groups = groupsOf(observations);
  const out: CaseObservation[] = observations.map((o, i) => {
    const c: { -readonly [K in keyof CaseObservation]?: CaseObservation[K] } = { codes: codingPairs(o['code']) };
    if (typeof o['status'] === 'string') c.status = o['status'];
    const t = relative(drawRaw(o), refNs);
    if (t !== undefined) c.t = t;
    const issued = relative(o['issued'], refNs);
    if (issued !== undefined) c.issued = issued;
    const meta = o['meta'];
    const updated = isObject(meta) ? relative(meta['lastUpdated'], refNs) : undefined;
    if (updated !== undefined) c.updated = updated;
    if (encounterId !== null) {
      const enc = encounterIdOf(o['encounter']);
      if (enc !== null) c.enc = enc === encounterId ? 'same' : 'other';
    }
    const g = groups[i];
    if (g !== undefined) c.group = g;
    const q = o['valueQuantity'];
    if (isObject(q)) {
      const quantity: { -readonly [K in keyof CaseQuantity]?: CaseQuantity[K] } = {};
      const v = finite(q['value']);
      if (v !== undefined) quantity.value = v;
      if (typeof q['comparator'] === 'string') quantity.comparator = q['comparator'];
      if (typeof q['unit'] === 'string') quantity.unit = q['unit'];
      if (typeof q['system'] === 'string') {
        if (q['system'] === 'http://unitsofmeasure.org') quantity.ucum = true;
        else quantity.system = q['system'];
      }
      if (typeof q['code'] === 'string') quantity.code = q['code'];
      c.quantity = quantity;
    }
    const int = finite(o['valueInteger']);
    if (int !== undefined) c.integer = int;
    if (o['valueCodeableConcept'] !== undefined) c.concept = codingPairs(o['valueCodeableConcept']);
    if (o['dataAbsentReason'] !== undefined) {
      const reason = codingPairs(o['dataAbsentReason'])[0];
      c.absent = reason === undefined ? 'unknown' : reason[1];
    }
    return c as CaseObservation;
  });

  let sex: Sex | undefined;
  if (runtime.sexSpecificUrls) {
    const patient = resources.find((r): r is Json => isObject(r) && r['resourceType'] === 'Patient');
    if (patient !== undefined) {
      const g = patient['gender'];
      sex = g === 'female' || g === 'male' || g === 'other' ? g : 'unknown';
    }
  }
  return {
    v: 1,
    ref: useBaseline ? 'baseline' : 'evaluation',
    now: typeof nowRel === 'number' ? nowRel : 0,
    encounter: encounterId !== null,
    ...(sex === undefined ? {} : { sex }),
    observations: out,
  };
}

/** base64url of the case's JSON: the value of the console link's `case` parameter. */
export function encodeCase(c: ConsoleCase): string {
  return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

/** Longest `case` parameter accepted (characters). */
export const MAX_CASE_LENGTH = 256 * 1024;

function bad(message: string): TnpError {
  return new TnpError('TNP_ERR_BAD_ARGUMENT', `the console case is invalid: ${message}`, { expression: ['case'] });
}

function checkTime(v: unknown, field: string): void {
  if (v === undefined) return;
  if (typeof v === 'number' ? !Number.isFinite(v) : v !== 'date-only' && v !== 'no-zone' && v !== 'invalid') throw bad(`${field} is not a time`);
}

function checkPairs(v: unknown, field: string): void {
  if (!Array.isArray(v) || !v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string')) throw bad(`${field} must be a list of [system, code]`);
}

/**
 * Parses and checks a `case` parameter. Throws TNP_ERR_BAD_ARGUMENT naming what is wrong.
 */
export function decodeCase(text: string): ConsoleCase {
  if (text.length > MAX_CASE_LENGTH) throw bad('too long');
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw bad('not base64url');
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
  } catch {
    throw bad('not base64url JSON');
  }
  if (!isObject(doc) || doc['v'] !== 1) throw bad('unknown version');
  if (doc['ref'] !== 'baseline' && doc['ref'] !== 'evaluation') throw bad('ref must be "baseline" or "evaluation"');
  if (typeof doc['now'] !== 'number' || !Number.isFinite(doc['now'])) throw bad('now must be a number of minutes');
  if (typeof doc['encounter'] !== 'boolean') throw bad('encounter must be true or false');
  if (doc['sex'] !== undefined && !['female', 'male', 'other', 'unknown'].includes(doc['sex'] as string)) throw bad('sex is not female, male, other or unknown');
  if (!Array.isArray(doc['observations'])) throw bad('observations must be a list');
  (doc['observations'] as unknown[]).forEach((o, i) => {
    const f = `observations[${i}]`;
    if (!isObject(o)) throw bad(`${f} is not an object`);
    checkPairs(o['codes'], `${f}.codes`);
    if (o['status'] !== undefined && typeof o['status'] !== 'string') throw bad(`${f}.status is not a string`);
    checkTime(o['t'], `${f}.t`);
    checkTime(o['issued'], `${f}.issued`);
    checkTime(o['updated'], `${f}.updated`);
    if (o['enc'] !== undefined && o['enc'] !== 'same' && o['enc'] !== 'other') throw bad(`${f}.enc must be "same" or "other"`);
    if (o['group'] !== undefined && !Number.isInteger(o['group'])) throw bad(`${f}.group is not an integer`);
    if (o['integer'] !== undefined && (typeof o['integer'] !== 'number' || !Number.isFinite(o['integer']))) throw bad(`${f}.integer is not a number`);
    if (o['concept'] !== undefined) checkPairs(o['concept'], `${f}.concept`);
    if (o['absent'] !== undefined && typeof o['absent'] !== 'string') throw bad(`${f}.absent is not a string`);
    const q = o['quantity'];
    if (q !== undefined) {
      if (!isObject(q)) throw bad(`${f}.quantity is not an object`);
      if (q['value'] !== undefined && (typeof q['value'] !== 'number' || !Number.isFinite(q['value']))) throw bad(`${f}.quantity.value is not a number`);
      for (const k of ['comparator', 'unit', 'system', 'code'] as const) if (q[k] !== undefined && typeof q[k] !== 'string') throw bad(`${f}.quantity.${k} is not a string`);
      if (q['ucum'] !== undefined && typeof q['ucum'] !== 'boolean') throw bad(`${f}.quantity.ucum is not a boolean`);
    }
  });
  return doc as unknown as ConsoleCase;
}

/** The encounter id the rebuilt resources use for the request's encounter. */
export const CASE_ENCOUNTER_ID = 'console-encounter';

/**
 * Rebuilds FHIR resources from a case, with the reference instant at `anchorMs` (default
 * 2026-01-01T09:00:00Z), for evaluation by the console. The decision is the one the case was made from.
 */
export function caseToResources(c: ConsoleCase, anchorMs = Date.UTC(2026, 0, 1, 9, 0, 0)): { resources: Resource[]; now: string; encounterId: string | null } {
  const day = new Date(anchorMs).toISOString().slice(0, 10);
  const time = (t: CaseTime): string => {
    if (t === 'date-only') return day;
    if (t === 'no-zone') return `${day}T09:00:00`;
    if (t === 'invalid') return 'not-a-time';
    return new Date(anchorMs + Math.round(t * MS_PER_MINUTE)).toISOString();
  };
  const resources: Resource[] = [];
  if (c.sex !== undefined) resources.push({ resourceType: 'Patient', id: 'console-patient', gender: c.sex } as Resource);
  c.observations.forEach((o, i) => {
    const r: Json = {
      resourceType: 'Observation',
      id: `case-${i + 1}`,
      code: { coding: o.codes.map(([system, code]) => ({ system, code })) },
      subject: { reference: 'Patient/console-patient' },
    };
    if (o.status !== undefined) r['status'] = o.status;
    if (o.updated !== undefined) r['meta'] = { lastUpdated: time(o.updated) };
    if (o.t !== undefined) r['effectiveDateTime'] = time(o.t);
    if (o.issued !== undefined) r['issued'] = time(o.issued);
    if (o.enc !== undefined) r['encounter'] = { reference: `Encounter/${o.enc === 'same' ? CASE_ENCOUNTER_ID : 'console-other-encounter'}` };
    if (o.group !== undefined) r['identifier'] = [{ system: 'urn:hs-troponin-cds:console-case', value: `result-${o.group}` }];
    if (o.quantity !== undefined) {
      const q = o.quantity;
      r['valueQuantity'] = {
        ...(q.value === undefined ? {} : { value: q.value }),
        ...(q.comparator === undefined ? {} : { comparator: q.comparator }),
        ...(q.unit === undefined ? {} : { unit: q.unit }),
        ...(q.system !== undefined ? { system: q.system } : q.ucum === true ? { system: 'http://unitsofmeasure.org' } : {}),
        ...(q.code === undefined ? {} : { code: q.code }),
      };
    }
    if (o.integer !== undefined) r['valueInteger'] = o.integer;
    if (o.concept !== undefined) r['valueCodeableConcept'] = { coding: o.concept.map(([system, code]) => ({ system, code })) };
    if (o.absent !== undefined) r['dataAbsentReason'] = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: o.absent }] };
    resources.push(r as unknown as Resource);
  });
  return { resources, now: new Date(anchorMs + Math.round(c.now * MS_PER_MINUTE)).toISOString(), encounterId: c.encounter ? CASE_ENCOUNTER_ID : null };
}
