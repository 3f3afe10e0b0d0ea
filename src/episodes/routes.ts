/**
 * The A&E worklist (worklist or admin token): `GET /episodes?status=open|closed|all&limit=N`,
 * `GET /episodes/{id}?_count=N&_after=cursor` (one page of its results by draw time then id, each with
 * its latest versions and a count of the rest, the total, a `next` link; its evaluations with their audit ids),
 * `GET /episodes/stream` (SSE, src/episodes/stream.ts), `GET /episodes/unmatched?_count=N&_after=cursor`
 * (stored results in no episode: naming no patient, or not read by the pathway with no episode of their
 * patient open, so a clinician still sees them: paged and bounded like the detail,
 * newest first); and for admins the alerts' dead letters,
 * `GET /notifications/dead-letters`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditStore, StoredResult } from '../audit/store.js';
import { TnpError } from '../errors.js';
import { tokenTable } from '../intake/auth.js';
import { worklistRow } from './row.js';
import type { EpisodeStream } from './stream.js';

export const MAX_LIST = 1000;
/** Episode detail paging: results per page (default and cap) and versions shown per result. */
export const DETAIL_PAGE = 50;
export const MAX_DETAIL_PAGE = 200;
export const DETAIL_VERSIONS = 10;

export interface WorklistOptions {
  readonly worklistTokens: readonly string[];
  readonly adminTokens: readonly string[];
  readonly store: AuditStore;
  readonly stream: EpisodeStream;
  readonly now: () => Date;
}

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { status: { enum: ['open', 'closed', 'all'] }, limit: { type: 'string', pattern: '^[1-9][0-9]{0,5}$' } },
} as const;

const detailQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { _count: listQuery.properties.limit, _after: { type: 'string', pattern: '^-?[0-9]{1,16}~[A-Za-z0-9.-]{1,64}$' } },
} as const;

/** The unmatched list's cursor: the creation time (as stored, ISO 8601 UTC) and id of the last result of a page. */
const UNMATCHED_CURSOR = /^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z)~([A-Za-z0-9.-]{1,64})$/;
const unmatchedQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { _count: listQuery.properties.limit, _after: { type: 'string', pattern: UNMATCHED_CURSOR.source } },
} as const;

function resultView(r: StoredResult): Record<string, unknown> {
  return {
    id: r.row.id,
    client: r.row.client,
    flagged: r.row.flagged,
    versionCount: r.row.currentVersion,
    olderVersions: Math.max(0, r.row.currentVersion - r.versions.length),
    versions: r.versions.map((v) => ({ version: v.version, lastUpdated: v.lastUpdated, status: v.status, flags: JSON.parse(v.flags) as unknown, auditId: v.auditId, resource: JSON.parse(v.resource) as unknown })),
  };
}

export function worklistPlugin(app: FastifyInstance, opts: WorklistOptions): Promise<void> {
  const readers = tokenTable([...opts.worklistTokens, ...opts.adminTokens].map((t) => ({ token: t, value: true })));
  const admins = tokenTable(opts.adminTokens.map((t) => ({ token: t, value: true })));
  const requireReader = (req: FastifyRequest): Promise<void> => {
    if (readers.match(req.headers.authorization) !== null) return Promise.resolve();
    req.log.warn({ event: 'worklist-refused', path: req.routeOptions.url }, 'worklist refused: no valid worklist or admin token');
    return Promise.reject(new TnpError('TNP_ERR_WORKLIST_UNAUTHORIZED'));
  };
  const requireAdmin = (req: FastifyRequest): Promise<void> => (admins.match(req.headers.authorization) !== null ? Promise.resolve() : Promise.reject(new TnpError('TNP_ERR_ADMIN_UNAUTHORIZED')));
  const limitOf = (raw: string | undefined): number => Math.min(MAX_LIST, raw === undefined ? 200 : Number(raw));
  const pageOf = (raw: string | undefined): number => Math.min(MAX_DETAIL_PAGE, raw === undefined ? DETAIL_PAGE : Number(raw));

  app.get<{ Querystring: { status?: 'open' | 'closed' | 'all'; limit?: string } }>('/episodes', { onRequest: requireReader, schema: { querystring: listQuery } }, async (req, reply) => {
    const nowMs = opts.now().getTime();
    const episodes = await opts.store.lab.episodes({ status: req.query.status ?? 'open', limit: limitOf(req.query.limit) });
    return reply.header('cache-control', 'no-store').send({ status: req.query.status ?? 'open', at: new Date(nowMs).toISOString(), episodes: episodes.map((e) => worklistRow(e, nowMs)) });
  });

  app.get('/episodes/stream', { onRequest: requireReader }, async (req, reply) => {
    const last = req.headers['last-event-id'];
    await opts.stream.open(reply, typeof last === 'string' ? last : undefined);
  });

  app.get<{ Querystring: { _count?: string; _after?: string } }>('/episodes/unmatched', { onRequest: requireReader, schema: { querystring: unmatchedQuery } }, async (req, reply) => {
    const limit = pageOf(req.query._count);
    const cursor = req.query._after === undefined ? null : UNMATCHED_CURSOR.exec(req.query._after);
    const after = cursor === null ? null : { createdAt: cursor[1] ?? '', id: cursor[2] ?? '' };
    const found = await opts.store.lab.unmatched({ limit, after, versions: DETAIL_VERSIONS });
    const last = found.results[found.results.length - 1]?.row;
    const next = found.more && last !== undefined ? `/episodes/unmatched?_count=${limit}&_after=${encodeURIComponent(`${last.createdAt}~${last.id}`)}` : null;
    return reply.header('cache-control', 'no-store').send({ total: found.total, next, results: found.results.map(resultView) });
  });

  app.get<{ Params: { id: string }; Querystring: { _count?: string; _after?: string } }>('/episodes/:id', { onRequest: requireReader, schema: { querystring: detailQuery } }, async (req, reply) => {
    const limit = pageOf(req.query._count);
    const cursor = req.query._after === undefined ? null : /^(-?[0-9]{1,16})~([A-Za-z0-9.-]{1,64})$/.exec(req.query._after);
    const after = cursor === null ? null : { timeMs: Number(cursor[1]), id: cursor[2] ?? '' };
    const found = /^[A-Za-z0-9-]{1,64}$/.test(req.params.id) ? await opts.store.lab.episode(req.params.id, { limit, after, versions: DETAIL_VERSIONS }) : null;
    if (found === null) throw new TnpError('TNP_ERR_NOT_FOUND', 'no episode has that id');
    const last = found.results[found.results.length - 1]?.row;
    const next = found.more && last !== undefined ? `/episodes/${req.params.id}?_count=${limit}&_after=${encodeURIComponent(`${last.timeMs}~${last.id}`)}` : null;
    return reply.header('cache-control', 'no-store').send({ ...worklistRow(found.episode, opts.now().getTime()), total: found.total, next, results: found.results.map(resultView), evaluations: found.evaluations });
  });

  app.get<{ Querystring: { limit?: string } }>('/notifications/dead-letters', { onRequest: requireAdmin, schema: { querystring: { type: 'object', additionalProperties: false, properties: { limit: listQuery.properties.limit } } } }, async (req, reply) => {
    const dead = await opts.store.lab.alerts({ status: 'dead', limit: limitOf(req.query.limit) });
    return reply.header('cache-control', 'no-store').send({ deadLetters: dead.map((a) => ({ id: a.id, url: a.url, episodeId: a.episodeId, event: a.event, attempts: a.attempts, lastError: a.lastError, createdAt: a.createdAt, updatedAt: a.updatedAt, body: JSON.parse(a.body) as unknown })) });
  });
  return Promise.resolve();
}
