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
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Resource } from 'fhir/r4.js';
import type { AuditStore } from '../audit/store.js';
import { decideResources } from '../decide.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import { instantFromEpochMs } from '../engine/time.js';
import type { Decision } from '../engine/types.js';
import { TnpError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { Settings } from '../settings.js';
import type { Timers } from '../util/timers.js';
import { evaluationTimeOf } from '../dev/evaluation-time.js';
import { callGuards, plain } from './call-guard.js';
import { cardsFor, withRecordId } from './cards.js';
import { feedbackRoute } from './feedback.js';
import { CdsUnauthorizedError, type JwtVerifier, type VerifiedClient } from './jwt.js';
import { gatherData, prefetchTemplates, type GatheredData } from './prefetch.js';
import { callOf, errorOf, evaluationBody } from './records.js';
import { serviceRequestSchema } from './schemas.js';
import type { CdsCard, CdsDiscovery, CdsPatientViewRequest } from './types.js';
import { isObject } from '../util/guards.js';

/** The service id of the Chart 2 pathway on `patient-view` (chart2-pathway.md, section 7). */
export const SERVICE_ID = 'hs-troponin-chest-pain';
export const HOOK = 'patient-view';
export const DISCOVERY_PATH = '/cds-services';
export const SERVICE_PATH = `${DISCOVERY_PATH}/${SERVICE_ID}`;
export const FEEDBACK_PATH = `${SERVICE_PATH}/feedback`;

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

/** The CDS Hooks routes. Registered inside buildApp, which installs the error handler and the parsers. */
export function cdsServicePlugin(app: FastifyInstance, opts: CdsServiceOptions): Promise<void> {
  const { settings, runtime, store, verifier, metrics, newId, engineVersion, timers, labResults } = opts;
  // The Patient bears on the decision when the site uses sex-specific URLs or the pathway reads sex itself.
  const needPatient = runtime.needsPatient;
  const inputs = runtime.pathway.file.inputs;
  const needs = ['the ECG (LOINC 8601-7)', ...(inputs.timi === undefined ? [] : ['the TIMI score']), ...(inputs.onset === undefined ? [] : ['the chest-pain onset'])];
  const guards = callGuards(SERVICE_PATH, { settings, store, verifier, metrics });
  const { requireJwt, requireJwtDeferred, commitPendingJti, releaseJti, appendTimed } = guards;

  /** Puts the hookInstance on every log line of a CDS call (and on the request-completed line). */
  const tagHookInstance = (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const body = req.body;
    // Runs before validation (so a refused body's log lines carry it too): only a well-formed value is logged.
    if (isObject(body) && typeof body['hookInstance'] === 'string' && /^[\x21-\x7e]{1,200}$/.test(body['hookInstance'])) {
      req.hookInstance = body['hookInstance'];
      const bindings = { hookInstance: body['hookInstance'], iss: req.cdsClient?.iss };
      // The request's own pino logger (a child fastify made for this request alone, never the app's) takes the
      // bindings: the same lines as a child of it would write, without making another logger per call.
      const log = req.log as typeof req.log & { setBindings?: (b: Record<string, unknown>) => void };
      if (typeof log.setBindings === 'function' && log === reply.log && log !== app.log) log.setBindings(bindings);
      else {
        req.log = req.log.child(bindings);
        reply.log = req.log;
      }
    }
    return Promise.resolve();
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

  const failureRecord = async (req: FastifyRequest, body: CdsPatientViewRequest, client: VerifiedClient, err: TnpError): Promise<string> => {
    const rec = await appendTimed({
      kind: 'evaluation-failure',
      at: new Date(req.receivedAtMs).toISOString(),
      patientId: body.context.patientId,
      body: plain({
        ...callOf(SERVICE_ID, body, client),
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
        patientId: body.context.patientId,
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
      // The card is made once, before the record (which keeps its summary), and sent only once the record is
      // committed, with the record's id as its uuid.
      const [card] = cardsFor(decision, { ...cardContext, auditId: '', cardUuid: '' }) as [CdsCard];
      const record = await appendTimed({
        kind: 'evaluation',
        at: new Date(req.receivedAtMs).toISOString(),
        patientId: body.context.patientId,
        body: evaluationBody({
          call: callOf(SERVICE_ID, body, client),
          data,
          runtime,
          engineVersion,
          decision,
          evaluationTimeGivenBy: evaluation.given ? client.iss : null,
          cardSummary: card.summary,
          suggestionUuid,
        }),
      }, req);
      const cards: CdsCard[] = [withRecordId(card, record.id)];
      metrics.outcomes.inc({ outcome: decision.outcome });
      req.log.info({ event: 'evaluation', outcome: decision.outcome, auditId: record.id, sources: data.sources, fhirRequests: data.fhirRequests }, 'CDS evaluation answered');
      return reply.header('cache-control', 'no-store').send({ cards });
    },
  );

  feedbackRoute(app, FEEDBACK_PATH, SERVICE_ID, store, guards);
  return Promise.resolve();
}
