/**
 * The JSON Schema of the site settings file (README "Settings"): every key, its type and its bounds. The
 * laboratory and public-endpoint fragments come from src/settings-lab.ts and src/settings-public.ts;
 * src/settings.ts validates a file against it, checks what a schema cannot, and fills in the defaults.
 */
import { labSettingsSchema } from './settings-lab.js';
import { rateLimitRuleSchema } from './settings-public.js';
import { ALLOWED_JWT_ALGORITHMS } from './cds/jwt-algorithms.js';

const codingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['system', 'code'],
  properties: { system: { type: 'string', minLength: 1 }, code: { type: 'string', minLength: 1 } },
} as const;

/** A positive exact decimal written as a string ("26.2"): clinical limits are never binary floats. */
const decimalString = { type: 'string', pattern: '^(0\\.[0-9]*[1-9][0-9]*|[1-9][0-9]*(\\.[0-9]+)?)$' } as const;
const escTable = {
  type: 'object',
  additionalProperties: false,
  required: ['veryLow', 'low', 'noDelta', 'high', 'delta', 'source'],
  properties: { veryLow: decimalString, low: decimalString, noDelta: decimalString, high: decimalString, delta: decimalString, source: { type: 'string', minLength: 1 } },
} as const;

/** A list of a site's codings (system + code) each mapped to one value (an assay, an ECG meaning). */
function codeMappings(key: string, value: Record<string, unknown>) {
  return {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['system', 'code', key],
      properties: { system: { type: 'string', minLength: 1 }, code: { type: 'string', minLength: 1 }, [key]: value },
    },
  } as const;
}

export const settingsSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://hs-troponin-cds.example/schema/settings.json',
  title: 'hs-troponin-cds site settings',
  type: 'object',
  additionalProperties: false,
  properties: {
    publicBaseUrl: { type: 'string', format: 'uri', pattern: '^https?://' },
    cdsClients: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['iss'],
        properties: {
          iss: { type: 'string', minLength: 1 },
          jwks: {
            type: 'object',
            required: ['keys'],
            properties: { keys: { type: 'array', items: { type: 'object' } } },
          },
          jwksUrl: { type: 'string', format: 'uri', pattern: '^https?://' },
          tenant: { type: 'string' },
          fhirServers: { type: 'array', maxItems: 100, items: { type: 'string', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://', maxLength: 2048 } },
        },
        oneOf: [{ required: ['jwks'] }, { required: ['jwksUrl'] }],
      },
    },
    storage: {
      oneOf: [
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'path'],
          properties: { kind: { const: 'sqlite' }, path: { type: 'string', minLength: 1 } },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'url'],
          properties: { kind: { const: 'postgres' }, url: { type: 'string', pattern: '^postgres(ql)?://' } },
        },
      ],
    },
    healthCheckIntervalMs: { type: 'integer', minimum: 100, maximum: 3600000 },
    workers: { type: 'integer', minimum: 1, maximum: 256 },
    busyTimeoutMs: { type: 'integer', minimum: 100, maximum: 120000 },
    adminTokens: { type: 'array', items: { type: 'string', minLength: 16 } },
    ...labSettingsSchema,
    sexSpecificUrls: { type: 'boolean' },
    assayCodeMappings: codeMappings('assay', { type: 'string', minLength: 1 }),
    assays: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name', 'analyte', 'codings', 'url99', 'lod', 'sources'],
        properties: {
          id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]*$' },
          name: { type: 'string', minLength: 1 },
          analyte: { enum: ['T', 'I'] },
          codings: { type: 'array', items: codingSchema },
          url99: {
            type: 'object',
            additionalProperties: false,
            required: ['overall'],
            properties: { overall: decimalString, female: decimalString, male: decimalString },
          },
          lod: decimalString,
          sources: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          // The cut-off tables of the sample-window pathways, in the catalogue's form (pathways/assays.schema.json).
          esc0h1h: escTable,
          esc0h2h: escTable,
          highSteacs: {
            type: 'object',
            additionalProperties: false,
            required: ['ruleOut', 'noDelta', 'url99Female', 'url99Male', 'sources'],
            properties: { ruleOut: decimalString, noDelta: decimalString, url99Female: decimalString, url99Male: decimalString, sources: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } } },
          },
        },
      },
    },
    replaceAssayCatalogue: { type: 'boolean' },
    ecgCodeMappings: codeMappings('meaning', { enum: ['stemi-or-new-lbbb', 'no-stemi-or-new-lbbb', 'lbbb-age-unknown'] }),
    timiCodes: { type: 'array', items: codingSchema },
    pathway: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]*$' },
    displayTimeZone: { type: 'string', minLength: 1 },
    consoleDefaultAssay: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9-]*$',
      description: "An assay id of the catalogue (pathways/assays.json, or the site's `assays`): the console's case form starts with it, labelled as the site's default. Checked against the catalogue when the console starts.",
    },
    corsOrigins: { type: 'array', items: { type: 'string', pattern: '^https?://[^/]+$' } },
    fhirPullTimeoutMs: { type: 'integer', minimum: 100, maximum: 60000 },
    jwtClockToleranceSeconds: { type: 'integer', minimum: 0, maximum: 300 },
    jwtMaxLifetimeSeconds: { type: 'integer', minimum: 60, maximum: 86400 },
    jwtAlgorithms: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...ALLOWED_JWT_ALGORITHMS] } },
    rateLimit: {
      type: 'object',
      additionalProperties: false,
      properties: { consoleApi: rateLimitRuleSchema, consoleMap: rateLimitRuleSchema, consolePages: rateLimitRuleSchema, fhirMetadata: rateLimitRuleSchema },
    },
    trustedProxies: { type: 'array', items: { type: 'string', minLength: 1 } },
    caseLinkKey: { type: 'string', minLength: 32 },
    dataDir: { type: 'string', minLength: 1 },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    adoptionLateRetestMinutes: { type: 'integer', minimum: 0, maximum: 1440 },
  },
} as const;
