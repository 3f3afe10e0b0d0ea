/**
 * One Observation the pathway reads -> its fact: a troponin, an ECG, a TIMI score or the chest-pain
 * onset. Pure: no network, no clock. What cannot be read is said on the fact, never thrown.
 */
import type { CodeMaps } from '../engine/catalogue.js';
import { codingKey } from '../engine/catalogue.js';
import { parseInstant } from '../engine/time.js';
import type { EcgFact, EcgMeaning, OnsetFact, OnsetValue, TimiFact, TroponinFact } from '../engine/types.js';
import { isObject } from '../util/guards.js';
import { baseOf, codings, formatNumber, valueKeysOf } from './resource-fields.js';
import { troponinValue } from './troponin-value.js';

export function mapTroponin(o: Record<string, unknown>, ref: string, keys: readonly string[], maps: CodeMaps): TroponinFact {
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

export function mapEcg(o: Record<string, unknown>, ref: string, maps: CodeMaps): EcgFact {
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

export function mapTimi(o: Record<string, unknown>, ref: string, maps: CodeMaps): TimiFact {
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

export function mapOnset(o: Record<string, unknown>, ref: string): OnsetFact {
  return { kind: 'onset', ...baseOf(o, ref), value: onsetValue(o) };
}
