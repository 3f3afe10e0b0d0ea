/**
 * The service process (`npm start`, and `npx hs-troponin-cds dev`): reads the environment once
 * (HS_TROPONIN_CDS_SETTINGS, HOST, PORT), validates the settings
 * (a bad file stops the start with the key named, exit 1), opens the audit store (SQLite under ./data/
 * by default; a store it cannot write stops the start, exit 1, naming the store and why), loads the
 * pathway, builds the app and listens. SIGTERM/SIGINT close it gracefully: stop accepting, finish the
 * requests in flight, commit what the store has queued, exit 0. With `workers` above 1 this process
 * is the primary of a cluster (src/cluster.ts) and each worker runs the rest of main.
 */
import { randomUUID } from 'node:crypto';
import { openAuditStore, storeOptionsOf, type AuditStore } from './audit/store.js';
import { buildApp } from './app.js';
import { isClusterPrimary, isClusterWorker, onStopRequest, reportReady, superviseWorkers, workerSettings } from './cluster.js';
import { startAdoption, type RunningAdoption } from './adoption/service.js';
import { TnpError } from './errors.js';
import { startHl7Listener, type Hl7Listener } from './intake/hl7-listener.js';
import { announceReady, listenOn, localUrl } from './http/listen.js';
import { createLogger } from './observability/logger.js';
import { loadRuntime } from './pathways/load.js';
import { loadSettings, type Settings } from './settings.js';

function fail(message: string): never {
  process.stderr.write(`hs-troponin-cds: cannot start: ${message}\n`);
  process.exit(1);
}

function describe(e: unknown): string {
  if (e instanceof TnpError) return `${e.message} [${e.code}]\n  How to fix: ${e.fix}`;
  return e instanceof Error ? e.message : String(e);
}

export interface ServiceOptions {
  /** The environment: HS_TROPONIN_CDS_SETTINGS, HOST and PORT are read. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Adjusts the settings before anything starts (`dev` adds the local development client, one process). */
  readonly prepare?: (settings: Settings) => Promise<Settings>;
  /** Honour the local development client's evaluation time (`dev` only; src/dev/evaluation-time.ts). */
  readonly devEvaluationTime?: boolean;
  /** More lines after the start line, given the URL listened on (`dev`: how to make a call). */
  readonly afterReady?: (url: string) => string;
}

/** Starts the service; a failed start writes why on stderr and exits 1. Resolves once it listens. */
export async function runService(opts: ServiceOptions): Promise<void> {
  return main(opts).catch((e: unknown) => fail(describe(e)));
}

async function main(opts: ServiceOptions): Promise<void> {
  let settings: Settings;
  try {
    settings = loadSettings({ env: opts.env });
    if (opts.prepare !== undefined) settings = await opts.prepare(settings);
  } catch (e) {
    fail(describe(e));
  }
  const logger = createLogger(settings.logLevel);
  if (isClusterPrimary(settings)) return superviseWorkers(settings, logger);
  settings = workerSettings(settings);
  const now = (): Date => new Date();

  let runtime;
  try {
    runtime = await loadRuntime(settings);
  } catch (e) {
    fail(describe(e));
  }
  if (runtime.usingDefaultCodes) {
    logger.warn(
      { event: 'default-assay-codes', assays: [...runtime.assays.keys()] },
      'No laboratory codes are mapped to assays in the settings (assayCodeMappings): the catalogue\'s default codes apply, and every card names the assay assumed.',
    );
  }
  if (settings.cdsClients.length === 0) logger.warn({ event: 'no-cds-clients' }, 'No CDS client is trusted (cdsClients is empty): every CDS call gets 401 until one is added.');
  if (settings.adminTokens.length === 0) logger.warn({ event: 'no-admin-tokens' }, 'No admin token is set (adminTokens): the audit trail cannot be read over HTTP.');

  let store: AuditStore;
  try {
    // Opening proves the store can write (a committed heartbeat): a store it cannot write stops the start.
    store = await openAuditStore(settings.storage, { newId: randomUUID, now }, storeOptionsOf(settings));
  } catch (e) {
    fail(describe(e));
  }
  for (const w of store.warnings) logger.warn({ event: 'audit-store-warning' }, w);
  logger.info({ event: 'audit-store-open', location: store.location }, 'audit store open');

  let app;
  let adoption: RunningAdoption | undefined;
  let hl7: Hl7Listener | null = null;
  let stopLab: () => void = () => undefined;
  try {
    adoption = await startAdoption(settings.storage, { now, busyTimeoutMs: settings.busyTimeoutMs, lateRetestMinutes: settings.adoptionLateRetestMinutes, onError: (e) => logger.warn({ event: 'adoption-rollup-failed', err: e }, 'adoption roll-up: catch-up failed (retried at the next tick)') });
    app = await buildApp(settings, { runtime, store, now, newId: randomUUID, logger, adoption: adoption.reports, devEvaluationTime: opts.devEvaluationTime === true });
    await listenOn(app, settings);
    // Laboratory results over HL7 v2 (MLLP), when the settings name a listener; timers, alerts, streams.
    if (settings.hl7 !== null) hl7 = await startHl7Listener({ ...settings.hl7, clients: settings.labClients, intake: app.lab.intake, now, newId: randomUUID, logger });
    stopLab = app.lab.start();
    // In a cluster each worker tells the primary, which writes the one start line once all listen.
    if (isClusterWorker()) reportReady();
    else {
      announceReady(app, settings, (line) => process.stderr.write(line));
      if (opts.afterReady !== undefined) process.stderr.write(opts.afterReady(localUrl(app, settings)));
    }
  } catch (e) {
    await app?.close().catch(() => undefined);
    await adoption?.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    fail(describe(e));
  }

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ event: 'forced-exit', signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ event: 'shutdown', signal }, 'shutting down: finishing requests in flight');
    const timer = setTimeout(() => {
      logger.error({ event: 'shutdown-timeout' }, 'shutdown took longer than 10 s: exiting');
      process.exit(1);
    }, 10_000);
    timer.unref();
    stopLab();
    Promise.resolve(hl7?.close())
      .then(() => app.close())
      .then(() => adoption?.stop())
      .then(() => store.close())
      .then(() => {
        logger.info({ event: 'stopped' }, 'stopped');
        process.exit(0);
      })
      .catch((e: unknown) => {
        logger.error({ event: 'shutdown-failed', err: e }, 'shutdown failed');
        process.exit(1);
      });
  };
  onStopRequest(stop);
}
