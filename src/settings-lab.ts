/**
 * The settings of the laboratory intake, the worklist and the alerts (README "Settings"): their JSON
 * Schema fragments (merged into the settings schema in src/settings.ts) and the checks a schema cannot
 * make (unique names, tokens and sending facilities; known time zones).
 */
import { TnpError } from './errors.js';

/** A laboratory system allowed to post results (FHIR with its token; HL7 v2 from its sending facilities). */
export interface LabClientSettings {
  readonly name: string;
  readonly token: string;
  /** HL7 v2 sending facilities (MSH-4 as written, e.g. "LAB^1.2.3^ISO") this client may send from. */
  readonly hl7Facilities: readonly string[];
  /** IANA time zone of HL7 times written without a UTC offset (none: such a time is no time). */
  readonly hl7TimeZone?: string;
  /** HL7 coding system names (OBX-3.3, OBX-6.3) to FHIR system URIs, over the defaults (LN, SCT, UCUM). */
  readonly hl7CodingSystems: Readonly<Record<string, string>>;
  /** PID-3 assigning authorities (namespace or universal id) to FHIR identifier systems, over the defaults (NHS). */
  readonly hl7IdentifierSystems: Readonly<Record<string, string>>;
}

/** A webhook told of outcome changes and overdue retests. */
export interface NotificationSettings {
  readonly url: string;
  readonly secret: string;
  /** Outcome codes of the pathway, and `retest-overdue`; absent: the pathway's critical and warning outcomes and `retest-overdue`. */
  readonly outcomes?: readonly string[];
}

/** The schema of the keys above, merged into the settings schema. */
export const labSettingsSchema = {
  labClients: {
    type: 'array',
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'token'],
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 100 },
        token: { type: 'string', minLength: 16 },
        hl7Facilities: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 200 } },
        hl7TimeZone: { type: 'string', minLength: 1 },
        hl7CodingSystems: { type: 'object', additionalProperties: { type: 'string', pattern: '^[a-z][a-z0-9+.-]*:' } },
        hl7IdentifierSystems: { type: 'object', additionalProperties: { type: 'string', pattern: '^[a-z][a-z0-9+.-]*:' } },
      },
    },
  },
  hl7: {
    type: 'object',
    additionalProperties: false,
    required: ['port'],
    properties: { host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 0, maximum: 65535 } },
  },
  worklistTokens: { type: 'array', items: { type: 'string', minLength: 16 } },
  notifications: {
    type: 'array',
    maxItems: 20,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['url', 'secret'],
      properties: {
        url: { type: 'string', format: 'uri', pattern: '^https?://' },
        secret: { type: 'string', minLength: 16 },
        outcomes: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[a-z][a-z-]*$' } },
      },
    },
  },
} as const;

/** Lab clients: names and tokens unique, each sending facility owned by one client, time zones known. */
export function checkLabClients(clients: readonly Partial<LabClientSettings>[]): void {
  const seen = { name: new Set<string>(), token: new Set<string>(), facility: new Set<string>() };
  clients.forEach((c, i) => {
    if (c.name !== undefined && seen.name.has(c.name)) throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "labClients[${i}].name" is used twice: ${c.name}`);
    if (c.token !== undefined && seen.token.has(c.token)) throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "labClients[${i}].token" is the token of another lab client`);
    for (const f of c.hl7Facilities ?? []) {
      if (seen.facility.has(f)) throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "labClients[${i}].hl7Facilities" names ${f}, already another lab client's`);
      seen.facility.add(f);
    }
    if (c.hl7TimeZone !== undefined) {
      try {
        new Intl.DateTimeFormat('en-GB', { timeZone: c.hl7TimeZone });
      } catch {
        throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "labClients[${i}].hl7TimeZone" is not a known IANA time zone: ${c.hl7TimeZone}`);
      }
    }
    if (c.name !== undefined) seen.name.add(c.name);
    if (c.token !== undefined) seen.token.add(c.token);
  });
}

