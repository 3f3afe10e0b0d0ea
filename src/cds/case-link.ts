/**
 * The de-identified case a card's console link carries (service contract, "The CDS call": the link
 * carries the evaluation's de-identified inputs, codes, values, units and times relative to the
 * baseline, never a patient identifier, so the console needs no access to patient data).
 *
 * What a case keeps of each Observation the pathway reads: the codings the pathway knows, its status,
 * its value (quantity with comparator and unit, integer, the ECG codings the pathway knows, or the
 * data-absent reason), and its times as minutes relative to the baseline draw (or to the evaluation
 * time when there is no baseline). What it never keeps: any id (patient, resource, encounter,
 * identifier), names, display strings, notes or any other free text, unknown codes, or absolute dates.
 * Every string it keeps is from a fixed vocabulary (statuses, comparators, data-absent reasons), the
 * pathway's own codings, or a unit that parses as UCUM; anything else is replaced by a placeholder the
 * pathway reads the same way (an unreadable unit stays unreadable, an unknown status stays unknown).
 * Which results are versions of one result (rule 12) is kept as a group number, identical copies as
 * `copyOf`; whether an observation names the requested encounter or another as `same`/`other` (rule
 * 3): so the console reproduces the decision exactly (tests/property/case-link.property.test.ts).
 *
 * `caseToResources` (src/cds/case-resources.ts) rebuilds FHIR resources from a case for the console.
 * The link itself (size, summary, signature): src/cds/case-link-codec.ts.
 */
import { codingKey, type PathwayRuntime } from '../engine/catalogue.js';
import { parseInstant } from '../engine/time.js';
import type { Decision, Sex } from '../engine/types.js';
import { drawTimeOf, encounterIdOf, refOf } from '../fhir/mapping.js';
import { contentKeyOf } from '../fhir/resource-fields.js';
import { isObject } from '../util/guards.js';
import { OTHER_UNIT_SYSTEM, safeAbsentReason, safeComparator, safeStatus, safeUnit, UCUM, VALUE_ELEMENTS, type Json } from './case-vocabulary.js';
import type { CaseEntry, CaseObservation, CaseQuantity, CaseTime, ConsoleCase } from './case-types.js';

export type { CaseEntry, CaseObservation, CaseQuantity, CaseSummary, CaseTime, ConsoleCase } from './case-types.js';

const MS_PER_MINUTE = 60_000;

function codingPairs(cc: unknown): [string, string][] {
  if (!isObject(cc) || !Array.isArray(cc['coding'])) return [];
  const out: [string, string][] = [];
  for (const c of cc['coding'] as unknown[]) {
    if (isObject(c) && typeof c['system'] === 'string' && typeof c['code'] === 'string') out.push([c['system'], c['code']]);
  }
  return out;
}

/** The pairs `known` accepts, each once: the pathway's own codings, never a site's free-text code. */
function knownPairs(cc: unknown, known: (key: string) => boolean): [string, string][] {
  const seen = new Set<string>();
  return codingPairs(cc).filter(([s, c]) => {
    const k = codingKey(s, c);
    if (!known(k) || seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function relative(raw: unknown, refNs: bigint): CaseTime | undefined {
  if (raw === undefined) return undefined;
  const p = parseInstant(raw);
  if (!p.ok) {
    if (typeof raw === 'string' && /^\d{4}(-\d{2}(-\d{2})?)?$/.test(raw)) return 'date-only';
    if (typeof raw === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(raw)) return 'no-zone';
    return 'invalid';
  }
  return Number((p.instant - refNs) / 1_000_000n) / MS_PER_MINUTE;
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

/**
 * Groups resources that are versions of one result: same kind (troponin, ECG, TIMI) and the same
 * identifier (system|value) or id and the same draw time, as the engine groups them (rule 12, contract 1.1:
 * a shared identifier with different draw times is two results).
 */
function groupsOf(observations: readonly Json[], kinds: readonly CaseEntry['kind'][]): (number | undefined)[] {
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
    const drawn = drawTimeOf(o).time;
    const kind = `${kinds[i] ?? ''}|${drawn === null ? 'none' : drawn.toString()}`;
    if (typeof o['id'] === 'string' && o['id'] !== '') keys.push(`${kind}|id|${o['id']}`);
    if (Array.isArray(o['identifier'])) {
      for (const id of o['identifier'] as unknown[]) {
        if (isObject(id) && typeof id['value'] === 'string' && id['value'] !== '') keys.push(`${kind}|identifier|${typeof id['system'] === 'string' ? id['system'] : ''}|${id['value']}`);
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

/** The kind of observation the runtime reads it as, in the mapping's order (troponin, ECG, TIMI, onset). */
function kindOf(runtime: PathwayRuntime, codes: readonly (readonly [string, string])[]): CaseEntry['kind'] | null {
  const m = runtime.codeMaps;
  const keys = codes.map(([s, c]) => codingKey(s, c));
  if (keys.some((k) => m.assayByCoding.has(k))) return 'troponin';
  if (keys.some((k) => m.ecgCodes.has(k))) return 'ecg';
  if (keys.some((k) => m.timiCodes.has(k))) return 'timi';
  if (keys.some((k) => m.onsetCodes.has(k))) return 'onset';
  return null;
}

/** A chest-pain onset's value: its time or period as times relative to the reference; anything else is `other`. */
function onsetValueOf(key: string, v: unknown, refNs: bigint): Pick<CaseObservation, 'dt' | 'period'> | null {
  if (key === 'valueDateTime') return { dt: relative(v, refNs) ?? 'invalid' };
  if (key !== 'valuePeriod' || !isObject(v)) return null;
  const start = relative(v['start'], refNs);
  const end = relative(v['end'], refNs);
  return { period: { ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }) } };
}

function quantityOf(q: Json): CaseQuantity {
  const quantity: { -readonly [K in keyof CaseQuantity]?: CaseQuantity[K] } = {};
  const v = finite(q['value']);
  if (v !== undefined) quantity.value = v;
  if (q['comparator'] !== undefined) quantity.comparator = safeComparator(q['comparator']);
  const system = q['system'];
  if (system !== undefined && system !== UCUM) {
    // Another unit system: the result is unreadable whatever its unit says (rule 10).
    quantity.system = OTHER_UNIT_SYSTEM;
    return quantity;
  }
  if (system === UCUM) quantity.ucum = true;
  const code = q['code'];
  if (code !== undefined) {
    // The code is read, never the unit text: the text is left out.
    quantity.code = typeof code === 'string' && code !== '' ? safeUnit(code) : '';
  } else if (typeof q['unit'] === 'string' && q['unit'] !== '') {
    quantity.unit = safeUnit(q['unit']);
  }
  return quantity;
}

/** Reduces one Observation the pathway reads to what the case keeps. */
function observationOf(o: Json, kind: CaseEntry['kind'], runtime: PathwayRuntime, refNs: bigint, encounterId: string | null): CaseObservation {
  const m = runtime.codeMaps;
  const c: { -readonly [K in keyof CaseObservation]?: CaseObservation[K] } = {
    codes: knownPairs(o['code'], (k) => m.assayByCoding.has(k) || m.ecgCodes.has(k) || m.timiCodes.has(k) || m.onsetCodes.has(k)),
  };
  if (o['status'] !== undefined) c.status = safeStatus(o['status']);
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
  let other = 0;
  for (const key of Object.keys(o).filter((k) => k.startsWith('value'))) {
    const v = o[key];
    const onset = kind === 'onset' ? onsetValueOf(key, v, refNs) : null;
    if (onset !== null) Object.assign(c, onset);
    else if (kind === 'onset') other += 1;
    else if (key === 'valueQuantity' && isObject(v)) c.quantity = quantityOf(v);
    else if (key === 'valueInteger' && finite(v) !== undefined) c.integer = v as number;
    else if (key === 'valueCodeableConcept') c.concept = knownPairs(v, (k) => m.ecgValues.has(k));
    else other += 1;
  }
  if (other > 0) c.other = Math.min(other, VALUE_ELEMENTS.length);
  if (o['dataAbsentReason'] !== undefined) c.absent = safeAbsentReason(codingPairs(o['dataAbsentReason'])[0]?.[1]);
  return c as CaseObservation;
}

/**
 * Reduces the resources of an evaluation to a de-identified case, every observation with its ref and
 * kind (for the link's summary, src/cds/case-link-codec.ts).
 *
 * @param resources - The resources the decision was made from.
 * @param decision - The decision (its baseline draw time is the reference; else its evaluation time).
 * @param runtime - Keeps only the observations and codings the pathway reads; says whether sex matters.
 * @param encounterId - The encounter the request named, or null.
 */
export function caseFromResources(resources: readonly unknown[], decision: Decision, runtime: PathwayRuntime, encounterId: string | null): { case: ConsoleCase; entries: CaseEntry[] } {
  const evaluated = parseInstant(decision.evaluatedAt);
  const baseline = decision.troponin.baseline === null ? null : parseInstant(decision.troponin.baseline.drawTime);
  const useBaseline = baseline !== null && baseline.ok;
  const refNs = baseline !== null && baseline.ok ? baseline.instant : evaluated.ok ? evaluated.instant : 0n;
  const nowRel = relative(decision.evaluatedAt, refNs);

  // In the engine's tie-break order (rule 15: reference, then content): the rebuilt resources are
  // named in this order, so that wherever the engine breaks a tie it picks the same one. The content key
  // (a digest) is made only where it is read: for two observations with one reference, and for copies.
  const read = resources
    .filter((r): r is Json => isObject(r) && r['resourceType'] === 'Observation')
    .map((o) => ({ o, kind: kindOf(runtime, codingPairs(o['code'])), ref: refOf(o, 'Observation'), content: contentKeyOf(o) }))
    .filter((x): x is { o: Json; kind: CaseEntry['kind']; ref: string; content: () => string } => x.kind !== null)
    .sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : a.content() < b.content() ? -1 : a.content() > b.content() ? 1 : 0));
  const groups = groupsOf(
    read.map((x) => x.o),
    read.map((x) => x.kind),
  );
  // Identical copies (the same id and content: a resource listed twice) stay copies when rebuilt.
  const firstCopy = new Map<string, number>();
  const entries: CaseEntry[] = read.map(({ o, kind, ref, content }, i) => {
    let obs = observationOf(o, kind, runtime, refNs, encounterId);
    const g = groups[i];
    if (g !== undefined) {
      obs = { ...obs, group: g };
      const first = firstCopy.get(content());
      if (first === undefined) firstCopy.set(content(), i);
      else obs = { ...obs, copyOf: first };
    }
    return { obs, ref, kind };
  });

  let sex: Sex | undefined;
  if (runtime.needsPatient) {
    const patient = resources.find((r): r is Json => isObject(r) && r['resourceType'] === 'Patient');
    if (patient !== undefined) {
      const g = patient['gender'];
      sex = g === 'female' || g === 'male' || g === 'other' ? g : 'unknown';
    }
  }
  const c: ConsoleCase = {
    v: 2,
    ref: useBaseline ? 'baseline' : 'evaluation',
    now: typeof nowRel === 'number' ? nowRel : 0,
    encounter: encounterId !== null,
    ...(sex === undefined ? {} : { sex }),
    outcome: decision.outcome,
    observations: entries.map((e) => e.obs),
  };
  return { case: c, entries };
}
