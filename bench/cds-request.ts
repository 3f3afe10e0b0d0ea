/**
 * The request of `npm run bench:cds`: a patient-view call with a prefetch of 6 Observations (an ECG, a TIMI
 * score and 4 hs-troponin T results), times relative to now.
 */
import { randomUUID } from 'node:crypto';

const PRODUCT = 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain';

/** The request: a patient-view call with a prefetch of 6 Observations (ECG, TIMI, 4 troponins). */
export function requestBody(): string {
  const now = Date.now();
  const at = (minutesAgo: number): string => new Date(now - minutesAgo * 60_000).toISOString();
  const obs = (id: string, extra: Record<string, unknown>): Record<string, unknown> => ({
    resourceType: 'Observation',
    id,
    meta: { versionId: '1', lastUpdated: at(1) },
    status: 'final',
    subject: { reference: 'Patient/bench-patient' },
    encounter: { reference: 'Encounter/bench-encounter' },
    ...extra,
  });
  const trop = (id: string, minutesAgo: number, value: number): Record<string, unknown> =>
    obs(id, {
      identifier: [{ system: 'http://lab.example.org/result-id', value: id }],
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '67151-1', display: 'Troponin T.cardiac [Mass/volume] in Serum or Plasma by High sensitivity method' }] },
      effectiveDateTime: at(minutesAgo),
      issued: at(minutesAgo - 40),
      valueQuantity: { value, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
    });
  const observations = [
    obs('ecg-1', { code: { coding: [{ system: 'http://loinc.org', code: '8601-7' }] }, effectiveDateTime: at(300), valueCodeableConcept: { coding: [{ system: PRODUCT, code: 'no-stemi-or-new-lbbb' }] } }),
    obs('timi-1', { code: { coding: [{ system: PRODUCT, code: 'timi-risk-score' }] }, effectiveDateTime: at(295), valueInteger: 2 }),
    trop('tn-1', 290, 8),
    trop('tn-2', 200, 9),
    trop('tn-3', 100, 9),
    trop('tn-4', 60, 9),
  ];
  return JSON.stringify({
    hook: 'patient-view',
    hookInstance: randomUUID(),
    fhirServer: 'https://ehr.hospital.example/fhir',
    context: { userId: 'Practitioner/bench-user', patientId: 'bench-patient', encounterId: 'bench-encounter' },
    prefetch: { observations: { resourceType: 'Bundle', type: 'searchset', total: observations.length, entry: observations.map((r) => ({ fullUrl: `https://ehr.hospital.example/fhir/Observation/${String(r['id'])}`, resource: r, search: { mode: 'match' } })) } },
  });
}
