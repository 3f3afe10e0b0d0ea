/**
 * The audit trail for its readers (safety officer, auditor): `GET /audit/{id}`, `GET /audit?patient=`,
 * `GET /audit/verify`, each for holders of an admin bearer token (settings `adminTokens`), compared in
 * constant time. Anything else gets 401 with no detail. Every record read is checked against the chain
 * (`integrity`), so an altered record is answered 409, never served as sound.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditStore, CheckedRecord } from '../audit/store.js';
import { TnpError } from '../errors.js';
import { PATIENT_LIST_DEFAULT, PATIENT_LIST_MAX } from '../audit/core.js';
import { FHIR_ID_PATTERN } from '../cds/schemas.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** True when `header` is `Bearer <t>` for one of `tokens`; every token is compared, in constant time. */
export function isAdmin(header: string | undefined, tokenDigests: readonly Buffer[]): boolean {
  if (typeof header !== 'string') return false;
  const m = /^Bearer +(\S+)\s*$/i.exec(header);
  if (m === null || m[1] === undefined) return false;
  const given = digest(m[1]);
  let ok = false;
  for (const d of tokenDigests) ok = timingSafeEqual(given, d) || ok;
  return ok;
}

const FHIR_ID = new RegExp(FHIR_ID_PATTERN);
const QUERY_PARAMS = new Set(['patient', 'limit']);

function badQuery(message: string, param: string): TnpError {
  return new TnpError('TNP_ERR_AUDIT_QUERY_INVALID', message, { expression: [param] });
}

/**
 * `GET /audit`'s query, checked in one place: `patient` (a FHIR id, required) and `limit` (a whole number,
 * 1 to {@link PATIENT_LIST_MAX}, default {@link PATIENT_LIST_DEFAULT}); anything else is
 * TNP_ERR_AUDIT_QUERY_INVALID naming the parameter, never a silent clamp.
 */
export function parseAuditQuery(q: Readonly<Record<string, unknown>>): { patient: string; limit: number } {
  for (const k of Object.keys(q)) {
    if (!QUERY_PARAMS.has(k)) throw badQuery(`unknown parameter ${JSON.stringify(k.slice(0, 40))}: GET /audit takes patient and limit`, k.slice(0, 40));
    if (Array.isArray(q[k])) throw badQuery(`${k} is given more than once`, k);
  }
  const patient = q['patient'];
  if (patient === undefined || patient === '') throw badQuery('patient is required: the FHIR id of the patient whose audit records to list (GET /audit?patient={id})', 'patient');
  if (typeof patient !== 'string' || !FHIR_ID.test(patient)) throw badQuery('patient must be a FHIR id: 1 to 64 letters, digits, "-" or "."', 'patient');
  const limit = q['limit'];
  if (limit === undefined) return { patient, limit: PATIENT_LIST_DEFAULT };
  const n = typeof limit === 'string' && /^[0-9]{1,9}$/.test(limit) ? Number(limit) : NaN;
  if (!(n >= 1 && n <= PATIENT_LIST_MAX)) {
    throw badQuery(`limit must be a whole number from 1 to ${PATIENT_LIST_MAX} (got ${typeof limit === 'string' ? JSON.stringify(limit.slice(0, 40)) : 'not text'})`, 'limit');
  }
  return { patient, limit: n };
}

/** 200 when every record read is sound; 409 otherwise, logged for the safety officer (ids and seqs only). */
function soundOr409(req: FastifyRequest, records: readonly CheckedRecord[]): 200 | 409 {
  const altered = records.filter((r) => !r.integrity.ok);
  if (altered.length === 0) return 200;
  req.log.warn({ event: 'audit-integrity-failed', records: altered.slice(0, 20).map((r) => ({ id: r.id, seq: r.seq, problems: r.integrity.problems })), count: altered.length }, 'audit read: records fail their integrity check');
  return 409;
}

export function adminPlugin(app: FastifyInstance, opts: { readonly adminTokens: readonly string[]; readonly store: AuditStore }): Promise<void> {
  const { store } = opts;
  const digests = opts.adminTokens.map(digest);
  const requireAdmin = (req: FastifyRequest): Promise<void> => {
    if (isAdmin(req.headers.authorization, digests)) return Promise.resolve();
    req.log.warn({ event: 'admin-refused', path: req.routeOptions.url }, 'audit read refused: no valid admin token');
    return Promise.reject(new TnpError('TNP_ERR_ADMIN_UNAUTHORIZED'));
  };

  /** 200 { ok: true, records, head } when the chain is intact; 409 { ok: false, records, head, firstBad } otherwise. */
  app.get('/audit/verify', { onRequest: requireAdmin }, async (_req, reply) => {
    const result = await store.verify();
    return reply.code(result.ok ? 200 : 409).header('cache-control', 'no-store').send(result);
  });

  /** The record with its `integrity`, checked on read: 200 when sound, 409 (same body) when it was altered. */
  app.get<{ Params: { id: string } }>('/audit/:id', { onRequest: requireAdmin }, async (req, reply) => {
    const rec = await store.getChecked(req.params.id);
    if (rec === null) throw new TnpError('TNP_ERR_NOT_FOUND', 'no audit record has that id');
    return reply.code(soundOr409(req, [rec])).header('cache-control', 'no-store').send(rec);
  });

  /** `{ patient, records }`, each record with its `integrity`: 200 when all are sound, 409 (same body) otherwise. */
  app.get<{ Querystring: Record<string, unknown> }>('/audit', { onRequest: requireAdmin }, async (req, reply) => {
    const { patient, limit } = parseAuditQuery(req.query);
    const records = await store.listByPatientChecked(patient, { limit });
    return reply.code(soundOr409(req, records)).header('cache-control', 'no-store').send({ patient, records });
  });
  return Promise.resolve();
}
