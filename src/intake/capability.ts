/**
 * `GET /fhir/metadata`: a CapabilityStatement that says exactly what the laboratory intake does, and
 * the FHIR answers it gives (Location, ETag, warnings as OperationOutcome issues).
 */
import type { OperationOutcome, OperationOutcomeIssue } from '../errors.js';
import type { Flag } from './item.js';

export function capabilityStatement(publicBaseUrl: string, version: string, date: string): Record<string, unknown> {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date,
    kind: 'instance',
    software: { name: 'hs-troponin-cds', version },
    implementation: { description: 'hs-troponin-cds laboratory result intake', url: `${publicBaseUrl}/fhir` },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'application/json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Laboratory results in, for the chest-pain pathway. Every result is stored (versions, never deleted), its episode re-evaluated and audited before the answer. Results the pathway cannot use are stored and flagged (meta.tag, and warnings with Prefer: return=OperationOutcome).',
        security: { cors: false, description: 'Authorization: Bearer <token> of a labClients entry of the site settings; reads also take an admin token. /fhir/metadata is open.' },
        resource: [
          {
            type: 'Observation',
            versioning: 'versioned',
            readHistory: true,
            updateCreate: false,
            conditionalCreate: true,
            conditionalRead: 'not-supported',
            conditionalUpdate: false,
            conditionalDelete: 'not-supported',
            interaction: [{ code: 'create' }, { code: 'read' }, { code: 'vread' }],
            documentation:
              'create is idempotent by Observation.identifier (system and value; without one, by content): the same result again is 200 with the stored version; other content is a new version (amended, corrected, entered-in-error voids). If-None-Exist takes identifier=system|value only. A result belongs to the lab client that sent it: another client naming it is refused 409. Lab clients read the results they sent. Only results the pathway reads (troponin, ECG, TIMI score, onset) open a chest-pain episode.',
          },
        ],
        interaction: [
          { code: 'batch', documentation: 'Bundle type batch: each entry POST Observation, processed in order, each on its own.' },
          { code: 'transaction', documentation: 'Bundle type transaction: each entry POST Observation, all stored in one transaction or none.' },
        ],
      },
    ],
  };
}

/** The warnings of a stored result, one issue per flag (information when there is none). */
export function outcomeOf(flags: readonly Flag[], where: string, stored: string): OperationOutcome {
  const issues: OperationOutcomeIssue[] = flags.map((f) => ({ severity: 'warning', code: 'business-rule', details: { text: `${f.code}: ${f.text}` }, expression: [where] }));
  return { resourceType: 'OperationOutcome', issue: issues.length > 0 ? issues : [{ severity: 'information', code: 'informational', details: { text: stored } }] };
}
