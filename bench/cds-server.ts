/**
 * The server side of `npm run bench:cds`, in its own process so that the load generator does not share
 * its event loop. BENCH_MODE=full: the real app (buildApp) on a durable SQLite audit store;
 * BENCH_MODE=bare: a bare fastify route that parses the same body and returns a card of the same size
 * (read from BENCH_CARD). Prints `PORT <n>` when listening; exits on SIGTERM.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { buildApp } from '../src/app.js';
import { openAuditStore } from '../src/audit/store.js';
import { createLogger } from '../src/observability/logger.js';
import { loadRuntime } from '../src/pathways/load.js';
import { loadSettings } from '../src/settings.js';

const mode = process.env['BENCH_MODE'];
const settingsFile = process.env['BENCH_SETTINGS'] ?? '';

async function main(): Promise<void> {
  if (mode === 'bare') {
    const card = readFileSync(process.env['BENCH_CARD'] ?? '', 'utf8');
    const app = Fastify({ logger: false });
    app.post('/cds-services/hs-troponin-chest-pain', async (req, reply) => {
      const body = req.body as { hookInstance?: unknown };
      if (typeof body.hookInstance !== 'string') return reply.code(400).send({});
      return reply.type('application/json; charset=utf-8').send(card);
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    process.stdout.write(`PORT ${typeof addr === 'object' && addr !== null ? addr.port : 0}\n`);
    process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
    return;
  }
  const settings = loadSettings({ file: settingsFile });
  const now = (): Date => new Date();
  const store = await openAuditStore(settings.storage, { newId: randomUUID, now });
  const runtime = await loadRuntime(settings);
  const app = await buildApp(settings, { runtime, store, now, newId: randomUUID, logger: createLogger('warn') });
  app.get('/_bench/stats', () => Promise.resolve(store.stats()));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  process.stdout.write(`PORT ${typeof addr === 'object' && addr !== null ? addr.port : 0}\n`);
  process.on('SIGTERM', () => void app.close().then(() => store.close()).then(() => process.exit(0)));
}

main().catch((e: unknown) => {
  process.stderr.write(`bench server failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
