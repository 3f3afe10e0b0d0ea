/**
 * FHIR intake for laboratory systems (service contract): `POST /fhir/Observation` (create, conditional
 * create with If-None-Exist), `POST /fhir` (batch or transaction Bundle), `GET /fhir/Observation/{id}`
 * and `/_history/{vid}`, `GET /fhir/metadata`. Each accepted result goes through the one intake path
 * (src/intake/intake.ts) and the answer is sent only once it is durable.
 *
 * Bounds: body 1 MiB (413), Bundle entries (413), JSON nesting (400, the app's parser), posts in flight
 * per lab client (503). A per-client rate limiter belongs in `admit` (the seam for @fastify/rate-limit).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TnpError, toOperationOutcome } from '../errors.js';
import { FHIR_JSON } from '../http/errors.js';
import { limitRoutes, type RateLimitOptions } from '../http/rate-limit.js';
import type { LabClientSettings, RateLimitRule } from '../settings.js';
import type { ItemOutcome } from './builder.js';
import { capabilityStatement, outcomeOf } from './capability.js';
import { tokenTable } from './auth.js';
import type { Intake } from './intake.js';
import { itemOf, type IntakeItem } from './item.js';
import { checkObservation } from './validate.js';
import type { AuditStore } from '../audit/store.js';
import { isObject } from '../util/guards.js';

export const FHIR_BODY_LIMIT = 1024 * 1024;
export const MAX_BUNDLE_ENTRIES = 500;
/** Posts one lab client may have in flight in this process. */
export const MAX_IN_FLIGHT_PER_CLIENT = 64;

export interface FhirIntakeOptions {
  readonly labClients: readonly LabClientSettings[];
  readonly adminTokens: readonly string[];
  readonly publicBaseUrl: string;
  readonly intake: Intake;
  readonly store: AuditStore;
  readonly version: string;
  /** The per-client budget of `GET /fhir/metadata` (settings `rateLimit.fhirMetadata`), on this clock. */
  readonly metadataLimit: { readonly rule: RateLimitRule } & RateLimitOptions;
}

type Json = Record<string, unknown>;

declare module 'fastify' {
  interface FastifyRequest {
    /** The lab client whose token this request carries (FHIR intake), or null. */
    labClient: string | null;
  }
}

/** `identifier=system|value` (the one search a conditional create may name) as an identity key. */
export function conditionKey(raw: string, where: string): string {
  const m = /^identifier=([^&|]*)\|([^&]+)$/.exec(raw.trim());
  let system: string | undefined;
  let value: string | undefined;
  try {
    system = m?.[1] === undefined ? undefined : decodeURIComponent(m[1]);
    value = m?.[2] === undefined ? undefined : decodeURIComponent(m[2]);
  } catch {
    system = undefined;
  }
  if (system === undefined || value === undefined || system === '' || value === '') {
    throw new TnpError('TNP_ERR_FHIR_CONDITION_INVALID', `${where} must be "identifier=system|value"`, { expression: [where] });
  }
  return `identifier|${system}|${value}`;
}

const httpDate = (iso: string): string => new Date(iso).toUTCString();

/** meta.lastUpdated of a stored resource (canonical JSON text). */
function lastUpdatedOf(resourceText: string): string {
  const meta = (JSON.parse(resourceText) as Json)['meta'];
  const v = isObject(meta) ? meta['lastUpdated'] : undefined;
  return typeof v === 'string' ? v : '';
}

export async function fhirIntakePlugin(app: FastifyInstance, opts: FhirIntakeOptions): Promise<void> {
  const labs = tokenTable(opts.labClients.map((c) => ({ token: c.token, value: c.name })));
  const admins = tokenTable(opts.adminTokens.map((t) => ({ token: t, value: true })));
  const inFlight = new Map<string, number>();
  app.decorateRequest('labClient', null);

  const requireLab = (req: FastifyRequest): Promise<void> => {
    const name = labs.match(req.headers.authorization);
    if (name === null) {
      req.log.warn({ event: 'lab-refused', path: req.routeOptions.url }, 'lab intake refused: no valid lab client token');
      return Promise.reject(new TnpError('TNP_ERR_LAB_UNAUTHORIZED'));
    }
    req.labClient = name;
    return Promise.resolve();
  };
  const requireReader = (req: FastifyRequest): Promise<void> => {
    if (admins.match(req.headers.authorization) !== null) return Promise.resolve();
    return requireLab(req);
  };

  /** Admission of one post: the per-client bound on posts in flight (and the place for a rate limiter). */
  const admit = async <T>(client: string, work: () => Promise<T>): Promise<T> => {
    const n = inFlight.get(client) ?? 0;
    if (n >= MAX_IN_FLIGHT_PER_CLIENT) throw new TnpError('TNP_ERR_LAB_BUSY', `lab client ${client} has ${n} posts in flight; retry when they are answered`);
    inFlight.set(client, n + 1);
    try {
      return await work();
    } finally {
      const left = (inFlight.get(client) ?? 1) - 1;
      if (left <= 0) inFlight.delete(client);
      else inFlight.set(client, left);
    }
  };

  const location = (o: ItemOutcome): string => `${opts.publicBaseUrl}/fhir/Observation/${o.id}/_history/${o.version}`;
  const send = (req: FastifyRequest, reply: FastifyReply, o: ItemOutcome, status: number): FastifyReply => {
    const resource = JSON.parse(o.resource) as Json;
    const lastUpdated = lastUpdatedOf(o.resource);
    reply.code(status).type(FHIR_JSON).header('location', location(o)).header('etag', `W/"${o.version}"`).header('last-modified', httpDate(lastUpdated)).header('cache-control', 'no-store');
    const prefer = String(req.headers['prefer'] ?? '');
    if (/return=minimal/i.test(prefer)) return reply.send('');
    if (/return=OperationOutcome/i.test(prefer)) return reply.send(outcomeOf(o.flags, 'Observation', `stored as Observation/${o.id}/_history/${o.version}`));
    return reply.send(resource);
  };

  // Open to anyone (as every FHIR server's is), so rate limited per client: a group of its own.
  await app.register(async (scope) => {
    await limitRoutes(scope, 'fhirMetadata', opts.metadataLimit.rule, opts.metadataLimit);
    scope.get('/fhir/metadata', async (_req, reply) => reply.type(FHIR_JSON).header('cache-control', 'no-store').send(capabilityStatement(opts.publicBaseUrl, opts.version, '2026-01-01')));
  });

  app.post('/fhir/Observation', { onRequest: requireLab, bodyLimit: FHIR_BODY_LIMIT }, async (req, reply) => {
    const client = req.labClient ?? '';
    const resource = checkObservation(req.body, 'Observation');
    const cond = req.headers['if-none-exist'];
    const ifNoneExist = typeof cond === 'string' ? conditionKey(cond, 'If-None-Exist') : undefined;
    const item = itemOf(resource, { path: 'Observation', source: { channel: 'fhir' }, ...(ifNoneExist === undefined ? {} : { ifNoneExist }) });
    const [o] = await admit(client, () => opts.intake.submit([item], { client, channel: 'fhir' }));
    if (o === undefined) throw new TnpError('TNP_ERR_INTERNAL', 'no outcome for the posted result');
    return send(req, reply, o, o.outcome === 'unchanged' ? 200 : 201);
  });

  app.post('/fhir', { onRequest: requireLab, bodyLimit: FHIR_BODY_LIMIT }, async (req, reply) => {
    const client = req.labClient ?? '';
    const bundle = req.body;
    if (!isObject(bundle) || bundle['resourceType'] !== 'Bundle') throw new TnpError('TNP_ERR_FHIR_BUNDLE_INVALID', 'POST /fhir takes a Bundle', { expression: ['Bundle.resourceType'] });
    const type = bundle['type'];
    if (type !== 'batch' && type !== 'transaction') throw new TnpError('TNP_ERR_FHIR_BUNDLE_INVALID', 'Bundle.type must be "batch" or "transaction"', { expression: ['Bundle.type'] });
    const entries = bundle['entry'] ?? [];
    if (!Array.isArray(entries)) throw new TnpError('TNP_ERR_FHIR_BUNDLE_INVALID', 'Bundle.entry must be an array', { expression: ['Bundle.entry'] });
    if (entries.length > MAX_BUNDLE_ENTRIES) throw new TnpError('TNP_ERR_FHIR_BUNDLE_TOO_LARGE', `the Bundle has ${entries.length} entries; at most ${MAX_BUNDLE_ENTRIES} are taken at once`, { expression: ['Bundle.entry'] });
    const itemAt = (e: unknown, i: number): IntakeItem => {
      const at = `Bundle.entry[${i}]`;
      if (!isObject(e) || !isObject(e['request'])) throw new TnpError('TNP_ERR_FHIR_BUNDLE_INVALID', `${at}.request is required`, { expression: [`${at}.request`] });
      const r = e['request'];
      if (r['method'] !== 'POST' || typeof r['url'] !== 'string' || !/^(.*\/)?Observation$/.test(r['url'])) {
        throw new TnpError('TNP_ERR_FHIR_BUNDLE_INVALID', `${at}.request must be POST Observation (the service creates results only)`, { expression: [`${at}.request`] });
      }
      const resource = checkObservation(e['resource'], `${at}.resource`);
      const ifNoneExist = typeof r['ifNoneExist'] === 'string' ? conditionKey(r['ifNoneExist'], `${at}.request.ifNoneExist`) : undefined;
      return itemOf(resource, { path: `${at}.resource`, source: { channel: 'fhir', bundle: type, entry: i }, ...(ifNoneExist === undefined ? {} : { ifNoneExist }) });
    };
    const responseEntry = (o: ItemOutcome, i: number): Json => ({
      response: {
        status: o.outcome === 'unchanged' ? '200 OK' : '201 Created',
        location: location(o),
        etag: `W/"${o.version}"`,
        lastModified: lastUpdatedOf(o.resource),
        outcome: outcomeOf(o.flags, `Bundle.entry[${i}].resource`, `stored as Observation/${o.id}/_history/${o.version}`),
      },
    });
    if (type === 'transaction') {
      const items = entries.map(itemAt);
      const outcomes = await admit(client, () => opts.intake.submit(items, { client, channel: 'fhir' }));
      return reply.type(FHIR_JSON).header('cache-control', 'no-store').send({ resourceType: 'Bundle', type: 'transaction-response', entry: outcomes.map(responseEntry) });
    }
    const out: Json[] = [];
    for (const [i, e] of entries.entries()) {
      try {
        const item = itemAt(e, i);
        const [o] = await admit(client, () => opts.intake.submit([item], { client, channel: 'fhir' }));
        if (o === undefined) throw new TnpError('TNP_ERR_INTERNAL', 'no outcome for a batch entry');
        out.push(responseEntry(o, i));
      } catch (err) {
        if (!(err instanceof TnpError) || err.status >= 500) throw err;
        out.push({ response: { status: `${err.status} ${err.code}`, outcome: toOperationOutcome(err) } });
      }
    }
    return reply.type(FHIR_JSON).header('cache-control', 'no-store').send({ resourceType: 'Bundle', type: 'batch-response', entry: out });
  });

  const read = async (req: FastifyRequest<{ Params: { id: string; vid?: string } }>, reply: FastifyReply): Promise<FastifyReply> => {
    // One version is read (the current one, or the one asked for), however many the result has.
    const vid = req.params.vid === undefined ? null : /^[1-9][0-9]{0,9}$/.test(req.params.vid) ? Number(req.params.vid) : 0;
    const found = /^[A-Za-z0-9\-.]{1,64}$/.test(req.params.id) ? await opts.store.lab.resultVersion(req.params.id, vid) : null;
    // A lab client reads the results it sent; another's are "not here" to it.
    if (found === null || (req.labClient !== null && found.row.client !== req.labClient)) throw new TnpError('TNP_ERR_NOT_FOUND', `no Observation/${req.params.id.slice(0, 64)} here`);
    const v = found.versions[0];
    if (v === undefined) throw new TnpError('TNP_ERR_NOT_FOUND', `Observation/${req.params.id} has no version ${String(req.params.vid).slice(0, 20)}`);
    return reply.type(FHIR_JSON).header('etag', `W/"${v.version}"`).header('last-modified', httpDate(v.lastUpdated)).header('cache-control', 'no-store').send(v.resource);
  };
  app.get<{ Params: { id: string } }>('/fhir/Observation/:id', { onRequest: requireReader }, read);
  app.get<{ Params: { id: string; vid: string } }>('/fhir/Observation/:id/_history/:vid', { onRequest: requireReader }, read);
}
