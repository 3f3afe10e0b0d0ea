/**
 * The inputs of the frozen audit records (tests/golden/audit-format-v1.json): what the golden test feeds
 * to today's code, whose rows (canonical body text, hashes, chain links) and resource digests must be
 * byte for byte those written by the code that froze them. Built in code, not read from JSON, so that
 * what JSON cannot carry (undefined members, -0, holes) goes through the canonical walk too.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AuditRecordInput } from '../../src/audit/record.js';
import { inputDigests, resourceDigest } from '../../src/audit/input-digests.js';
import { extractResources } from '../../src/fhir/mapping.js';

const FIXTURE = fileURLToPath(new URL('../../fhir-fixtures/baseline-above-url-rise.json', import.meta.url));

/** A fixture's resources and a few odd ones (no id, not an object, a number JSON writes in exponent form). */
export function goldenResources(): unknown[] {
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as unknown;
  return [
    ...extractResources(fixture),
    { resourceType: 'Observation', status: 'final' },
    'not a resource',
    { resourceType: 'Observation', id: 'x', meta: { versionId: '3', lastUpdated: '2026-01-01T00:00:00Z' }, valueQuantity: { value: 1e21 } },
  ];
}

export function goldenInputs(): (AuditRecordInput & { readonly id: string })[] {
  const digests = goldenResources().map(resourceDigest);
  const edge = {
    zeta: 1, Alpha: 'A', alpha: 'a', 'é': 'e acute', '\u{1F600}': 'emoji key', '\uFF01': 'fullwidth', '': 'empty key',
    numbers: [0, -0, 0.1, 1e21, 1e-7, 123456789012345680000, -1.5, 2 ** 53, 5e-324],
    strings: ['"quoted"', 'back\\slash', 'line\nbreak', '\u2028\u2029', 'tab\t', '\u0001\u001f', 'caf\u00e9', '\u{1F600}', '</script>'],
    nested: { b: [{ y: null, x: true }, [], {}], a: { undefinedMember: undefined, kept: false } },
    sparse: [1, undefined, 3],
  };
  const trace = Array.from({ length: 30 }, (_, i) => ({ step: i, rule: `rule-${i % 7}`, values: { baseline: '12.5', url: 14, unit: 'ng/L' }, passed: i % 2 === 0, note: i % 3 === 0 ? undefined : `step ${i}` }));
  return [
    { id: 'golden-0001', kind: 'evaluation', at: '2026-03-06T15:20:00.000Z', patientId: 'patient-1', body: { service: 'hs-troponin-chest-pain', client: { iss: 'https://ehr.example', jti: 'j1', kid: 'k', tenant: null }, ...inputDigests(digests), outcome: 'consistent-with-mi', trace, edge } },
    { id: 'golden-0002', kind: 'feedback', at: '2026-03-06T15:21:00Z', patientId: 'patient-1', linksTo: 'golden-0001', idempotencyKey: 'feedback|golden-0001|accepted|abc', body: { card: 'golden-0001', outcome: 'accepted', acceptedSuggestions: [], overrideReason: null } },
    { id: 'golden-0003', kind: 'lab-intake', at: '2026-03-06T15:22:00.123456789Z', patientId: null, body: { labClient: 'main-lab', results: [] } },
    { id: 'golden-0004', kind: 'evaluation-failure', at: '2026-03-06T15:23:00.000Z', patientId: 'p\u00e9-2', body: { error: { code: 'TNP_ERR_FHIR_UNAVAILABLE', status: 412, message: 'x' }, prefetchKeys: [] } },
  ];
}
