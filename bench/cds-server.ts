/**
 * The server side of `npm run bench:cds`, in its own process (or cluster) so that the load generator does
 * not share its event loop.
 *
 * - BENCH_MODE=full: the real app (buildApp) on a durable SQLite audit store (WAL, synchronous = FULL);
 *   BENCH_MODE=bare: a bare fastify route that parses the same body and returns a card of the same size
 *   (read from BENCH_CARD).
 * - BENCH_WORKERS=n (n > 1): n workers with node:cluster on one port, as the service's cluster mode runs
 *   (src/cluster.ts: one store file, one chain, one replay guard); 1: one process.
 * - BENCH_SRC: the source tree to import the app from (default ../src), so that one run can measure an
 *   earlier version of the code beside this one.
 *
 * `GET /_bench/cpu` (bench only) answers this process's own counters: `process.cpuUsage()`, the calls of
 * the benchmarked route answered, its pid, and the primary's `process.cpuUsage()` in a cluster (the
 * primary hands the connections out, which costs CPU too). Prints `PORT <n>` when listening; exits on SIGTERM.
 */
import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';

const mode = process.env['BENCH_MODE'];
const workers = Math.max(1, Number(process.env['BENCH_WORKERS'] ?? 1));
const settingsFile = process.env['BENCH_SETTINGS'] ?? '';
const src = resolve(process.env['BENCH_SRC'] ?? new URL('../src', import.meta.url).pathname);
const ROUTE = '/cds-services/hs-troponin-chest-pain';

type Cpu = NodeJS.CpuUsage;

async function buildFull(): Promise<{ app: FastifyInstance; close: () => Promise<void> }> {
  const imp = <T>(p: string): Promise<T> => import(pathToFileURL(resolve(src, p)).href) as Promise<T>;
  const { buildApp } = await imp<typeof import('../src/app.js')>('app.ts');
  const storeModule = await imp<typeof import('../src/audit/store.js')>('audit/store.ts');
  const { createLogger } = await imp<typeof import('../src/observability/logger.js')>('observability/logger.ts');
  const { loadRuntime } = await imp<typeof import('../src/pathways/load.js')>('pathways/load.ts');
  const { loadSettings } = await imp<typeof import('../src/settings.js')>('settings.ts');
  const settings = loadSettings({ file: settingsFile });
  const now = (): Date => new Date();
  // The options the service opens its store with (busyTimeoutMs: longer in a cluster), when the source measured has them.
  const optionsOf = (storeModule as { storeOptionsOf?: (s: typeof settings) => import('../src/audit/store.js').AuditStoreOptions }).storeOptionsOf;
  const store = await storeModule.openAuditStore(settings.storage, { newId: randomUUID, now }, optionsOf?.(settings) ?? {});
  const runtime = await loadRuntime(settings);
  const app = await buildApp(settings, { runtime, store, now, newId: randomUUID, logger: createLogger('warn') });
  app.get('/_bench/stats', () => Promise.resolve(store.stats()));
  return { app, close: () => app.close().then(() => store.close()) };
}

function buildBare(): { app: FastifyInstance; close: () => Promise<void> } {
  const card = readFileSync(process.env['BENCH_CARD'] ?? '', 'utf8');
  const app = Fastify({ logger: false });
  app.post(ROUTE, async (req, reply) => {
    const body = req.body as { hookInstance?: unknown };
    if (typeof body.hookInstance !== 'string') return reply.code(400).send({});
    return reply.type('application/json; charset=utf-8').send(card);
  });
  return { app, close: () => app.close() };
}

/** The primary's CPU counters, asked over IPC (a cluster worker); this process's own otherwise. */
function primaryCpu(): Promise<Cpu | null> {
  if (!cluster.isWorker) return Promise.resolve(null);
  return new Promise((res) => {
    const id = randomUUID();
    const onMessage = (m: unknown): void => {
      const msg = m as { type?: string; id?: string; cpu?: Cpu };
      if (msg.type === 'bench-cpu' && msg.id === id) {
        process.off('message', onMessage);
        res(msg.cpu ?? null);
      }
    };
    process.on('message', onMessage);
    process.send?.({ type: 'bench-cpu?', id });
  });
}

async function serve(port: number): Promise<void> {
  const { app, close } = mode === 'bare' ? buildBare() : await buildFull();
  let calls = 0;
  app.addHook('onResponse', (req, _reply, done) => {
    if (req.url === ROUTE) calls += 1;
    done();
  });
  app.get('/_bench/cpu', async () => ({ pid: process.pid, cpu: process.cpuUsage(), calls, primary: await primaryCpu() }));
  await app.listen({ host: '127.0.0.1', port });
  const addr = app.server.address();
  if (!cluster.isWorker) process.stdout.write(`PORT ${typeof addr === 'object' && addr !== null ? addr.port : 0}\n`);
  else process.send?.({ type: 'bench-ready' });
  const stop = (): void => void close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('message', (m: unknown) => {
    if ((m as { type?: string }).type === 'bench-stop') stop();
  });
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

async function main(): Promise<void> {
  if (workers === 1) return serve(0);
  if (cluster.isWorker) return serve(Number(process.env['BENCH_PORT']));
  const port = await freePort();
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork({ BENCH_PORT: String(port) });
    w.on('message', (m: unknown) => {
      const msg = m as { type?: string; id?: string };
      if (msg.type === 'bench-cpu?') w.send({ type: 'bench-cpu', id: msg.id, cpu: process.cpuUsage() });
      if (msg.type === 'bench-ready' && ++ready === workers) process.stdout.write(`PORT ${port}\n`);
    });
    w.on('exit', (code) => {
      if (code !== 0) process.stderr.write(`bench worker exited with ${String(code)}\n`);
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.send({ type: 'bench-stop' });
    cluster.on('exit', () => {
      if (Object.values(cluster.workers ?? {}).every((w) => w === undefined || w.isDead())) process.exit(0);
    });
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`bench server failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
