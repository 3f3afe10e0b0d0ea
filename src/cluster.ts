/**
 * Cluster mode (settings `workers`, default the number of cores): the started process becomes a primary
 * that checks what a start needs, forks `workers` service processes with node:cluster and supervises
 * them; it serves nothing itself. Every worker is the single-process service (src/server.ts) on the same
 * port (node:cluster hands connections out in turn) and the same audit store: one SQLite file in WAL mode
 * or one PostgreSQL. What keeps the workers one service is in the store, not here:
 *
 * - one hash chain: each group commit takes the database's writer lock (`BEGIN IMMEDIATE`, or the advisory
 *   lock on PostgreSQL) and reads the head inside it, so appends of all workers are serialised;
 * - one replay guard: a call's `jti` is committed with its record on a unique key, so a token replayed to
 *   another worker is refused (401) by the commit, whatever the in-process fast paths saw;
 * - durability unchanged: `synchronous = FULL`, and no worker answers before its record is committed.
 *
 * Supervision: a worker that exits before it is ready is a failed start (the primary stops the others and
 * exits 1, the worker has said why on stderr); a ready worker that dies is replaced (at once, then backing
 * off up to 5 s while workers keep dying). SIGTERM or SIGINT to the primary asks every worker to stop
 * gracefully (finish requests in flight, commit what is queued); the primary exits 0 when they all
 * exited 0, 1 otherwise or after 15 s. A worker whose primary is gone stops by itself.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { openAuditStore, storeOptionsOf } from './audit/store.js';
import { loadCaseLinkKey } from './cds/case-link-key.js';
import type { Logger } from 'pino';
import { startLine, urlOf } from './http/listen.js';
import { loadRuntime } from './pathways/load.js';
import type { RateLimitRule, Settings } from './settings.js';

const READY = 'tnp-worker-ready';
const STOP = 'tnp-worker-stop';
const SHUTDOWN_LIMIT_MS = 15_000;
const MAX_RESTART_DELAY_MS = 5_000;
const CRASH_WINDOW_MS = 60_000;

/** True when this process is to be the primary of a cluster (more than one worker, and not a worker itself). */
export function isClusterPrimary(settings: Pick<Settings, 'workers'>): boolean {
  return settings.workers > 1 && cluster.isPrimary;
}

/** In a worker: why the primary asked it to stop (or is gone), once asked; set from {@link workerSettings} on. */
let stopAsked: string | null = null;
let stopHandler: ((reason: string) => void) | null = null;

function askStop(reason: string): void {
  if (stopAsked !== null) return;
  stopAsked = reason;
  stopHandler?.(reason);
}

/**
 * The settings a worker runs with (per-client rate limits divided among the workers, see below); in a
 * worker it also starts listening to the primary, so a stop asked during the start is not lost.
 */
export function workerSettings(settings: Settings): Settings {
  if (!cluster.isWorker) return settings;
  process.on('message', (m: unknown) => {
    if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === STOP) askStop('primary');
  });
  process.on('disconnect', () => askStop('primary-gone'));
  // The terminal's Ctrl-C reaches the whole group: the primary, which gets it too, stops the workers in order.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => askStop('SIGTERM'));
  if (settings.workers <= 1) return settings;
  // Each worker counts its own clients: without this a client spread over n workers would get n budgets.
  const share = (max: number): number => Math.max(1, Math.ceil(max / settings.workers));
  const entries = Object.entries(settings.rateLimit) as [string, RateLimitRule][];
  const rateLimit = Object.fromEntries(entries.map(([k, rule]) => [k, Object.freeze({ ...rule, max: share(rule.max) })])) as unknown as Settings['rateLimit'];
  return Object.freeze({ ...settings, rateLimit: Object.freeze(rateLimit) });
}

/** In a worker: tells the primary the worker listens (its start succeeded). Nothing in a single process. */
export function reportReady(): void {
  if (cluster.isWorker) process.send?.({ type: READY });
}

/** True in a worker of a cluster (its primary writes the start line). */
export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/**
 * Calls `stop` once on SIGTERM or SIGINT (single process), or, in a worker, when the primary asks (at
 * once if it asked during the start) or is gone, or on a SIGTERM sent to the worker alone (the primary
 * then replaces it). A worker ignores SIGINT.
 */
export function onStopRequest(stop: (reason: string) => void): void {
  if (!cluster.isWorker) {
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    return;
  }
  stopHandler = stop;
  if (stopAsked !== null) stop(stopAsked);
}

/**
 * The primary: checks the settings' store, pathway and case-link key (a failure throws, and the start
 * fails as a single process's would), then forks and supervises the workers until it is told to stop.
 * Resolves never; exits the process.
 */
export async function superviseWorkers(settings: Settings, logger: Logger): Promise<void> {
  await loadRuntime(settings);
  loadCaseLinkKey(settings);
  // Creates the tables once, before the workers race to, and proves the store can write.
  const store = await openAuditStore(settings.storage, { newId: randomUUID, now: () => new Date() }, storeOptionsOf(settings));
  await store.close();

  // Workers listening on port 0 would each get a port of their own: the primary picks one for all of them.
  const env = settings.port === 0 ? { PORT: String(await freePort(settings.host)) } : {};
  const ready = new Set<number>();
  const crashes: number[] = [];
  let stopping = false;
  let failed = false;
  let announced = false;

  const fork = (): Worker => {
    const w = cluster.fork(env);
    w.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && (m as { type?: unknown }).type === READY) {
        ready.add(w.id);
        logger.info({ event: 'worker-ready', worker: w.id, pid: w.process.pid }, 'worker ready');
        if (!announced && ready.size === settings.workers) {
          announced = true;
          const url = urlOf(settings.host, env.PORT === undefined ? settings.port : Number(env.PORT));
          logger.info({ event: 'ready', url, console: `${url}/console`, publicBaseUrl: settings.publicBaseUrl, workers: settings.workers }, 'hs-troponin-cds ready');
          process.stderr.write(startLine(url, settings.publicBaseUrl));
        }
      }
    });
    return w;
  };

  const living = (): Worker[] => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());

  const stopAll = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ event: 'shutdown', signal: reason, workers: living().length }, 'shutting down: stopping the workers');
    for (const w of living()) {
      if (w.isConnected()) w.send({ type: STOP });
      else w.process.kill('SIGTERM');
    }
    const timer = setTimeout(() => {
      logger.error({ event: 'shutdown-timeout' }, `workers still running after ${SHUTDOWN_LIMIT_MS / 1000} s: killing them`);
      for (const w of living()) w.process.kill('SIGKILL');
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS);
    timer.unref();
    if (living().length === 0) process.exit(failed ? 1 : 0);
  };

  cluster.on('exit', (w, code, signal) => {
    const wasReady = ready.delete(w.id);
    if (stopping) {
      if (code !== 0) failed = true;
      if (living().length === 0) {
        logger.info({ event: 'stopped' }, 'stopped');
        process.exit(failed ? 1 : 0);
      }
      return;
    }
    if (!wasReady) {
      logger.error({ event: 'worker-start-failed', worker: w.id, code, signal }, 'a worker failed to start: stopping');
      failed = true;
      stopAll('worker-start-failed');
      return;
    }
    const now = Date.now();
    crashes.push(now);
    while (crashes.length > 0 && (crashes[0] ?? now) < now - CRASH_WINDOW_MS) crashes.shift();
    const delay = crashes.length <= 1 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** (crashes.length - 1));
    logger.error({ event: 'worker-died', worker: w.id, pid: w.process.pid, code, signal, restartInMs: delay }, 'a worker died: starting another');
    setTimeout(() => {
      if (!stopping) fork();
    }, delay);
  });

  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGINT'));
  logger.info({ event: 'cluster-start', workers: settings.workers, pid: process.pid }, `starting ${settings.workers} workers`);
  for (let i = 0; i < settings.workers; i++) fork();
  return new Promise<void>(() => undefined);
}

/** A port free on `host` now (the system's choice for port 0). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host, port: 0 }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
