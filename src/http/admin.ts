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
import { auditQuerySchema } from '../cds/schemas.js';

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
  app.get<{ Querystring: { patient: string; limit?: string } }>('/audit', { onRequest: requireAdmin, schema: { querystring: auditQuerySchema } }, async (req, reply) => {
    const limit = req.query.limit === undefined ? undefined : Math.max(1, Number(req.query.limit));
    const records = await store.listByPatientChecked(req.query.patient, limit === undefined ? {} : { limit });
    return reply.code(soundOr409(req, records)).header('cache-control', 'no-store').send({ patient: req.query.patient, records });
  });
  return Promise.resolve();
}
