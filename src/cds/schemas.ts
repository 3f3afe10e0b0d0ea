/**
 * JSON Schemas of the CDS Hooks 2.0 request bodies, compiled once by fastify. CDS Hooks 2.0 ships no
 * official JSON Schema; these encode its REQUIRED fields and the invariants of the IG
 * (`cds-r-1`: fhirAuthorization requires fhirServer; `cds-fb-1`: outcome accepted|overridden;
 * `cds-fb-2`: accepted requires acceptedSuggestions; `cds-fb-3`: overrideReason has reason or userComment).
 * Unknown members are allowed (CDS Hooks: ignore what you do not know), and nothing is coerced.
 */

/** A FHIR id (R4 `id` datatype): it is used in FHIR searches and references. */
export const FHIR_ID_PATTERN = '^[A-Za-z0-9\\-.]{1,64}$';
/** Printable ASCII, no spaces: what is safe in logs and audit keys. */
const TOKEN_PATTERN = '^[\\x21-\\x7e]{1,200}$';

const coding = {
  type: 'object',
  required: ['system', 'code'],
  properties: { system: { type: 'string', minLength: 1, maxLength: 2048 }, code: { type: 'string', minLength: 1, maxLength: 512 }, display: { type: 'string', maxLength: 2048 } },
} as const;

/** `POST /cds-services/{id}`: the patient-view call (CDS Hooks 2.0 "HTTP Request"; hook context per CDS Hooks Library 1.0.1). */
export const serviceRequestSchema = {
  type: 'object',
  required: ['hook', 'hookInstance', 'context'],
  properties: {
    hook: { type: 'string', minLength: 1, maxLength: 200 },
    hookInstance: { type: 'string', pattern: TOKEN_PATTERN },
    fhirServer: { type: 'string', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$', maxLength: 2048 },
    fhirAuthorization: {
      type: 'object',
      required: ['access_token'],
      properties: {
        access_token: { type: 'string', minLength: 1, maxLength: 16384 },
        token_type: { type: 'string', pattern: '^[Bb][Ee][Aa][Rr][Ee][Rr]$' },
        expires_in: { type: 'number' },
        scope: { type: 'string' },
        subject: { type: 'string' },
        patient: { type: 'string' },
      },
    },
    context: {
      type: 'object',
      required: ['userId', 'patientId'],
      properties: {
        userId: { type: 'string', minLength: 1, maxLength: 512 },
        patientId: { type: 'string', pattern: FHIR_ID_PATTERN },
        encounterId: { type: 'string', pattern: FHIR_ID_PATTERN },
      },
    },
    prefetch: { type: ['object', 'null'] },
  },
  dependencies: { fhirAuthorization: ['fhirServer'] },
} as const;

/** `POST /cds-services/{id}/feedback` (CDS Hooks 2.0 "Feedback"). */
export const feedbackRequestSchema = {
  type: 'object',
  required: ['feedback'],
  properties: {
    feedback: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: {
        type: 'object',
        required: ['card', 'outcome', 'outcomeTimestamp'],
        properties: {
          card: { type: 'string', pattern: TOKEN_PATTERN },
          outcome: { enum: ['accepted', 'overridden'] },
          acceptedSuggestions: { type: 'array', maxItems: 100, items: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } } },
          overrideReason: {
            type: 'object',
            properties: { reason: coding, userComment: { type: 'string', maxLength: 4000 } },
            anyOf: [{ required: ['reason'] }, { required: ['userComment'] }],
          },
          outcomeTimestamp: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$' },
        },
        if: { properties: { outcome: { const: 'accepted' } } },
        then: { required: ['acceptedSuggestions'] },
      },
    },
  },
} as const;
