/**
 * `GET /reports/adoption?from=&to=&pathway=&granularity=week|month&format=json|csv|measure-report`, for
 * holders of an admin token: how each pathway is used, from the audit trail (docs/adoption.md). Without
 * `format`, the Accept header chooses (`text/csv`, `application/fhir+json`), else JSON. No export carries a
 * patient identifier; counts under 5 are suppressed.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AdoptionReports } from '../adoption/service.js';
import { formatFromAccept, parseReportQuery } from '../adoption/query.js';
import { toCsv, toJson } from '../adoption/views.js';
import { toMeasureReport } from '../adoption/measure-report.js';
import { TnpError } from '../errors.js';
import { isAdmin } from './admin.js';

export const REPORT_PATH = '/reports/adoption';

export interface ReportsPluginOptions {
  readonly adminTokens: readonly string[];
  /** Absent when the service runs without its roll-up (the route then answers 503). */
  readonly adoption: AdoptionReports | undefined;
}

export function reportsPlugin(app: FastifyInstance, opts: ReportsPluginOptions): Promise<void> {
  const digests = opts.adminTokens.map((t) => createHash('sha256').update(t, 'utf8').digest());
  const requireAdmin = (req: FastifyRequest): Promise<void> => {
    if (isAdmin(req.headers.authorization, digests)) return Promise.resolve();
    req.log.warn({ event: 'admin-refused', path: REPORT_PATH }, 'report refused: no valid admin token');
    return Promise.reject(new TnpError('TNP_ERR_ADMIN_UNAUTHORIZED'));
  };

  app.get(REPORT_PATH, { onRequest: requireAdmin }, async (req, reply) => {
    const { query, format } = parseReportQuery(req.query as Record<string, unknown>, formatFromAccept(req.headers.accept));
    if (opts.adoption === undefined) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the adoption report is not available on this service');
    const model = await opts.adoption.report(query);
    req.log.info({ event: 'adoption-report', format, granularity: query.granularity, from: query.from, to: query.to, pathway: query.pathwayId ?? null, throughSeq: model.context.throughSeq }, 'adoption report');
    reply.header('cache-control', 'no-store');
    if (format === 'csv') {
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="adoption-${query.from}-${query.to}-${query.granularity}.csv"`).send(toCsv(model));
    }
    if (format === 'measure-report') return reply.type('application/fhir+json; charset=utf-8').send(JSON.stringify(toMeasureReport(model)));
    return reply.send(toJson(model));
  });
  return Promise.resolve();
}
