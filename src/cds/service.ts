/**
 * The CDS Hooks 2.0 service: discovery, the `patient-view` service `hs-troponin-chest-pain`, and its
 * feedback endpoint, each behind the client JWT (src/cds/jwt.ts).
 *
 * The order of one call, and why: the JWT is verified first (its `jti` durably remembered, so a replay
 * is refused by every process sharing the store); the body is validated; the data come from prefetch
 * or the FHIR server (src/cds/prefetch.ts), and when they cannot be had the failure is audited and the
 * answer is 412; the decision is made for the moment the request was received; the audit record is
 * durably appended; ONLY THEN are the cards sent. An audit store that cannot write gives 503 and no
 * card. The card's `uuid` is the id of its evaluation record (also its `auditId`), so feedback finds
 * the record it answers with one read, from any process sharing the store.
 *
 * @see {@link https://cds-hooks.hl7.org/2.0/ | CDS Hooks 2.0}
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { Resource } from 'fhir/r4.js';
import { JtiReplayedError, type AuditRecord, type AuditRecordInput, type AuditStore } from '../audit/store.js';
import { decideResources } from '../decide.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import { instantFromEpochMs } from '../engine/time.js';
import type { Decision } from '../engine/types.js';
import { TnpError, toOperationOutcome } from '../errors.js';
import { FHIR_JSON, publicError, UNAUTHORIZED_OUTCOME } from '../http/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { Settings } from '../settings.js';
import { auditableFhirUrl } from '../fhir/allow-list.js';
import { inputDigests, listedItems, resourceDigest } from '../audit/input-digests.js';
import { canonicalJson, sha256Hex } from '../util/canonical-json.js';
import type { Timers } from '../util/timers.js';
import { cardsFor, suggestsRetest, summaryFor } from './cards.js';
import { CdsUnauthorizedError, replayGuardExpiry, type JwtVerifier, type VerifiedClient } from './jwt.js';
import { peerOf } from '../dev/local-peer.js';
import { evaluationTimeOf } from '../dev/evaluation-time.js';
import { gatherData, prefetchTemplates, type GatheredData } from './prefetch.js';
import { feedbackRequestSchema, serviceRequestSchema } from './schemas.js';
import type { CdsCard, CdsDiscovery, CdsFeedbackItem, CdsFeedbackRequest, CdsPatientViewRequest } from './types.js';

/** The service id of the Chart 2 pathway on `patient-view` (chart2-pathway.md, section 7). */
export const SERVICE_ID = 'hs-troponin-chest-pain';
export const HOOK = 'patient-view';
export const DISCOVERY_PATH = '/cds-services';
export const SERVICE_PATH = `${DISCOVERY_PATH}/${SERVICE_ID}`;
export const FEEDBACK_PATH = `${SERVICE_PATH}/feedback`;

declare module 'fastify' {
  interface FastifyRequest {
    /** The CDS client whose JWT was verified for this request. */
    cdsClient: VerifiedClient | null;
    /** `hookInstance` of the CDS call (for logs), once the body is read. */
    hookInstance: string | null;
    /** When the request was received (epoch ms, from the injected clock): the evaluation time. */
    receivedAtMs: number;
    /**
     * The service call's verified `jti`, not yet durably remembered: it is committed with the call's audit
     * record (one transaction), or alone before any other answer is sent. Null once committed.
     */
    pendingJti: PendingJti | null;
  }
}

interface PendingJti {
  readonly iss: string;
  readonly jti: string;
  readonly expiresAt: Date;
  /** Key in the in-process set of jtis in flight. */
  readonly key: string;
}

export interface CdsServiceOptions {
  readonly settings: Settings;
  readonly runtime: PathwayRuntime;
  readonly store: AuditStore;
  readonly verifier: JwtVerifier;
  readonly metrics: Metrics;
  readonly newId: () => string;
  /** The product version (package.json), recorded in every evaluation record as the engine version. */
  readonly engineVersion: string;
  /** The timers of the FHIR pull's time bound. */
  readonly timers: Timers;
  /** Signs the cards' links to the console (src/cds/case-link-key.ts). */
  readonly caseLinkKey: Uint8Array;
  /**
   * With laboratory intake on: adds the patient's stored lab results to the gathered data (and discovery
   * asks for the Patient, whose identifiers find them). See src/intake/cds-merge.ts.
   */
  readonly labResults?: (body: CdsPatientViewRequest, resources: readonly unknown[], nowMs: number) => Promise<{ resources: unknown[]; added: number; duplicates: number }>;
  /** Honour the local development client's evaluation time (`dev` only; src/dev/evaluation-time.ts). */
  readonly devEvaluationTime?: boolean;
}

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The calling client as recorded: never the token. */
function clientOf(c: VerifiedClient): Json {
  return { iss: c.iss, tenant: c.tenant, jti: c.jti, kid: c.kid };
}

/** JSON round trip: the audit body holds plain JSON only (no undefined, no non-finite numbers). */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

/** The CDS Hooks routes. Registered inside buildApp, which installs the error handler and the parsers. */
export function cdsServicePlugin(app: FastifyInstance, opts: CdsServiceOptions): Promise<void> {
  const { settings, runtime, store, verifier, metrics, newId, engineVersion, timers, labResults } = opts;
  // The Patient bears on the decision when the site uses sex-specific URLs or the pathway reads sex itself.
  const needPatient = runtime.needsPatient;
  const inputs = runtime.pathway.file.inputs;
  const needs = ['the ECG (LOINC 8601-7)', ...(inputs.timi === undefined ? [] : ['the TIMI score']), ...(inputs.onset === undefined ? [] : ['the chest-pain onset'])];

  /** CDS Hooks 2.0 "Trusting CDS Clients": `aud` is the exact URL of the endpoint, from publicBaseUrl. */
  const requireJwt =
    (path: string): onRequestAsyncHookHandler =>
    async (req) => {
      try {
        req.cdsClient = await verifier.verify(req.headers.authorization, path, { peer: peerOf(req) });
      } catch (e) {
        if (e instanceof CdsUnauthorizedError) {
          metrics.jwtRefusals.inc();
          req.log.warn({ event: 'jwt-refused', reason: e.reason, path }, 'CDS client JWT refused');
        }
        throw e;
      }
    };

  /**
   * The service call's JWT check with the replay guard deferred to the audit commit (one durable commit
   * per call instead of two). A jti already held by the store, or in flight in this process, is refused
   * here; one that another process takes meanwhile is refused at the commit (the record is not written).
   */
  const inFlight = new Set<string>();
  const requireJwtDeferred: onRequestAsyncHookHandler = async (req) => {
    let key: string | null = null;
    try {
      const client = await verifier.verify(req.headers.authorization, SERVICE_PATH, { deferReplayGuard: true, peer: peerOf(req) });
      const k = `${client.iss}\u0000${client.jti}`;
      if (inFlight.has(k)) throw new CdsUnauthorizedError(`JWT jti ${JSON.stringify(client.jti.slice(0, 80))} replayed (in flight in this process)`);
      inFlight.add(k);
      key = k;
      if (await store.isJtiHeld(client.iss, client.jti)) throw new CdsUnauthorizedError(`JWT jti ${JSON.stringify(client.jti.slice(0, 80))} replayed (iss ${JSON.stringify(client.iss)})`);
      req.cdsClient = client;
      req.pendingJti = { iss: client.iss, jti: client.jti, expiresAt: replayGuardExpiry(client, settings.jwtClockToleranceSeconds), key: k };
    } catch (e) {
      if (key !== null) inFlight.delete(key);
      if (e instanceof CdsUnauthorizedError) {
        metrics.jwtRefusals.inc();
        req.log.warn({ event: 'jwt-refused', reason: e.reason, path: SERVICE_PATH }, 'CDS client JWT refused');
      }
      throw e;
    }
  };

  /**
   * Every answer of the service route that did not commit its jti with an audit record (400, 413, 415,
   * 500...) commits it alone before it is sent, so no answered token can be used again. When the store
   * refuses the pair (another process took it), the answer becomes 401; when it cannot write, 503. A 503
   * (nothing was written, no card) commits nothing: the call was not accepted.
   */
  const commitPendingJti = async (req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const pending = req.pendingJti;
    if (pending === null) return payload;
    req.pendingJti = null;
    try {
      if (reply.statusCode === 503) return payload;
      let fresh: boolean;
      try {
        fresh = await store.rememberJti(pending.iss, pending.jti, pending.expiresAt);
      } catch (e) {
        if (reply.statusCode >= 500) return payload;
        // Through the one mapping: a 500 body carries no internal message (the log has it).
        const { error, status } = publicError(e instanceof TnpError ? e : new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store cannot write'), req.log);
        reply.code(status).type(FHIR_JSON);
        return JSON.stringify(toOperationOutcome(error));
      }
      if (fresh || reply.statusCode >= 500) return payload;
      metrics.jwtRefusals.inc();
      req.log.warn({ event: 'jwt-refused', reason: `JWT jti replayed (iss ${JSON.stringify(pending.iss)}; taken while the call ran)`, path: SERVICE_PATH }, 'CDS client JWT refused');
      reply.code(401).header('www-authenticate', 'Bearer').type(FHIR_JSON);
      return JSON.stringify(UNAUTHORIZED_OUTCOME);
    } finally {
      inFlight.delete(pending.key);
    }
  };

  const releaseJti = (req: FastifyRequest): Promise<void> => {
    if (req.pendingJti !== null) inFlight.delete(req.pendingJti.key);
    return Promise.resolve();
  };

  /** Puts the hookInstance on every log line of a CDS call (and on the request-completed line). */
  const tagHookInstance = (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = req.body;
    // Runs before validation (so a refused body's log lines carry it too): only a well-formed value is logged.
    if (isObject(body) && typeof body['hookInstance'] === 'string' && /^[\x21-\x7e]{1,200}$/.test(body['hookInstance'])) {
      req.hookInstance = body['hookInstance'];
      req.log = req.log.child({ hookInstance: body['hookInstance'], iss: req.cdsClient?.iss });
      reply.log = req.log;
    }
    return Promise.resolve();
  };

  /**
   * Appends the record; with `req` holding a pending jti, in the same transaction as the jti (then a jti
   * taken meanwhile by another process is a 401 and nothing is written).
   */
  const appendTimed = async (input: AuditRecordInput, req?: FastifyRequest): Promise<AuditRecord> => {
    const pending = req?.pendingJti ?? null;
    const write = (i: AuditRecordInput): Promise<AuditRecord> => (pending === null ? store.append(i) : store.appendWithJti(i, pending.iss, pending.jti, pending.expiresAt));
    const end = metrics.auditWriteDuration.startTimer({ kind: input.kind });
    try {
      let rec: AuditRecord;
      try {
        rec = await write(input);
      } catch (e) {
        // A body the store refuses as not plain JSON (a non-finite number from the data, say): nothing was
        // written; store its JSON form instead (non-finite numbers become null, as JSON has them).
        if (!(e instanceof TnpError && e.code === 'TNP_ERR_AUDIT_RECORD_INVALID')) throw e;
        rec = await write({ ...input, body: plain(input.body) });
      }
      end();
      if (req !== undefined && pending !== null) {
        req.pendingJti = null;
        inFlight.delete(pending.key);
      }
      return rec;
    } catch (e) {
      if (e instanceof JtiReplayedError && req !== undefined && pending !== null) {
        req.pendingJti = null;
        inFlight.delete(pending.key);
        metrics.jwtRefusals.inc();
        const refusal = new CdsUnauthorizedError(`JWT jti ${JSON.stringify(pending.jti.slice(0, 80))} replayed (iss ${JSON.stringify(pending.iss)}; taken while the call ran)`, e);
        req.log.warn({ event: 'jwt-refused', reason: refusal.reason, path: SERVICE_PATH }, 'CDS client JWT refused');
        throw refusal;
      }
      metrics.auditWriteFailures.inc({ kind: input.kind });
      throw e;
    }
  };

  const discovery: CdsDiscovery = {
    services: [
      {
        hook: HOOK,
        id: SERVICE_ID,
        // The pathway the site runs (settings `pathway`), by the name its file's title begins with.
        title: `Chest pain: high-sensitivity troponin pathway (${runtime.pathway.file.title.split(':')[0] ?? runtime.pathway.id})`,
        description: `${runtime.pathway.file.title}. ${runtime.pathway.file.description} Answers one card: the pathway outcome, the retest time, and why.`,
        prefetch: prefetchTemplates(runtime, needPatient || labResults !== undefined),
        usageRequirements:
          `For adults in the emergency department with cardiac-sounding chest pain. Needs ${needs.join(', ')} and the high-sensitivity troponin results of the episode, by prefetch or through fhirServer with fhirAuthorization (read Observation` +
          (needPatient ? ' and Patient' : '') +
          ').',
        // Which pathway file exactly: a changed file has another sha256 (as on every card and audit record).
        extension: { 'hs-troponin-cds': { pathway: { id: runtime.identity.id, version: runtime.identity.version, sha256: runtime.identity.sha256 } } },
      },
    ],
  };

  /** CDS Hooks 2.0 "Discovery". */
  app.get(DISCOVERY_PATH, { onRequest: requireJwt(DISCOVERY_PATH) }, async (_req, reply) => {
    return reply.header('cache-control', 'no-store').send(discovery);
  });

  /** Who called, about whom, from where: the head of every evaluation and failure record. */
  const callOf = (body: CdsPatientViewRequest, client: VerifiedClient) => ({
    service: SERVICE_ID,
    hook: body.hook,
    hookInstance: body.hookInstance,
    client: clientOf(client),
    userId: body.context.userId,
    patientId: body.context.patientId,
    encounterId: body.context.encounterId ?? null,
    // Origin and path only: a query or credentials in it (tokens, patient ids) are not kept.
    fhirServer: auditableFhirUrl(body.fhirServer),
  });

  /** What the EHR was told and, for a FHIR failure, what the FHIR server did (the answer leaves that out). */
  const errorOf = (err: TnpError): Json => ({
    code: err.code,
    status: err.status,
    message: err.message,
    ...(err.cause instanceof TnpError ? { cause: { code: err.cause.code, message: err.cause.message } } : {}),
  });

  const failureRecord = async (req: FastifyRequest, body: CdsPatientViewRequest, client: VerifiedClient, err: TnpError): Promise<string> => {
    const rec = await appendTimed({
      kind: 'evaluation-failure',
      at: new Date(req.receivedAtMs).toISOString(),
      patientId: body.context.patientId,
      body: plain({
        ...callOf(body, client),
        prefetchKeys: isObject(body.prefetch) ? Object.keys(body.prefetch).sort() : [],
        error: errorOf(err),
        pathway: runtime.identity,
        engineVersion,
      }),
    }, req);
    return rec.id;
  };

  /** CDS Hooks 2.0 "Calling a CDS Service" for `patient-view`. */
  app.post<{ Body: CdsPatientViewRequest }>(
    SERVICE_PATH,
    { schema: { body: serviceRequestSchema }, onRequest: requireJwtDeferred, preValidation: tagHookInstance, onSend: commitPendingJti, onResponse: releaseJti, onRequestAbort: releaseJti },
    async (req, reply) => {
      const body = req.body;
      const client = req.cdsClient;
      if (client === null) throw new CdsUnauthorizedError('no verified client');
      if (body.hook !== HOOK) {
        throw new TnpError('TNP_ERR_HOOK_UNSUPPORTED', `${SERVICE_ID} answers the ${HOOK} hook, not "${body.hook.slice(0, 100)}"`, { expression: ['hook'] });
      }
      // When it was received, unless the local development client of `dev` set the time (hazard I-02).
      const evaluation = evaluationTimeOf(body, client.iss, { allowed: opts.devEvaluationTime === true, receivedAtMs: req.receivedAtMs });

      let data: GatheredData;
      try {
        data = await gatherData(body, {
          runtime,
          needPatient,
          timeoutMs: settings.fhirPullTimeoutMs,
          fhirServers: settings.cdsClients.find((c) => c.iss === client.iss)?.fhirServers ?? [],
          timers,
          onPull: (ms, error) => {
            metrics.fhirPullDuration.observe({ outcome: error === null ? 'ok' : 'error' }, ms / 1000);
            if (error !== null) metrics.fhirPullErrors.inc({ code: error.code });
          },
        });
      } catch (e) {
        if (e instanceof TnpError && e.status === 412) {
          const detail = e.cause instanceof TnpError ? e.cause : null;
          metrics.dataUnavailable.inc({ code: (detail ?? e).code });
          const auditId = await failureRecord(req, body, client, e);
          req.log.warn({ event: 'data-unavailable', code: e.code, auditId, ...(detail === null ? {} : { detail: { code: detail.code, message: detail.message } }) }, 'CDS call answered 412: required data unobtainable');
        }
        throw e;
      }

      if (labResults !== undefined) {
        const merged = await labResults(body, data.resources, evaluation.atMs);
        data = { ...data, resources: merged.resources, sources: { ...data.sources, labResults: merged.added, labDuplicates: merged.duplicates } as GatheredData['sources'] };
      }
      const decision: Decision = await decideResources(runtime, data.resources as Resource[], {
        now: instantFromEpochMs(evaluation.atMs),
        encounterId: body.context.encounterId ?? null,
      });

      const suggestionUuid = newId();
      const cardContext = {
        newId,
        publicBaseUrl: settings.publicBaseUrl,
        displayTimeZone: settings.displayTimeZone,
        runtime,
        resources: data.resources,
        caseLinkKey: opts.caseLinkKey,
        patientId: body.context.patientId,
        encounterId: body.context.encounterId ?? null,
        suggestionUuid,
      };
      const record = await appendTimed({
        kind: 'evaluation',
        at: new Date(req.receivedAtMs).toISOString(),
        patientId: body.context.patientId,
        body: {
          ...callOf(body, client),
          data: { sources: data.sources, excluded: listedItems(data.excluded), excludedCount: data.excluded.length, fhirRequests: data.fhirRequests },
          ...inputDigests(data.resources.map(resourceDigest)),
          pathway: runtime.identity,
          engineVersion,
          evaluatedAt: decision.evaluatedAt,
          ...(evaluation.given ? { evaluationTimeGivenBy: client.iss } : {}),
          outcome: decision.outcome,
          indicator: decision.indicator,
          summary: decision.summary,
          reasons: decision.reasons,
          missing: decision.missing,
          missingDetails: decision.missingDetails,
          retestDue: decision.retestDue ?? null,
          retestOverdue: decision.retestOverdue ?? null,
          assays: decision.assays,
          troponin: decision.troponin,
          inputs: decision.inputs,
          path: decision.path,
          trace: decision.trace,
          cards: [{ uuidIsRecordId: true, summary: summaryFor(decision, runtime, settings.displayTimeZone), indicator: decision.indicator, suggestionUuids: suggestsRetest(decision, runtime) ? [suggestionUuid] : [] }],
        },
      }, req);
      const cards: CdsCard[] = cardsFor(decision, { ...cardContext, auditId: record.id, cardUuid: record.id });
      metrics.outcomes.inc({ outcome: decision.outcome });
      req.log.info({ event: 'evaluation', outcome: decision.outcome, auditId: record.id, sources: data.sources, fhirRequests: data.fhirRequests }, 'CDS evaluation answered');
      return reply.header('cache-control', 'no-store').send({ cards });
    },
  );

  /** CDS Hooks 2.0 "Feedback": each item its own record, linked to the card's evaluation record; an exact repeat of an item appends nothing. */
  app.post<{ Body: CdsFeedbackRequest }>(FEEDBACK_PATH, { schema: { body: feedbackRequestSchema }, onRequest: requireJwt(FEEDBACK_PATH) }, async (req, reply) => {
    const client = req.cdsClient;
    if (client === null) throw new CdsUnauthorizedError('no verified client');
    const items = req.body.feedback;
    // Check every item before writing any, so a bad batch writes nothing.
    const targets = await Promise.all(
      items.map(async (item: CdsFeedbackItem, i) => {
        const rec = await store.get(item.card);
        const recBody = rec === null ? null : rec.body;
        const recClient = isObject(recBody) && isObject(recBody['client']) ? recBody['client'] : null;
        if (rec === null || rec.kind !== 'evaluation' || recClient === null || recClient['iss'] !== client.iss) {
          throw new TnpError('TNP_ERR_CARD_UNKNOWN', `feedback[${i}].card names no card this service issued to this client`, { expression: [`feedback[${i}].card`] });
        }
        const cards = isObject(recBody) && Array.isArray(recBody['cards']) ? (recBody['cards'] as unknown[]) : [];
        const known = new Set(cards.flatMap((c) => (isObject(c) && Array.isArray(c['suggestionUuids']) ? (c['suggestionUuids'] as unknown[]) : [])));
        (item.acceptedSuggestions ?? []).forEach((s, j) => {
          if (!known.has(s.id)) throw new TnpError('TNP_ERR_REQUEST_INVALID', `feedback[${i}].acceptedSuggestions[${j}].id is not a suggestion of that card`, { expression: [`feedback[${i}].acceptedSuggestions[${j}].id`] });
        });
        return rec;
      }),
    );
    const at = new Date(req.receivedAtMs).toISOString();
    const written = await Promise.all(
      items.map(async (item, i) => {
        const target = targets[i];
        if (target === undefined) throw new TnpError('TNP_ERR_INTERNAL', 'feedback target lost');
        // The feedback as recorded; its digest is in the idempotency key, so an exact repeat (an EHR retry)
        // is one record and the same card and outcome with another reason, comment or time is a new one.
        const content = plain({
          service: SERVICE_ID,
          card: item.card,
          outcome: item.outcome,
          acceptedSuggestions: item.acceptedSuggestions ?? [],
          overrideReason: item.overrideReason ?? null,
          outcomeTimestamp: item.outcomeTimestamp,
        }) as Json;
        const rec = await appendTimed({
          kind: 'feedback',
          at,
          patientId: target.patientId,
          linksTo: target.id,
          idempotencyKey: `feedback|${item.card}|${item.outcome}|${sha256Hex(canonicalJson(content))}`,
          body: { ...content, client: clientOf(client) },
        });
        const isRepeat = rec.at !== at || (isObject(rec.body) && isObject(rec.body['client']) && rec.body['client']['jti'] !== client.jti);
        return { card: item.card, outcome: item.outcome, auditId: rec.id, repeat: isRepeat };
      }),
    );
    req.log.info({ event: 'feedback', items: written.length, repeats: written.filter((w) => w.repeat).length }, 'CDS feedback recorded');
    return reply.header('cache-control', 'no-store').send({ feedback: written });
  });
  return Promise.resolve();
}
