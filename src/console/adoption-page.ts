/**
 * GET /console/adoption: the adoption page (src/console/static/adoption.html and its module
 * web/adoption.ts). The page holds no data: it asks GET /reports/adoption with the admin token the user
 * types in, so everything it shows is behind that token.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';

export async function adoptionPage(app: FastifyInstance, staticDir: string, headers: Readonly<Record<string, string>>): Promise<void> {
  const html = await readFile(`${staticDir}adoption.html`, 'utf8');
  app.get('/console/adoption', async (_req, reply) => reply.type('text/html; charset=utf-8').headers(headers).send(html));
}
