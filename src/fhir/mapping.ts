/**
 * FHIR R4 resources -> the engine's facts. Pure: no network, no clock.
 *
 * Every resource given is accounted for: it becomes a fact, or it is listed in `ignored` with the reason.
 * Readability is decided here (units, values, times, codes); what the data mean clinically (status,
 * episode, baseline, classification) is decided by the engine, so that the trace can say why.
 */
import { Big } from 'big.js';
import type { Bundle, Coding, Observation, Patient, Quantity, Resource } from 'fhir/r4.js';
import { TnpError } from '../errors.js';
import { canonicalJson, contentSha256, sha256Hex } from '../util/canonical-json.js';
import type { CodeMaps } from '../engine/catalogue.js';
import { codingKey } from '../engine/catalogue.js';
import { parseInstant } from '../engine/time.js';
import type {
  EcgFact,
  EcgMeaning,
  Facts,
  IgnoredInput,
  Instant,
  MeasuredRange,
  ObservationFact,
  OnsetFact,
  OnsetValue,
  Sex,
  StatusUse,
  TimiFact,
  TroponinFact,
  TroponinValue,
} from '../engine/types.js';
import { UCUM_SYSTEM, factorToNgPerL } from './units.js';

const USED = new Set(['final', 'amended', 'corrected']);
const LISTED = new Set(['preliminary', 'registered']);
const VOID = new Set(['cancelled', 'entered-in-error']);
/** The lower end of a `<` or `<=` result (big.js values are never changed in place, so one is shared). */
const ZERO = new Big(0);
const ONE = new Big(1);

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Accept a FHIR Bundle, a single resource, or a JSON array of resources, and return the resources.
 * Throws TNP_ERR_INPUT_EMPTY / TNP_ERR_INPUT_NOT_FHIR with what is wrong.
 */
export function extractResources(doc: unknown): Resource[] {
  if (doc === null || doc === undefined) throw new TnpError('TNP_ERR_INPUT_EMPTY', 'the input is empty (null)');
  if (Array.isArray(doc)) {
    if (doc.length === 0) throw new TnpError('TNP_ERR_INPUT_EMPTY', 'the input is an empty array: it holds no FHIR resource');
    const bad = doc.findIndex((r) => !isObject(r) || typeof r['resourceType'] !== 'string');
    if (bad >= 0) throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', `item ${bad} of the array is not a FHIR resource (an object with a resourceType)`, { expression: [`[${bad}]`] });
    const out: Resource[] = [];
    for (const r of doc as Resource[]) {
      if (r.resourceType === 'Bundle') out.push(...extractResources(r));
      else out.push(r);
    }
    return out;
  }
  if (!isObject(doc)) throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', `the input is a JSON ${typeof doc}, not a FHIR resource, Bundle or array of resources`);
  if (Object.keys(doc).length === 0) throw new TnpError('TNP_ERR_INPUT_EMPTY', 'the input is an empty JSON object');
  if (typeof doc['resourceType'] !== 'string') throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', 'the input has no resourceType: it is not a FHIR resource');
  if (doc['resourceType'] !== 'Bundle') return [doc as unknown as Resource];
  const bundle = doc as unknown as Bundle;
  const entries = bundle.entry;
  if (entries === undefined || (Array.isArray(entries) && entries.length === 0)) {
    throw new TnpError('TNP_ERR_INPUT_EMPTY', 'the Bundle has no entries');
  }
  if (!Array.isArray(entries)) throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', 'Bundle.entry is not an array', { expression: ['Bundle.entry'] });
  const out: Resource[] = [];
  entries.forEach((e: unknown, i) => {
    if (!isObject(e)) throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', `Bundle.entry[${i}] is not an object`, { expression: [`Bundle.entry[${i}]`] });
    const r = e['resource'];
    if (r === undefined) return; // e.g. a search-result entry without a resource: nothing to read
    if (!isObject(r) || typeof r['resourceType'] !== 'string') {
      throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', `Bundle.entry[${i}].resource is not a FHIR resource`, { expression: [`Bundle.entry[${i}].resource`] });
    }
    if (r['resourceType'] === 'Bundle') out.push(...extractResources(r));
    else out.push(r as unknown as Resource);
  });
  if (out.length === 0) throw new TnpError('TNP_ERR_INPUT_EMPTY', 'the Bundle holds no resources');
  return out;
}

function codings(cc: unknown): Coding[] {
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

function statusOf(o: Record<string, unknown>): { status: StatusUse; text: string | null } {
  const s = o['status'];
  if (typeof s !== 'string') return { status: 'invalid', text: null };
  if (USED.has(s)) return { status: 'used', text: s };
  if (LISTED.has(s)) return { status: 'listed', text: s };
  if (VOID.has(s)) return { status: 'void', text: s };
  return { status: 'invalid', text: s };
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
function contentKeyOf(o: Record<string, unknown>): () => string {
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

function baseOf(o: Record<string, unknown>, ref: string) {
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

function formatNumber(x: unknown): string {
  return typeof x === 'number' ? String(x) : JSON.stringify(x) ?? 'undefined';
}

/** The keys of `o` that are a FHIR value[x] (in `Object.keys` order). */
function valueKeysOf(o: Record<string, unknown>): string[] {
  const keys: string[] = [];
  for (const k of Object.keys(o)) if (k.startsWith('value')) keys.push(k);
  return keys;
}

function troponinValue(o: Record<string, unknown>): TroponinValue {
  const valueKeys = valueKeysOf(o);
  const dar = o['dataAbsentReason'];
  if (valueKeys.length === 0) {
    if (dar === undefined && LISTED.has(String(o['status']))) {
      // Rule 12 (and ESC rule 11): a registered or preliminary result with no value yet is pending.
      return { kind: 'absent', reason: `no value yet: status ${String(o['status'])}, pending` };
    }
    if (dar !== undefined) {
      const text = isObject(dar) ? ((typeof dar['text'] === 'string' ? dar['text'] : undefined) ?? codings(dar).map((c) => c.display ?? c.code).join(', ')) : '';
      return { kind: 'absent', reason: `no value: ${text === '' ? 'dataAbsentReason given' : text}` };
    }
    return { kind: 'unreadable', reason: 'no value and no dataAbsentReason' };
  }
  if (dar !== undefined) return { kind: 'unreadable', reason: 'carries both a value and a dataAbsentReason' };
  if (valueKeys.length > 1) return { kind: 'unreadable', reason: `several values (${valueKeys.sort().join(', ')})` };
  if (valueKeys[0] !== 'valueQuantity') return { kind: 'unreadable', reason: `the value is a ${valueKeys[0] ?? 'value'}, not a valueQuantity` };
  const q = o['valueQuantity'];
  if (!isObject(q)) return { kind: 'unreadable', reason: 'valueQuantity is not an object' };
  const quantity = q as Quantity & Record<string, unknown>;
  const v = quantity.value as unknown;
  if (typeof v !== 'number' || !Number.isFinite(v)) return { kind: 'unreadable', reason: `the value ${formatNumber(v)} is not a number` };
  const comparator = quantity.comparator as unknown;
  if (comparator !== undefined && comparator !== '<' && comparator !== '<=' && comparator !== '>' && comparator !== '>=') {
    return { kind: 'unreadable', reason: comparator === 'ad' ? 'the comparator "ad" (sufficient to achieve) is not a measurement' : `unknown comparator ${formatNumber(comparator)}` };
  }
  if (v < 0) return { kind: 'unreadable', reason: `impossible value ${String(v)} (negative)` };
  let unit: string;
  const system = quantity.system as unknown;
  const code = quantity.code as unknown;
  const unitText = quantity.unit as unknown;
  // A unit system other than UCUM makes the result uninterpretable, whether or not a code is given:
  // the unit text is never read in place of a code of another system.
  if (system !== undefined && system !== UCUM_SYSTEM) return { kind: 'unreadable', reason: `the unit is from ${formatNumber(system)}, not UCUM` };
  if (code !== undefined) {
    if (typeof code !== 'string' || code === '') return { kind: 'unreadable', reason: 'the unit code is empty' };
    unit = code;
  } else if (typeof unitText === 'string' && unitText !== '') {
    unit = unitText;
  } else {
    return { kind: 'unreadable', reason: 'no unit' };
  }
  const factor = factorToNgPerL(unit);
  if (!factor.ok) return { kind: 'unreadable', reason: factor.problem };
  const measured = new Big(String(v));
  // ng/L and its equals: the value as given (times 1 is the same exact decimal).
  const x = factor.factor.eq(ONE) ? measured : measured.times(factor.factor);
  const reported = `${comparator ?? ''}${String(v)} ${unit}`;
  const cmp = comparator ?? null;
  const zero = ZERO;
  const range: MeasuredRange =
    cmp === null
      ? { kind: 'range', lo: x, loOpen: false, hi: x, hiOpen: false, reported, comparator: null }
      : cmp === '<'
        ? { kind: 'range', lo: zero, loOpen: false, hi: x, hiOpen: true, reported, comparator: cmp }
        : cmp === '<='
          ? { kind: 'range', lo: zero, loOpen: false, hi: x, hiOpen: false, reported, comparator: cmp }
          : cmp === '>'
            ? { kind: 'range', lo: x, loOpen: true, hi: null, hiOpen: true, reported, comparator: cmp }
            : { kind: 'range', lo: x, loOpen: false, hi: null, hiOpen: true, reported, comparator: cmp };
  return range;
}

function mapTroponin(o: Record<string, unknown>, ref: string, keys: readonly string[], maps: CodeMaps): TroponinFact {
  const found = new Map<string, 'site-mapping' | 'catalogue-default'>();
  for (const k of keys) {
    const m = maps.assayByCoding.get(k);
    if (m !== undefined && (found.get(m.assayId) ?? 'catalogue-default') === 'catalogue-default') found.set(m.assayId, m.source);
  }
  const ids = found.size === 1 ? [...found.keys()] : [...found.keys()].sort();
  const one = ids.length === 1 ? ids[0] : undefined;
  return {
    kind: 'troponin',
    ...baseOf(o, ref),
    assayId: one ?? null,
    assayProblem: one === undefined ? `its codings map to ${ids.length} different assays (${ids.join(', ')})` : null,
    assaySource: one === undefined ? null : (found.get(one) ?? null),
    value: troponinValue(o),
  };
}

const ECG_ORDER: readonly EcgMeaning[] = ['stemi-or-new-lbbb', 'lbbb-age-unknown', 'no-stemi-or-new-lbbb'];

function mapEcg(o: Record<string, unknown>, ref: string, maps: CodeMaps): EcgFact {
  const vcc = o['valueCodeableConcept'];
  const meanings = new Set<EcgMeaning>();
  let productClassified = false;
  for (const c of codings(vcc)) {
    const m = maps.ecgValues.get(codingKey(c.system ?? '', c.code ?? ''));
    if (m !== undefined) {
      meanings.add(m);
      if (c.system === maps.productSystem) productClassified = true;
    }
  }
  let valueProblem: string | null = null;
  if (vcc === undefined) valueProblem = 'no valueCodeableConcept';
  else if (meanings.size === 0) valueProblem = 'no ECG classification the pathway recognises';
  return { kind: 'ecg', ...baseOf(o, ref), meanings: ECG_ORDER.filter((m) => meanings.has(m)), productClassified, valueProblem };
}

function mapTimi(o: Record<string, unknown>, ref: string, maps: CodeMaps): TimiFact {
  const v = o['valueInteger'];
  let score: number | null = null;
  let valueProblem: string | null = null;
  if (typeof v === 'number' && Number.isInteger(v) && v >= maps.timiMin && v <= maps.timiMax) score = v;
  else if (v === undefined) valueProblem = `no valueInteger (a TIMI score is a valueInteger ${maps.timiMin} to ${maps.timiMax})`;
  else valueProblem = `valueInteger ${formatNumber(v)} is not a TIMI score ${maps.timiMin} to ${maps.timiMax}`;
  return { kind: 'timi', ...baseOf(o, ref), score, valueProblem };
}

/**
 * The chest-pain onset (esc-0h1h-0h2h.md section 6): a `valueDateTime`, or a `valuePeriod` whose start and
 * end are both date-times with a zone and start <= end (the onset is its end: the latest time the pain can
 * have begun). Any other value is unusable, with why; the engine decides usability in time and status.
 */
function onsetValue(o: Record<string, unknown>): OnsetValue {
  const valueKeys = valueKeysOf(o);
  if (valueKeys.length === 0) return { kind: 'unusable', reason: 'no value' };
  if (valueKeys.length > 1) return { kind: 'unusable', reason: `several values (${valueKeys.sort().join(', ')})` };
  const key = valueKeys[0] as string;
  if (key === 'valueDateTime') {
    const t = parseInstant(o[key]);
    return t.ok ? { kind: 'time', time: t.instant, basis: 'recorded', reported: String(o[key]) } : { kind: 'unusable', reason: `valueDateTime: ${t.problem}` };
  }
  if (key === 'valuePeriod') {
    const period = o[key];
    if (!isObject(period)) return { kind: 'unusable', reason: 'valuePeriod is not an object' };
    const start = parseInstant(period['start']);
    const end = parseInstant(period['end']);
    if (!start.ok) return { kind: 'unusable', reason: `valuePeriod.start: ${start.problem}` };
    if (!end.ok) return { kind: 'unusable', reason: `valuePeriod.end: ${end.problem}` };
    if (start.instant > end.instant) return { kind: 'unusable', reason: 'valuePeriod.start is after its end' };
    return { kind: 'time', time: end.instant, basis: 'period-end', reported: `${String(period['start'])} to ${String(period['end'])}` };
  }
  return { kind: 'unusable', reason: `the value is a ${key}, not a valueDateTime or valuePeriod` };
}

function mapOnset(o: Record<string, unknown>, ref: string): OnsetFact {
  return { kind: 'onset', ...baseOf(o, ref), value: onsetValue(o) };
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

function sexOf(p: Patient): Sex {
  const g = p.gender as unknown;
  return g === 'female' || g === 'male' || g === 'other' ? g : 'unknown';
}

/** Map resources to facts. Never throws on a resource's content: what cannot be read is said so. */
export function toFacts(resources: readonly Resource[], maps: CodeMaps): Facts {
  const observations: ObservationFact[] = [];
  const ignored: IgnoredInput[] = [];
  const sexes = new Set<Sex>();
  resources.forEach((r) => {
    const obj = r as unknown as Record<string, unknown>;
    const type = typeof obj['resourceType'] === 'string' ? obj['resourceType'] : 'resource';
    const ref = refOf(obj, type);
    if (type === 'Patient') {
      sexes.add(sexOf(r as Patient));
      return;
    }
    if (type !== 'Observation') {
      ignored.push({ ref, reason: `a ${type} is not used by the pathway` });
      return;
    }
    const o = r as Observation;
    const cs = codings(o.code);
    // Each coding's key made once, then looked up in each map in turn.
    const keys = cs.map((c) => codingKey(c.system ?? '', c.code ?? ''));
    if (keys.some((k) => maps.assayByCoding.has(k))) observations.push(mapTroponin(obj, ref, keys, maps));
    else if (keys.some((k) => maps.ecgCodes.has(k))) observations.push(mapEcg(obj, ref, maps));
    else if (keys.some((k) => maps.timiCodes.has(k))) observations.push(mapTimi(obj, ref, maps));
    else if (keys.some((k) => maps.onsetCodes.has(k))) observations.push(mapOnset(obj, ref));
    else {
      const shown = cs.map((c) => `${c.system ?? ''}|${c.code ?? ''}`).join(', ');
      ignored.push({ ref, reason: `not an observation the pathway reads (code ${shown === '' ? 'missing' : shown})` });
    }
  });
  const sex: Sex | null = sexes.size === 0 ? null : sexes.size === 1 ? ([...sexes][0] ?? 'unknown') : 'unknown';
  return { observations, sex, ignored };
}
