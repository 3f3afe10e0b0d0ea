/**
 * JSON Schemas of the console API's request bodies, and the one validator that applies them. The
 * console validates with its own Ajv instance (no coercion, no removal of unknown keys), whatever the
 * Fastify instance it is registered on was configured with.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { TnpError } from '../errors.js';
import { describeSchemaErrors } from '../settings.js';

const isoInstant = { type: 'string', minLength: 10, maxLength: 64 } as const;

export const evaluateBodySchema = {
  $id: 'https://hs-troponin-cds.example/schema/console-evaluate.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    bundle: { type: 'object' },
    resources: { type: 'array' },
    case: { type: 'string', minLength: 1, maxLength: 65_536 },
    now: isoInstant,
    encounter: { type: 'string', minLength: 1, maxLength: 256 },
    settings: {
      type: 'object',
      additionalProperties: false,
      properties: { sexSpecificUrls: { type: 'boolean' } },
    },
  },
  oneOf: [{ required: ['bundle'] }, { required: ['resources'] }, { required: ['case'] }],
} as const;

export const mapBodySchema = {
  $id: 'https://hs-troponin-cds.example/schema/console-map.json',
  type: 'object',
  additionalProperties: false,
  required: ['assay', 'baseline', 'timi'],
  properties: {
    assay: { type: 'string', minLength: 1, maxLength: 100 },
    baseline: {
      oneOf: [
        { type: 'string', pattern: '^(0|[1-9][0-9]{0,5})(\\.[0-9]{1,6})?$' },
        { type: 'number', minimum: 0, maximum: 1000000 },
      ],
    },
    timi: { type: 'integer', minimum: 0, maximum: 7 },
    sex: { enum: ['female', 'male', 'other', 'unknown'] },
  },
} as const;

export interface EvaluateBody {
  readonly bundle?: Record<string, unknown>;
  readonly resources?: unknown[];
  readonly case?: string;
  readonly now?: string;
  readonly encounter?: string;
  readonly settings?: { readonly sexSpecificUrls?: boolean };
}

export interface MapBody {
  readonly assay: string;
  readonly baseline: string | number;
  readonly timi: number;
  readonly sex?: 'female' | 'male' | 'other' | 'unknown';
}

const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
const validators = {
  evaluate: ajv.compile<EvaluateBody>(evaluateBodySchema),
  map: ajv.compile<MapBody>(mapBodySchema),
};

function check<T>(kind: 'evaluate' | 'map', v: ValidateFunction<T>, body: unknown, oneOfText: string): T {
  if (body === undefined || body === null) throw new TnpError('TNP_ERR_CONSOLE_REQUEST_INVALID', `the ${kind} request needs a JSON object body`);
  if (v(body)) return body;
  const raw = describeSchemaErrors(v.errors ?? []);
  // A failed oneOf is reported once, in words, without Ajv's noise about each alternative.
  const oneOf = raw.some((p) => p.includes('oneOf'));
  const problems = [...new Set(oneOf ? [oneOfText, ...raw.filter((p) => !p.includes('oneOf') && !p.includes('must have required property') && !p.includes('must be string') && !p.includes('must be number'))] : raw)];
  throw new TnpError('TNP_ERR_CONSOLE_REQUEST_INVALID', `invalid ${kind} request: ${problems.join('; ')}`, { details: problems });
}

/** Validate an evaluate body; throws TNP_ERR_CONSOLE_REQUEST_INVALID naming each problem. */
export function validateEvaluateBody(body: unknown): EvaluateBody {
  return check('evaluate', validators.evaluate, body, 'give exactly one of "bundle" (a FHIR Bundle), "resources" (an array of FHIR resources) or "case" (a case link)');
}

/** Validate a map body; throws TNP_ERR_CONSOLE_REQUEST_INVALID naming each problem. */
export function validateMapBody(body: unknown): MapBody {
  return check('map', validators.map, body, '"baseline" must be a number of ng/L from 0 to 1000000 with at most 6 decimals');
}
