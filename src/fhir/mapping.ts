/**
 * FHIR R4 resources -> the engine's facts. Pure: no network, no clock.
 *
 * Every resource given is accounted for: it becomes a fact, or it is listed in `ignored` with the reason.
 * Readability is decided here (units, values, times, codes); what the data mean clinically (status,
 * episode, baseline, classification) is decided by the engine, so that the trace can say why.
 */
import type { Observation, Patient, Resource } from 'fhir/r4.js';
import type { CodeMaps } from '../engine/catalogue.js';
import { codingKey } from '../engine/catalogue.js';
import type { Facts, IgnoredInput, ObservationFact, Sex } from '../engine/types.js';
import { mapEcg, mapOnset, mapTimi, mapTroponin } from './observations.js';
import { codings, fullUrlOf, refOf, subjectPatientId } from './resource-fields.js';

export { extractResources } from './bundle.js';
export { drawTimeOf, encounterIdOf, fullUrlOf, refOf, subjectPatientId, subjectReference } from './resource-fields.js';

/** An id as a reason quotes it: at most 64 characters, as a resource's own reference is shown. */
const shortId = (id: string): string => id.slice(0, 64);

/**
 * The case's patient as a reason names it: `Patient/<id>`, or the reference itself when the case's
 * patient is named by a Bundle's `fullUrl` (a FHIR id never holds ":" or "/").
 */
export function casePatientRef(key: string): string {
  return /[:/]/.test(key) ? key.slice(0, 128) : `Patient/${shortId(key)}`;
}

function sexOf(p: Patient): Sex {
  const g = p.gender as unknown;
  return g === 'female' || g === 'male' || g === 'other' ? g : 'unknown';
}

/**
 * Map one patient's resources to facts. Never throws on a resource's content: what cannot be read is said so.
 *
 * `patientId` is the patient whose case this is (C2 rule 14): the sex is read only from the Patient with
 * that id, and an Observation whose subject names another patient is not used. With null (no patient is
 * named: nothing to read a sex from, or results already grouped by patient), no Patient is read and the
 * sex is unknown. Either way each resource left out is listed in `ignored` with the reason.
 */
export function toFacts(resources: readonly Resource[], maps: CodeMaps, patientId: string | null): Facts {
  const observations: ObservationFact[] = [];
  const ignored: IgnoredInput[] = [];
  const sexes = new Set<Sex>();
  resources.forEach((r) => {
    const obj = r as unknown as Record<string, unknown>;
    const type = typeof obj['resourceType'] === 'string' ? obj['resourceType'] : 'resource';
    const ref = refOf(obj, type);
    if (type === 'Patient') {
      if (patientId !== null && (obj['id'] === patientId || fullUrlOf(obj) === patientId)) sexes.add(sexOf(r as Patient));
      else ignored.push({ ref, kind: 'patient', reason: patientId === null ? 'a Patient no observation names as its subject: its sex is not read (rule 14)' : `a Patient other than the case's (${casePatientRef(patientId)}): its sex is not read (rule 14)` });
      return;
    }
    if (type !== 'Observation') {
      ignored.push({ ref, reason: `a ${type} is not used by the pathway` });
      return;
    }
    // A case named by a fullUrl (no Patient id to compare) is already one patient's: casePatientId checked it.
    const subject = patientId === null || /[:/]/.test(patientId) ? null : subjectPatientId(obj);
    if (patientId !== null && subject !== null && subject !== patientId) {
      ignored.push({ ref, reason: `about another patient (Patient/${shortId(subject)}) than the case's (${casePatientRef(patientId)})` });
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
