/**
 * Site settings: parsed once, validated against a JSON Schema, defaulted, deep-frozen and passed down.
 * Nothing else in the product reads `process.env` or the settings file.
 *
 * The settings that bear on decisions (`decisionSettings`) are hashed into every decision
 * (`settingsSha256`), so a decision can be reproduced exactly.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import { TnpError } from './errors.js';
import { deepFreeze } from './util/freeze.js';
import { checkLabClients, labSettingsSchema, type LabClientSettings, type NotificationSettings } from './settings-lab.js';

export type { LabClientSettings, NotificationSettings } from './settings-lab.js';
import type { AssayDefinition, DecisionOptions } from './engine/catalogue.js';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = addFormatsImport as unknown as (ajv: Ajv2020) => Ajv2020;

export interface CdsClientSettings {
  readonly iss: string;
  readonly jwks?: { readonly keys: readonly Record<string, unknown>[] };
  readonly jwksUrl?: string;
  readonly tenant?: string;
}

export type StorageSettings =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string };

/**
 * The settings that bear on decisions are the engine's `DecisionOptions` (a site's assays, its code
 * mappings, sex-specific URLs): hashed into every decision as `settingsSha256`.
 */
export type DecisionSettings = DecisionOptions;
export type SiteAssay = AssayDefinition;

export interface Settings extends DecisionSettings {
  readonly host: string;
  readonly port: number;
  readonly publicBaseUrl: string;
  readonly cdsClients: readonly CdsClientSettings[];
  readonly storage: StorageSettings;
  /** How long a write outcome of the audit store answers /healthz before a heartbeat is written. */
  readonly healthCheckIntervalMs: number;
  readonly adminTokens: readonly string[];
  readonly labClients: readonly LabClientSettings[];
  /** The MLLP listener (HL7 v2); off when null. */
  readonly hl7: { readonly host: string; readonly port: number } | null;
  /** Bearer tokens that may read episodes (admin tokens may too). */
  readonly worklistTokens: readonly string[];
  readonly notifications: readonly NotificationSettings[];
  readonly pathway: string;
  readonly displayTimeZone: string;
  readonly corsOrigins: readonly string[];
  readonly fhirPullTimeoutMs: number;
  readonly jwtClockToleranceSeconds: number;
  readonly jwtMaxLifetimeSeconds: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

const codingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['system', 'code'],
  properties: { system: { type: 'string', minLength: 1 }, code: { type: 'string', minLength: 1 } },
} as const;

/** A positive exact decimal written as a string ("26.2"): clinical limits are never binary floats. */
const decimalString = { type: 'string', pattern: '^(0\\.[0-9]*[1-9][0-9]*|[1-9][0-9]*(\\.[0-9]+)?)$' } as const;

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
        },
      },
    },
    replaceAssayCatalogue: { type: 'boolean' },
    ecgCodeMappings: codeMappings('meaning', { enum: ['stemi-or-new-lbbb', 'no-stemi-or-new-lbbb', 'lbbb-age-unknown'] }),
    timiCodes: { type: 'array', items: codingSchema },
    pathway: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]*$' },
    displayTimeZone: { type: 'string', minLength: 1 },
    corsOrigins: { type: 'array', items: { type: 'string', pattern: '^https?://[^/]+$' } },
    fhirPullTimeoutMs: { type: 'integer', minimum: 100, maximum: 60000 },
    jwtClockToleranceSeconds: { type: 'integer', minimum: 0, maximum: 300 },
    jwtMaxLifetimeSeconds: { type: 'integer', minimum: 60, maximum: 86400 },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
  },
} as const;

const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(ajv);
const validate = ajv.compile(settingsSchema);

/** Names the offending key of each Ajv error the way a person edits the file: `cdsClients[0].iss`. */
export function describeSchemaErrors(errors: readonly { instancePath: string; keyword: string; message?: string; params: Record<string, unknown> }[]): string[] {
  return errors.map((e) => {
    const path = e.instancePath
      .split('/')
      .filter((s) => s !== '')
      .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`))
      .join('')
      .replace(/^\./, '');
    if (e.keyword === 'additionalProperties') {
      const extra = String(e.params['additionalProperty']);
      return `unknown key "${path === '' ? extra : `${path}.${extra}`}"`;
    }
    return `"${path === '' ? '(root)' : path}" ${e.message ?? 'is invalid'}`;
  });
}

export interface SettingsSource {
  /** The process environment (only HS_TROPONIN_CDS_SETTINGS, HOST and PORT are read). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A settings file path; overrides HS_TROPONIN_CDS_SETTINGS. */
  readonly file?: string;
  /** Settings given as an object (tests); no file is read. */
  readonly object?: unknown;
}

function readSettingsFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new TnpError('TNP_ERR_SETTINGS_UNREADABLE', `cannot read the settings file ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new TnpError('TNP_ERR_SETTINGS_UNREADABLE', `the settings file ${path} is not JSON: ${(cause as Error).message}`, { cause });
  }
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 8080;
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new TnpError('TNP_ERR_SETTINGS_INVALID', `PORT must be an integer 0 to 65535, got "${raw}"`);
  return Number(raw);
}

/**
 * Parse, validate, default and freeze the settings. Throws TNP_ERR_SETTINGS_* with the offending key
 * named. Without a file the built-in defaults apply: no CDS client is trusted.
 */
export function loadSettings(source: SettingsSource = {}): Settings {
  const env = source.env ?? {};
  const host = env['HOST'] !== undefined && env['HOST'] !== '' ? env['HOST'] : '127.0.0.1';
  const port = parsePort(env['PORT']);
  const file = source.file ?? (env['HS_TROPONIN_CDS_SETTINGS'] !== '' ? env['HS_TROPONIN_CDS_SETTINGS'] : undefined);
  const raw: unknown = source.object !== undefined ? source.object : file !== undefined ? readSettingsFile(file) : {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new TnpError('TNP_ERR_SETTINGS_INVALID', 'the settings must be a JSON object');
  }
  if (!validate(raw)) {
    const problems = describeSchemaErrors(validate.errors ?? []);
    throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings${file !== undefined ? ` in ${file}` : ''}: ${problems.join('; ')}`, { details: problems });
  }
  const s = raw as Partial<Settings>;
  if (s.displayTimeZone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-GB', { timeZone: s.displayTimeZone });
    } catch {
      throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "displayTimeZone" is not a known IANA time zone: ${s.displayTimeZone}`);
    }
  }
  checkLabClients(s.labClients ?? []);
  const publicBaseUrl = (s.publicBaseUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, '');
  const settings: Settings = {
    host,
    port,
    publicBaseUrl,
    cdsClients: s.cdsClients ?? [],
    storage: s.storage ?? { kind: 'sqlite', path: 'data/hs-troponin-cds.sqlite' },
    healthCheckIntervalMs: s.healthCheckIntervalMs ?? 5000,
    adminTokens: s.adminTokens ?? [],
    labClients: (s.labClients ?? []).map((c) => ({ ...c, hl7Facilities: c.hl7Facilities ?? [], hl7CodingSystems: c.hl7CodingSystems ?? {}, hl7IdentifierSystems: c.hl7IdentifierSystems ?? {} })),
    hl7: s.hl7 === undefined || s.hl7 === null ? null : { host: s.hl7.host ?? '127.0.0.1', port: s.hl7.port },
    worklistTokens: s.worklistTokens ?? [],
    notifications: s.notifications ?? [],
    sexSpecificUrls: s.sexSpecificUrls ?? false,
    assayCodeMappings: s.assayCodeMappings ?? [],
    assays: s.assays ?? [],
    replaceAssayCatalogue: s.replaceAssayCatalogue ?? false,
    ecgCodeMappings: s.ecgCodeMappings ?? [],
    timiCodes: s.timiCodes ?? [],
    pathway: s.pathway ?? 'chart2',
    displayTimeZone: s.displayTimeZone ?? 'Europe/London',
    corsOrigins: s.corsOrigins ?? [],
    fhirPullTimeoutMs: s.fhirPullTimeoutMs ?? 3000,
    jwtClockToleranceSeconds: s.jwtClockToleranceSeconds ?? 5,
    jwtMaxLifetimeSeconds: s.jwtMaxLifetimeSeconds ?? 3600,
    logLevel: s.logLevel ?? 'info',
  };
  return deepFreeze(settings);
}

/** The decision-bearing subset, in a fixed key order (hashed into every decision). */
export function decisionSettingsOf(s: DecisionSettings): DecisionSettings {
  return {
    sexSpecificUrls: s.sexSpecificUrls,
    assayCodeMappings: s.assayCodeMappings,
    assays: s.assays,
    replaceAssayCatalogue: s.replaceAssayCatalogue,
    ecgCodeMappings: s.ecgCodeMappings,
    timiCodes: s.timiCodes,
  };
}
