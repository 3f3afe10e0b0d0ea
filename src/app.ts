/**
 * The HTTP app, built apart from `listen` (src/server.ts listens): the CDS Hooks service, the audit
 * trail for admins, the console, health and metrics. Everything it needs comes in: the frozen settings,
 * the pathway runtime, the audit store, the clock and the id generator. It reads no environment.
 *
 * Endpoints (service contract): `GET /cds-services`, `POST /cds-services/hs-troponin-chest-pain`,
 * `POST /cds-services/hs-troponin-chest-pain/feedback` (client JWT); `GET /audit/{id}`,
 * `GET /audit?patient=`, `GET /audit/verify`, `GET /reports/adoption` (admin token); `GET /console` (and its API);
 * `GET /healthz`, `GET /metrics`.
 */
import { clientErrorHandler } from './http/client-error.js';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import cors from '@fastify/cors';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AuditStore } from './audit/store.js';
import { loadCaseLinkKey } from './cds/case-link-key.js';
import { createJwtVerifier } from './cds/jwt.js';
import { cdsServicePlugin, DISCOVERY_PATH } from './cds/service.js';
import { consolePlugin } from './console/plugin.js';
import { createLabServices, type LabServices } from './episodes/lab-services.js';
import { worklistPlugin } from './episodes/routes.js';
import { fhirIntakePlugin } from './intake/fhir-routes.js';
import { withStoredResults } from './intake/cds-merge.js';
import { episodeRules } from './episodes/rules.js';
import type { CdsPatientViewRequest } from './cds/types.js';
import type { Poster } from './alerts/deliver.js';
import type { PathwayRuntime } from './engine/catalogue.js';
import { TnpError } from './errors.js';
import { adminPlugin } from './http/admin.js';
import type { AdoptionReports } from './adoption/service.js';
import { reportsPlugin } from './http/reports.js';
import { installErrorHandling } from './http/errors.js';
import { createLogger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import type { Settings } from './settings.js';
import { realTimers, type Timers } from './util/timers.js';

/** Largest request body accepted (413 above): prefetch of a long episode fits many times over. */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;
/** Deepest JSON nesting accepted (FHIR resources nest a few levels; deeper is hostile). */
export const MAX_JSON_DEPTH = 64;

export interface AppDeps {
  readonly runtime: PathwayRuntime;
  readonly store: AuditStore;
  /** The clock: the evaluation time of a CDS call is when it was received, by this clock. */
  readonly now: () => Date;
  /** New unique ids (UUIDs): card suggestions, request ids. */
  readonly newId: () => string;
  /** The logger (default: JSON to stdout at settings.logLevel). */
  readonly logger?: Logger;
  /** Fetches a client's JWKS from its jwksUrl (default: fetch with a timeout; tests inject). */
  readonly fetchJwks?: (url: string) => Promise<unknown>;
  /** Metrics registry (default: a new one for this app). */
  readonly metrics?: Metrics;
  /** The timers of the FHIR pull's time bound, fhirPullTimeoutMs (default: the real clock's). */
  readonly timers?: Timers;
  /** The key that signs card links to the console (default: from the settings or the data directory). */
  readonly caseLinkKey?: Uint8Array;
  /** The adoption report over the audit store (GET /reports/adoption); without it that route answers 503. */
  readonly adoption?: AdoptionReports;
  /** How alerts are POSTed to the notification webhooks (default: fetch with a timeout). */
  readonly postAlert?: Poster;
  /**
   * Honour the evaluation time the local development client asks for (`npx hs-troponin-cds dev` only,
   * src/dev/evaluation-time.ts); default false: every call is evaluated when it is received.
   */
  readonly devEvaluationTime?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Laboratory intake, worklist stream and background work (src/episodes/lab-services.ts). */
    lab: LabServices;
  }
}

/** The product version, recorded in every evaluation record as the engine version. */
export const ENGINE_VERSION: string = (() => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
})();

/** The deepest nesting of a JSON text, scanning brackets outside strings (no recursion). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * Builds the app (not listening). The caller owns the store: `app.close()` does not close it.
 *
 * @throws TnpError `TNP_ERR_SETTINGS_INVALID` when the CDS clients cannot be set up (e.g. two with one `iss`);
 *   `TNP_ERR_CASE_LINK_KEY_UNUSABLE` when the key file of the data directory cannot be used.
 */
export async function buildApp(settings: Settings, deps: AppDeps): Promise<FastifyInstance> {
  const logger = deps.logger ?? createLogger(settings.logLevel);
  const metrics = deps.metrics ?? createMetrics();
  const caseLinkKey = deps.caseLinkKey ?? loadCaseLinkKey(settings);
  const verifier = createJwtVerifier(settings, {
    rememberJti: (iss, jti, expiresAt) => deps.store.rememberJti(iss, jti, expiresAt),
    now: deps.now,
    log: logger,
    ...(deps.fetchJwks === undefined ? {} : { fetchJwks: deps.fetchJwks }),
  });

  const app = Fastify({
    loggerInstance: logger,
    // One log line per request, written by the onResponse hook below (with the hookInstance).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_BODY_BYTES,
    // The client of a request is the socket's peer, or behind a listed proxy the X-Forwarded-For client.
    trustProxy: settings.trustedProxies.length === 0 ? false : [...settings.trustedProxies],
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    clientErrorHandler,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
  }) as unknown as FastifyInstance;

  app.decorateRequest('cdsClient', null);
  app.decorateRequest('hookInstance', null);
  app.decorateRequest('receivedAtMs', 0);
  app.decorateRequest('pendingJti', null);

  // Only JSON bodies: no text/plain parser (415 for anything else); depth-limited before parsing.
  app.removeContentTypeParser('text/plain');
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/json', 'application/fhir+json'], { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (jsonDepth(text) > MAX_JSON_DEPTH) {
      done(new TnpError('TNP_ERR_REQUEST_INVALID', `the request body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      return;
    }
    // The default parser is synchronous and calls `done`; its declared type also allows a promise.
    void defaultJson(req, text, done);
  });

  installErrorHandling(app);

  app.addHook('onRequest', async (req) => {
    req.receivedAtMs = deps.now().getTime();
    return Promise.resolve();
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const labels = { route, method: req.method, status: String(reply.statusCode) };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
    reply.log.info({ req, res: { statusCode: reply.statusCode }, responseTime: Math.round(reply.elapsedTime * 100) / 100 }, 'request completed');
    return Promise.resolve();
  });

  // CORS for the allowlisted origins only; the preflight (OPTIONS) carries no JWT and needs none.
  await app.register(cors, {
    origin: settings.corsOrigins.length === 0 ? false : [...settings.corsOrigins],
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    maxAge: 600,
    credentials: false,
    strictPreflight: true,
  });

  // Health proves the store can WRITE (a read works on a full disk or a read-only store): the freshest
  // durable write, or a heartbeat at most every healthCheckIntervalMs (see docs/audit.md "Health").
  app.get('/healthz', async (req, reply) => {
    const check = await deps.store.checkWritable();
    // The last database connection lost outside a request (PostgreSQL), when there was one: what failed and when.
    const about = { storeCheckedAt: check.checkedAt, ...(check.connectionLost === undefined ? {} : { storeConnectionLost: check.connectionLost }), pathway: deps.runtime.identity, engineVersion: ENGINE_VERSION };
    reply.header('cache-control', 'no-store');
    if (check.ok) return reply.send({ ok: true, status: 'ok', store: 'ok', ...about });
    req.log.warn({ event: 'audit-store-not-writable', store: deps.store.location, problem: check.problem }, 'health: the audit store cannot write');
    return reply.code(503).send({ ok: false, status: 'unavailable', store: `not writable: ${check.problem}`, ...about });
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).header('cache-control', 'no-store').send(text);
  });

  // With laboratory intake on, a CDS call sees the patient's stored lab results (src/intake/cds-merge.ts).
  const windowMs = episodeRules(deps.runtime, settings.notifications).windowMs;
  const labResults =
    settings.labClients.length === 0
      ? undefined
      : (body: CdsPatientViewRequest, resources: readonly unknown[], nowMs: number) => withStoredResults(deps.store, resources, { patientId: body.context.patientId, prefetch: body.prefetch, nowMs, windowMs });
  await app.register(cdsServicePlugin, { settings, runtime: deps.runtime, store: deps.store, verifier, metrics, newId: deps.newId, engineVersion: ENGINE_VERSION, timers: deps.timers ?? realTimers, caseLinkKey, devEvaluationTime: deps.devEvaluationTime === true, ...(labResults === undefined ? {} : { labResults }) });
  await app.register(adminPlugin, { adminTokens: settings.adminTokens, store: deps.store });
  await app.register(reportsPlugin, { adminTokens: settings.adminTokens, adoption: deps.adoption });
  // Public, per-client rate limited (settings rateLimit); /healthz and /metrics above are not limited.
  await app.register(consolePlugin, { runtime: deps.runtime, settings, caseLinkKey, now: deps.now, metrics });

  if (settings.caseLinkKey === null && settings.storage.kind === 'postgres') {
    app.log.warn(
      { event: 'case-link-key-per-process', dataDir: settings.dataDir },
      'No caseLinkKey is set: this process signs card links with its own key from dataDir. Processes sharing the PostgreSQL store need the same caseLinkKey, or the console shows the links of the others as unverified.',
    );
  }
  // Laboratory results in (FHIR here, HL7 v2 by src/intake/hl7-listener.ts), the worklist and its stream.
  const lab = createLabServices(settings, { store: deps.store, runtime: deps.runtime, now: deps.now, newId: deps.newId, logger, engineVersion: ENGINE_VERSION, ...(deps.postAlert === undefined ? {} : { post: deps.postAlert }) });
  app.decorate('lab', lab);
  app.addHook('onClose', () => Promise.resolve(lab.stream.close()));
  await app.register(fhirIntakePlugin, {
    labClients: settings.labClients,
    adminTokens: settings.adminTokens,
    publicBaseUrl: settings.publicBaseUrl,
    intake: lab.intake,
    store: deps.store,
    version: ENGINE_VERSION,
    metadataLimit: { rule: settings.rateLimit.fhirMetadata, now: deps.now, onLimited: (group) => metrics.rateLimited.inc({ group }) },
  });
  await app.register(worklistPlugin, { worklistTokens: settings.worklistTokens, adminTokens: settings.adminTokens, store: deps.store, stream: lab.stream, now: deps.now });

  app.log.info({ event: 'app-built', discovery: DISCOVERY_PATH, publicBaseUrl: settings.publicBaseUrl, cdsClients: settings.cdsClients.map((c) => c.iss), store: deps.store.location }, 'app built');
  return app;
}
