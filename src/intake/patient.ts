import { isObject } from '../util/guards.js';
/**
 * Who a result is about. Laboratories name the patient by reference (`Patient/123`) or by identifier
 * (the NHS number, a hospital number); HL7 v2 by PID-3's identifiers. One patient is one key:
 *
 *   the NHS number when given, else the first identifier (system and value), else the reference id.
 *
 * Every identifier (and the reference) a result carries is linked to that key, so a CDS call whose Patient
 * carries any of them finds the results (src/intake/cds-merge.ts). Two results of one person that share no
 * identifier at all are two patients here (no record linkage is attempted; see README limitations).
 */

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';

export interface PatientRef {
  /** The patient key: `id|<system>|<value>` or `ref|Patient/<id>`. */
  readonly key: string;
  /** How the worklist names the patient: `{ system, value }` or `{ reference }`. */
  readonly display: Readonly<Record<string, string>>;
  /** Every identifier and reference key the result carries (the key among them). */
  readonly links: readonly string[];
}

export interface Identifier {
  readonly system: string;
  readonly value: string;
}

export const identifierKey = (i: Identifier): string => `id|${i.system}|${i.value}`;
export const referenceKey = (id: string): string => `ref|Patient/${id}`;

/** The Patient id of a reference (`Patient/1`, `https://host/fhir/Patient/1/_history/2`), or null. */
export function patientIdOfReference(ref: string): string | null {
  const m = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/?#]+)?$/.exec(ref);
  return m?.[1] ?? null;
}

/** An identifier with a system and a value, or null. */
export function identifierOf(x: unknown): Identifier | null {
  if (!isObject(x) || typeof x['system'] !== 'string' || typeof x['value'] !== 'string' || x['system'] === '' || x['value'].trim() === '') return null;
  return { system: x['system'], value: x['value'].trim() };
}

/** The patient of a result: its `subject` (reference and/or identifier) and any further identifiers (HL7 PID-3). */
export function patientOf(subject: unknown, more: readonly Identifier[] = []): PatientRef | null {
  const ids: Identifier[] = [];
  let refId: string | null = null;
  if (isObject(subject)) {
    const own = identifierOf(subject['identifier']);
    if (own !== null) ids.push(own);
    if (typeof subject['reference'] === 'string') refId = patientIdOfReference(subject['reference']);
  }
  for (const i of more) if (!ids.some((x) => x.system === i.system && x.value === i.value)) ids.push(i);
  const preferred = ids.find((i) => i.system === NHS_NUMBER_SYSTEM) ?? ids[0];
  const links = [...ids.map(identifierKey), ...(refId === null ? [] : [referenceKey(refId)])];
  if (preferred !== undefined) return { key: identifierKey(preferred), display: { system: preferred.system, value: preferred.value }, links };
  if (refId !== null) return { key: referenceKey(refId), display: { reference: `Patient/${refId}` }, links };
  return null;
}

/** The keys a CDS call can find a patient's results by: its Patient's identifiers and `context.patientId`. */
export function lookupKeys(patientId: string, patient: unknown): string[] {
  const keys = [referenceKey(patientId)];
  if (isObject(patient) && patient['resourceType'] === 'Patient' && patient['id'] === patientId && Array.isArray(patient['identifier'])) {
    for (const x of (patient['identifier'] as unknown[]).slice(0, 20)) {
      const i = identifierOf(x);
      if (i !== null) keys.push(identifierKey(i));
    }
  }
  return keys;
}
