/**
 * The PostgreSQL store's place and shape: the URL and schema it lives in (named without credentials),
 * the advisory-lock keys, and the tables, indexes and append-only triggers created at open.
 */
import { TnpError } from '../errors.js';
import { sha256Hex } from '../util/canonical-json.js';
import { AUDIT_KINDS } from './record.js';

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A signed 64-bit advisory-lock key, the same in every process for the same schema and purpose. */
export function lockKey(purpose: string, schema: string): string {
  return BigInt.asIntN(64, BigInt(`0x${sha256Hex(`hs-troponin-cds:${purpose}:${schema}`).slice(0, 16)}`)).toString();
}

/** Splits `?schema=` off the URL (pg would pass it to the server) and names the location without credentials. */
export function parseUrl(url: string, schemaSetting: string | undefined): { connectionString: string; schema: string; location: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the PostgreSQL URL of the audit store is not a valid URL', { expression: ['storage.url'] });
  }
  const fromUrl = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  const schema = schemaSetting ?? fromUrl ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', `the audit store schema name is not a plain SQL identifier: ${schema}`, { expression: ['storage.schema'] });
  const location = `postgres://${u.host}${u.pathname} (schema ${schema})`;
  return { connectionString: u.toString(), schema, location };
}

/** Where the store is, for messages: host, database and schema, never the user or password. */
export function postgresLocation(url: string, schemaSetting: string | undefined): string {
  try {
    return parseUrl(url, schemaSetting).location;
  } catch {
    return 'on PostgreSQL (the URL in the settings cannot be read)';
  }
}

/** The tables, indexes and append-only triggers, created if absent (run under the migration lock). */
export function schemaSql(s: string): string {
  const t = `"${s}".audit_records`;
  return `
CREATE TABLE IF NOT EXISTS ${t} (
  seq             bigint PRIMARY KEY CHECK (seq > 0),
  id              text NOT NULL UNIQUE,
  kind            text NOT NULL CHECK (kind IN (${AUDIT_KINDS.map((k) => `'${k}'`).join(', ')})),
  at              text NOT NULL,
  patient_id      text,
  links_to        text,
  idempotency_key text UNIQUE,
  body            text NOT NULL,
  prev_hash       text NOT NULL,
  hash            text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_patient ON ${t} (patient_id, seq);
CREATE TABLE IF NOT EXISTS "${s}".audit_jti (
  iss        text NOT NULL,
  jti        text NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (iss, jti)
);
CREATE INDEX IF NOT EXISTS audit_jti_expires ON "${s}".audit_jti (expires_at);
CREATE TABLE IF NOT EXISTS "${s}".audit_health (
  id    integer PRIMARY KEY CHECK (id = 1),
  at    bigint NOT NULL,
  beats bigint NOT NULL
);
CREATE OR REPLACE FUNCTION "${s}".audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'audit_records is append-only';
END
$fn$;
DO $do$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = '${t}'::regclass AND tgname = 'audit_records_append_only') THEN
    CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON ${t}
      FOR EACH ROW EXECUTE FUNCTION "${s}".audit_records_append_only();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = '${t}'::regclass AND tgname = 'audit_records_no_truncate') THEN
    CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON ${t}
      FOR EACH STATEMENT EXECUTE FUNCTION "${s}".audit_records_append_only();
  END IF;
END
$do$;
`;
}
