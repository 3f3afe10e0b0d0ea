/**
 * Site settings: parsed once, validated against their JSON Schema (src/settings-schema.ts), defaulted,
 * deep-frozen and passed down.
 * Nothing else in the product reads `process.env` or the settings file.
 *
 * The settings that bear on decisions (`decisionSettings`) are hashed into every decision
 * (`settingsSha256`), so a decision can be reproduced exactly.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import { TnpError } from './errors.js';
import { deepFreeze } from './util/freeze.js';
import { fhirBaseSettingProblem } from './fhir/allow-list.js';
import { isProxyAddress, RATE_LIMIT_DEFAULTS, type RateLimitSettings } from './settings-public.js';
import { checkLabClients, type LabClientSettings, type NotificationSettings } from './settings-lab.js';
import { settingsSchema } from './settings-schema.js';
import type { DecisionOptions } from './engine/catalogue.js';
import { DEFAULT_JWT_ALGORITHMS, type JwtAlgorithm } from './cds/jwt-algorithms.js';
import { inlineKeyProblems } from './cds/jwk-settings.js';

export type { LabClientSettings, NotificationSettings } from './settings-lab.js';
export type { RateLimitRule, RateLimitSettings } from './settings-public.js';
export { settingsSchema } from './settings-schema.js';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = addFormatsImport as unknown as (ajv: Ajv2020) => Ajv2020;

export interface CdsClientSettings {
  readonly iss: string;
  readonly jwks?: { readonly keys: readonly Record<string, unknown>[] };
  readonly jwksUrl?: string;
  readonly tenant?: string;
  /** The FHIR server bases this client may name as `fhirServer` (src/fhir/allow-list.ts); none: no FHIR pull. */
  readonly fhirServers?: readonly string[];
}

export type StorageSettings =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string };

/**
 * The settings that bear on decisions are the engine's `DecisionOptions` (a site's assays, its code
 * mappings, sex-specific URLs): hashed into every decision as `settingsSha256`.
 */
export type DecisionSettings = DecisionOptions;

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
  /** The assay the console's case form starts with, labelled as the site's default; null: none (the form starts empty). */
  readonly consoleDefaultAssay: string | null;
  readonly corsOrigins: readonly string[];
  readonly fhirPullTimeoutMs: number;
  readonly jwtClockToleranceSeconds: number;
  readonly jwtMaxLifetimeSeconds: number;
  /** The algorithms a client key published without `alg` verifies (a key with `alg` verifies that one only). */
  readonly jwtAlgorithms: readonly JwtAlgorithm[];
  readonly rateLimit: RateLimitSettings;
  /** Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR ranges); empty: none. */
  readonly trustedProxies: readonly string[];
  /** The key that signs card links to the console; null: the key file in `dataDir`. */
  readonly caseLinkKey: string | null;
  /** Where the service keeps the files it makes (the case-link key), relative to the working directory. */
  readonly dataDir: string;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Adoption report: a retest drawn more than this many minutes after its due time is late (pathways without sample windows). */
  readonly adoptionLateRetestMinutes: number;
  /** Service processes (src/cluster.ts); 1: one process, as before cluster mode. Default: the number of cores. */
  readonly workers: number;
  /** How long a store write waits for another process's writer lock before a 503 (hazard S-70). Default 5000; 15000 with several workers. */
  readonly busyTimeoutMs: number;
}

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
  const badBases = (s.cdsClients ?? []).flatMap((c, i) =>
    (c.fhirServers ?? []).flatMap((base, j) => {
      const problem = fhirBaseSettingProblem(base);
      return problem === null ? [] : [`"cdsClients[${i}].fhirServers[${j}]" ${problem}`];
    }),
  );
  if (badBases.length > 0) throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings${file !== undefined ? ` in ${file}` : ''}: ${badBases.join('; ')}`, { details: badBases });
  // A key no token could verify against stops the start here, named, not each call later with a 401.
  const badKeys = inlineKeyProblems(s.cdsClients ?? [], s.jwtAlgorithms ?? DEFAULT_JWT_ALGORITHMS);
  if (badKeys.length > 0) throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings${file !== undefined ? ` in ${file}` : ''}: ${badKeys.join('; ')}`, { details: badKeys });
  if (s.displayTimeZone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-GB', { timeZone: s.displayTimeZone });
    } catch {
      throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "displayTimeZone" is not a known IANA time zone: ${s.displayTimeZone}`);
    }
  }
  const badProxy = (s.trustedProxies ?? []).findIndex((p) => !isProxyAddress(p));
  if (badProxy >= 0) {
    throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "trustedProxies[${badProxy}]" must be an IP address or a CIDR range (e.g. 10.0.0.0/8), got "${s.trustedProxies?.[badProxy] ?? ''}"`);
  }
  checkLabClients(s.labClients ?? []);
  const workers = s.workers ?? availableParallelism();
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
    consoleDefaultAssay: s.consoleDefaultAssay ?? null,
    corsOrigins: s.corsOrigins ?? [],
    fhirPullTimeoutMs: s.fhirPullTimeoutMs ?? 3000,
    jwtClockToleranceSeconds: s.jwtClockToleranceSeconds ?? 5,
    jwtMaxLifetimeSeconds: s.jwtMaxLifetimeSeconds ?? 3600,
    jwtAlgorithms: s.jwtAlgorithms ?? [...DEFAULT_JWT_ALGORITHMS],
    rateLimit: { ...RATE_LIMIT_DEFAULTS, ...s.rateLimit },
    trustedProxies: s.trustedProxies ?? [],
    caseLinkKey: s.caseLinkKey ?? null,
    dataDir: s.dataDir ?? 'data',
    logLevel: s.logLevel ?? 'info',
    adoptionLateRetestMinutes: s.adoptionLateRetestMinutes ?? 30,
    workers,
    // Workers take the one writer lock in turn; on a starved CPU the holder can be descheduled for seconds.
    busyTimeoutMs: s.busyTimeoutMs ?? (workers > 1 ? 15000 : 5000),
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
