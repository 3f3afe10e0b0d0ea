/**
 * The real app over real HTTP for the CDS integration tests: buildApp on 127.0.0.1:0 with a real audit
 * store (SQLite in a temp dir, or a fresh PostgreSQL schema), real signed JWTs (tests/support/cds-client.ts)
 * and the logs captured as JSON lines.
 *
 * `publicBaseUrl` is deliberately NOT the address listened on: the JWT `aud` must come from the
 * settings, never from the Host header.
 */
import type { AdoptionReports } from '../../src/adoption/service.js';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { openAuditStore, type AuditStore, type AuditStoreSettings } from '../../src/audit/store.js';
import { FEEDBACK_PATH, SERVICE_PATH, DISCOVERY_PATH } from '../../src/cds/service.js';
import { createLogger } from '../../src/observability/logger.js';
import { loadRuntime } from '../../src/pathways/load.js';
import { loadSettings, type Settings } from '../../src/settings.js';
import type { Timers } from '../../src/util/timers.js';
import { UNLIMITED } from './limits.js';
import { createCdsClient, type CdsTestClient } from './cds-client.js';
import { postgresHarness, sqliteHarness, type AuditHarness } from './audit-harness.js';

export const PUBLIC_BASE_URL = 'https://cds.hospital.example/tnp';
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const EHR_ISS = 'https://ehr.hospital.example';

export { DISCOVERY_PATH, SERVICE_PATH, FEEDBACK_PATH };

export function harnessFor(kind: 'sqlite' | 'postgres'): AuditHarness {
  return kind === 'sqlite' ? sqliteHarness() : postgresHarness();
}

export interface RunningApp {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly store: AuditStore;
  readonly settings: Settings;
  /** Every log line, parsed. */
  readonly logs: Record<string, unknown>[];
  /** The raw log text (to search for secrets). */
  logText(): string;
  /** Closes the app, and the store unless it was given. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Audit store location; a store is opened on it (and closed with the app). */
  readonly storage?: AuditStoreSettings;
  /** An already open store (shared between apps); not closed with the app. */
  readonly store?: AuditStore;
  readonly clients?: readonly CdsTestClient[];
  /** More settings (merged over the defaults of this harness). */
  readonly settings?: Record<string, unknown>;
  readonly now?: () => Date;
  /** Fetches a client's JWKS (default: the app's own fetcher). */
  readonly fetchJwks?: (url: string) => Promise<unknown>;
  /** Level of the captured log (default `info`). */
  readonly logLevel?: 'info' | 'debug';
  /** The adoption report (GET /reports/adoption); not closed with the app. */
  readonly adoption?: AdoptionReports;
  /** Adds routes to the built app before it listens (to reach its error handler from a test). */
  readonly routes?: (app: FastifyInstance) => void;
  /** `fhirServers` of every client (the FHIR server bases each may name; default none: no FHIR pull). */
  readonly fhirServers?: readonly string[];
  /** The pull's timers (default: real ones); tests that meet a timeout inject timers they fire. */
  readonly timers?: Timers;
  /** Honour the local development client's evaluation time, as `npx hs-troponin-cds dev` does. */
  readonly devEvaluationTime?: boolean;
  /** The folder of pathway files and the catalogue (default: the shipped pathways/). */
  readonly pathwaysDir?: string;
}

/** Starts the app on 127.0.0.1 and an ephemeral port. */
export async function startApp(opts: StartOptions): Promise<RunningApp> {
  const settings = loadSettings({
    object: {
      // The case-link key file goes to a fresh directory, never the working directory's data/.
      dataDir: mkdtempSync(join(tmpdir(), 'tnp-data-')),
      // Limits no test reaches (many suites make hundreds of console calls); `rateLimit: {}` for the defaults.
      rateLimit: UNLIMITED,
      publicBaseUrl: PUBLIC_BASE_URL,
      cdsClients: (opts.clients ?? []).map((c) => ({ iss: c.iss, jwks: c.jwks, ...(opts.fhirServers === undefined ? {} : { fhirServers: [...opts.fhirServers] }) })),
      adminTokens: [ADMIN_TOKEN],
      logLevel: 'info',
      ...opts.settings,
    },
  });
  const now = opts.now ?? ((): Date => new Date());
  const store = opts.store ?? (await openAuditStore(opts.storage ?? { kind: 'sqlite', path: join(mkdtempSync(join(tmpdir(), 'tnp-cds-')), 'audit.sqlite') }, { newId: randomUUID, now }));
  const runtime = await loadRuntime(settings, opts.pathwaysDir);
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  const app = await buildApp(settings, {
    runtime,
    store,
    now,
    newId: randomUUID,
    logger: createLogger(opts.logLevel ?? 'info', sink),
    ...(opts.fetchJwks === undefined ? {} : { fetchJwks: opts.fetchJwks }),
    ...(opts.timers === undefined ? {} : { timers: opts.timers }),
    ...(opts.adoption === undefined ? {} : { adoption: opts.adoption }),
    ...(opts.devEvaluationTime === undefined ? {} : { devEvaluationTime: opts.devEvaluationTime }),
  });
  opts.routes?.(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    store,
    settings,
    get logs() {
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => lines.join('\n'),
    async close() {
      await app.close();
      if (opts.store === undefined) await store.close();
    },
  };
}

/** A test EHR (RS384 by default) whose JWTs the app trusts. */
export function ehrClient(alg: 'RS384' | 'ES384' = 'RS384', iss = EHR_ISS): Promise<CdsTestClient> {
  return createCdsClient({ iss, alg });
}

/**
 * JSON read back from the wire, for assertions (tests check its shape with expect).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape
export type WireJson = any;

export interface CallResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: WireJson;
}

/** A call with a fresh JWT for `path` (unless `token` is given; `null` sends none). */
export async function call(
  app: RunningApp,
  client: CdsTestClient | null,
  method: 'GET' | 'POST' | 'OPTIONS',
  path: string,
  body?: unknown,
  opts: { token?: string | null; headers?: Record<string, string>; rawBody?: string; contentType?: string } = {},
): Promise<CallResult> {
  const token = opts.token !== undefined ? opts.token : client === null ? null : await client.sign({ aud: `${PUBLIC_BASE_URL}${path}` });
  const headers: Record<string, string> = { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...opts.headers };
  let payload: string | undefined;
  if (opts.rawBody !== undefined) payload = opts.rawBody;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(`${app.url}${path}`, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** An admin read of the audit trail. */
export async function admin(app: RunningApp, path: string, token: string | null = ADMIN_TOKEN): Promise<CallResult> {
  const res = await fetch(`${app.url}${path}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text === '' ? undefined : JSON.parse(text) };
}

/** A patient-view request body. */
export function hookBody(patientId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hook: 'patient-view',
    hookInstance: randomUUID(),
    context: { userId: 'Practitioner/dr-1', patientId },
    ...extra,
  };
}

/** A searchset Bundle of resources, as an EHR resolves the observations prefetch template. */
export function searchset(resources: readonly unknown[], next?: string): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    ...(next === undefined ? {} : { link: [{ relation: 'next', url: next }] }),
    entry: resources.map((r) => ({ fullUrl: `urn:uuid:${randomUUID()}`, resource: r, search: { mode: 'match' } })),
  };
}
