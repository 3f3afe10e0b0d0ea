/**
 * The audit record format and the hash chain, shared by both store implementations.
 *
 * Kept free of any database code so that the chain rules (what is hashed, how a record links to the
 * one before) are written once and cannot drift between SQLite and PostgreSQL. The checks of stored
 * rows against those rules (`verify`, and the check of every record read) are in chain.ts.
 */
import { TnpError } from '../errors.js';
import { NotPlainJson, canonicalJson, canonicalPlainJson, sha256Hex } from '../util/canonical-json.js';

/** What each record is about. A closed set: the stores refuse anything else (and so does the schema). */
export const AUDIT_KINDS = ['evaluation', 'evaluation-failure', 'feedback', 'lab-intake'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** `prevHash` of the first record: there is nothing before it. */
export const GENESIS_HASH = '0'.repeat(64);

/** What the caller gives to `append`. */
export interface AuditRecordInput {
  readonly kind: AuditKind;
  /** When the event happened, ISO 8601 in UTC (`...Z`). Stored and hashed exactly as given. */
  readonly at: string;
  /** The patient the record is about, or null (for example a lab intake that names no patient). */
  readonly patientId: string | null;
  /** Id of the record this one answers (feedback -> the record of the card). Must already exist. */
  readonly linksTo?: string;
  /**
   * A key that makes the append idempotent: a second append with the same key returns the first
   * record and appends nothing, whatever its content (so derive the key from what makes the event
   * unique, e.g. card uuid + outcome for feedback, Observation.identifier for lab intake).
   */
  readonly idempotencyKey?: string;
  /** The full record content: plain JSON (objects, arrays, strings, finite numbers, booleans, null). */
  readonly body: unknown;
}

/** A record as stored: the input plus its place in the chain. */
export interface AuditRecord extends AuditRecordInput {
  readonly id: string;
  /** 1, 2, 3, ... with no gaps: a gap means a record was removed. */
  readonly seq: number;
  /** `hash` of the record with `seq - 1`, or {@link GENESIS_HASH} for seq 1. */
  readonly prevHash: string;
  /** {@link recordHash} of this record. */
  readonly hash: string;
}

/** The fields covered by the hash, in the shape that is hashed. */
export interface HashedFields {
  readonly seq: number;
  readonly id: string;
  readonly kind: string;
  readonly at: string;
  readonly patientId: string | null;
  readonly linksTo?: string | undefined;
  readonly idempotencyKey?: string | undefined;
  readonly body: unknown;
  readonly prevHash: string;
}

/**
 * sha256 (hex) of the canonical JSON of {seq, id, kind, at, patientId, linksTo, idempotencyKey, body,
 * prevHash}. Absent optional fields (`linksTo`, `idempotencyKey`) are left out of the hashed object;
 * `patientId` is always present (null when there is none). Because `prevHash` is inside, changing any
 * record changes every hash after it.
 */
export function recordHash(r: HashedFields): string {
  return recordHashOfBodyText(r, canonicalJson(r.body));
}

/**
 * {@link recordHash} for a body already in canonical JSON text (`bodyText` must be `canonicalJson(body)`,
 * as {@link normaliseInput} produces it): the same digest without serialising the body again. The hashed
 * object's keys are written in sorted order, exactly as `canonicalJson` would write them.
 */
export function recordHashOfBodyText(r: Omit<HashedFields, 'body'>, bodyText: string): string {
  const q = JSON.stringify;
  let text = `{"at":${q(r.at)},"body":${bodyText},"id":${q(r.id)}`;
  if (r.idempotencyKey !== undefined) text += `,"idempotencyKey":${q(r.idempotencyKey)}`;
  text += `,"kind":${q(r.kind)}`;
  if (r.linksTo !== undefined) text += `,"linksTo":${q(r.linksTo)}`;
  text += `,"patientId":${r.patientId === null ? 'null' : q(r.patientId)},"prevHash":${q(r.prevHash)},"seq":${canonicalJson(r.seq)}}`;
  return sha256Hex(text);
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

function invalid(message: string, field: string): TnpError {
  return new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', message, { expression: [field] });
}

// NUL and unpaired surrogates cannot be stored faithfully as text (PostgreSQL refuses NUL, UTF-8 cannot
// encode a lone surrogate), so such a value would either fail the whole batch or change its hash.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A non-empty string that both databases store exactly. Bodies need no such check: canonical JSON escapes these. */
export function isStorableText(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && !v.includes('\u0000') && !LONE_SURROGATE.test(v);
}

function optionalText(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (!isStorableText(v)) throw invalid(`${field} must be a non-empty string (no NUL, well-formed Unicode) when present`, field);
  return v;
}

/** The body's canonical text (what is stored and hashed), or TNP_ERR_AUDIT_RECORD_INVALID naming where it is not plain JSON. */
function canonicalBodyText(body: unknown): string {
  try {
    return canonicalPlainJson(body);
  } catch (e) {
    if (!(e instanceof NotPlainJson)) throw e;
    const path = `body${e.path}`;
    throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `${path} ${e.what}`, { expression: [path] });
  }
}

/**
 * A validated input, with its body in canonical JSON text (what is stored and hashed). `body` is that text
 * parsed back, made only when something reads it (the CDS call never does): see {@link lazyBody}.
 */
export interface NormalisedInput {
  readonly kind: AuditKind;
  readonly at: string;
  readonly patientId: string | null;
  readonly linksTo: string | undefined;
  readonly idempotencyKey: string | undefined;
  readonly body: unknown;
  readonly bodyText: string;
}

/**
 * Check an input and bring its body to the form that is stored, so the record handed back by `append`
 * is exactly what `get` will later return and what `verify` will hash. Throws TNP_ERR_AUDIT_RECORD_INVALID.
 */
export function normaliseInput(input: AuditRecordInput): NormalisedInput {
  const i = input as unknown as Record<string, unknown>;
  if (typeof input !== 'object' || (input as unknown) === null) throw invalid('the audit record input must be an object', 'input');
  if (typeof i.kind !== 'string' || !(AUDIT_KINDS as readonly string[]).includes(i.kind)) throw invalid(`kind must be one of ${AUDIT_KINDS.join(', ')}`, 'kind');
  if (typeof i.at !== 'string' || !ISO_UTC.test(i.at) || !Number.isFinite(Date.parse(i.at))) throw invalid('at must be an ISO 8601 time in UTC, e.g. 2026-01-31T12:00:00.000Z', 'at');
  if (i.patientId !== null && !isStorableText(i.patientId)) throw invalid('patientId must be a non-empty string (no NUL, well-formed Unicode) or null', 'patientId');
  if (i.body === undefined) throw invalid('body is required', 'body');
  const bodyText = canonicalBodyText(i.body);
  return lazyBody(
    {
      kind: i.kind as AuditKind,
      at: i.at,
      patientId: i.patientId,
      linksTo: optionalText(i.linksTo, 'linksTo'),
      idempotencyKey: optionalText(i.idempotencyKey, 'idempotencyKey'),
      bodyText,
    },
    bodyText,
  );
}

/**
 * Gives `target` an enumerable `body`: `bodyText` parsed on first read and kept. The record handed back
 * by `append` is thus exactly what `get` returns later (the stored text parsed), without parsing a 10 kB
 * body back on every call that never looks at it.
 */
export function lazyBody<T extends object>(target: T, bodyText: string): T & { readonly body: unknown } {
  let parsed: { value: unknown } | undefined;
  return Object.defineProperty(target, 'body', {
    enumerable: true,
    get: () => (parsed ??= { value: JSON.parse(bodyText) as unknown }).value,
  }) as T & { readonly body: unknown };
}

/** A record row as both stores keep it (column names are the SQL ones). */
export interface AuditRow {
  readonly seq: number;
  readonly id: string;
  readonly kind: string;
  readonly at: string;
  readonly patient_id: string | null;
  readonly links_to: string | null;
  readonly idempotency_key: string | null;
  readonly body: string;
  readonly prev_hash: string;
  readonly hash: string;
}

/** Builds the record object; optional fields absent when null, so records compare equal however they were obtained. */
export function makeRecord(f: Omit<HashedFields, 'linksTo' | 'idempotencyKey'> & { kind: AuditKind; linksTo: string | undefined; idempotencyKey: string | undefined; hash: string }): AuditRecord {
  return {
    id: f.id,
    seq: f.seq,
    kind: f.kind,
    at: f.at,
    patientId: f.patientId,
    ...(f.linksTo === undefined ? {} : { linksTo: f.linksTo }),
    ...(f.idempotencyKey === undefined ? {} : { idempotencyKey: f.idempotencyKey }),
    body: f.body,
    prevHash: f.prevHash,
    hash: f.hash,
  };
}

/**
 * {@link makeRecord} with the body given as its canonical text: the same object (same keys, same order),
 * its `body` parsed from `bodyText` only when read ({@link lazyBody}).
 */
export function makeRecordOfText(f: Omit<HashedFields, 'linksTo' | 'idempotencyKey' | 'body'> & { kind: AuditKind; linksTo: string | undefined; idempotencyKey: string | undefined; hash: string }, bodyText: string): AuditRecord {
  const head = {
    id: f.id,
    seq: f.seq,
    kind: f.kind,
    at: f.at,
    patientId: f.patientId,
    ...(f.linksTo === undefined ? {} : { linksTo: f.linksTo }),
    ...(f.idempotencyKey === undefined ? {} : { idempotencyKey: f.idempotencyKey }),
  };
  return Object.assign(lazyBody(head, bodyText), { prevHash: f.prevHash, hash: f.hash });
}

/** A stored row as a record. Throws TNP_ERR_AUDIT_CORRUPT when the stored body is not JSON (edited by hand). */
export function rowToRecord(row: AuditRow): AuditRecord {
  let body: unknown;
  try {
    body = JSON.parse(row.body) as unknown;
  } catch (e) {
    throw new TnpError('TNP_ERR_AUDIT_CORRUPT', `audit record ${row.id} (seq ${row.seq}): the stored body is not JSON`, { cause: e });
  }
  return makeRecord({ ...rowFields(row, Number(row.seq), body), kind: row.kind as AuditKind, hash: row.hash });
}

/** The hashed fields of a stored row (what recordHash covers). */
export function rowFields(row: AuditRow, seq: number, body: unknown) {
  return {
    seq,
    id: row.id,
    kind: row.kind,
    at: row.at,
    patientId: row.patient_id,
    linksTo: row.links_to ?? undefined,
    idempotencyKey: row.idempotency_key ?? undefined,
    body,
    prevHash: row.prev_hash,
  };
}
