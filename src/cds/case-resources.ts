/**
 * FHIR resources rebuilt from a card link's case (src/cds/case-link.ts), anchored at any instant, for
 * the console to evaluate: the decision is the card's, since the pathway depends only on relative
 * times, and the rebuilt resources are named in the engine's tie-break order of the originals.
 */
import type { Resource } from 'fhir/r4.js';
import type { CaseTime, ConsoleCase } from './case-link.js';
import { UCUM, VALUE_ELEMENTS, type Json } from './case-vocabulary.js';

const MS_PER_MINUTE = 60_000;

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
    const copyOf = o.copyOf !== undefined && o.copyOf >= 0 && o.copyOf < i ? o.copyOf : i;
    const r: Json = {
      resourceType: 'Observation',
      // Zero-padded: the names sort in the case's order, the engine's tie-break order of the originals.
      id: `case-${String(copyOf + 1).padStart(3, '0')}`,
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
        ...(q.system !== undefined ? { system: q.system } : q.ucum === true ? { system: UCUM } : {}),
        ...(q.code === undefined ? {} : { code: q.code }),
      };
    }
    if (o.integer !== undefined) r['valueInteger'] = o.integer;
    if (o.concept !== undefined) r['valueCodeableConcept'] = { coding: o.concept.map(([system, code]) => ({ system, code })) };
    if (o.dt !== undefined) r['valueDateTime'] = time(o.dt);
    if (o.period !== undefined) r['valuePeriod'] = { ...(o.period.start === undefined ? {} : { start: time(o.period.start) }), ...(o.period.end === undefined ? {} : { end: time(o.period.end) }) };
    for (const key of VALUE_ELEMENTS.slice(0, o.other ?? 0)) r[key] = 'not kept in the link';
    if (o.absent !== undefined) r['dataAbsentReason'] = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: o.absent }] };
    resources.push(r as unknown as Resource);
  });
  return { resources, now: new Date(anchorMs + Math.round(c.now * MS_PER_MINUTE)).toISOString(), encounterId: c.encounter ? CASE_ENCOUNTER_ID : null };
}
