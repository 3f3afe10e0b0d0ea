/**
 * `/healthz` must not say ok when nothing can be written. A store that can still be read but not written
 * (another session holds the write lock; a database user without INSERT; a full disk) used to answer
 * 200 while every CDS call got 503. Health now reports the freshest durable write: a heartbeat committed
 * like a record (at most one per interval, shared by concurrent callers), or the last group commit.
 *
 * Against the real app (inject and real sockets) on both stores, and against `node dist/server.js` with
 * a file size limit (a full disk). The start-up refusal is in tests/integration/cds-server-process.test.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditStore, type AuditStore, type AuditStoreSettings } from '../../src/audit/store.js';
import { call, ehrClient, harnessFor, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp, type WireJson } from '../support/cds-app.js';
import type { CdsTestClient } from '../support/cds-client.js';
import { createCdsClient } from '../support/cds-client.js';
import { fixtureCase } from '../support/fixture-case.js';
import { serverProcess } from '../support/server-process.js';
import { PG_URL, pgAvailable, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const INTERVAL_MS = 1000;
const f = fixtureCase('below-url-rise-above-url-consistent');

function makeClock(iso: string): { now: () => Date; advance: (ms: number) => void } {
  let ms = Date.parse(iso);
  return { now: () => new Date(ms), advance: (d) => (ms += d) };
}

async function withPg<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Another session blocks writes and still lets reads through: SQLite BEGIN IMMEDIATE (WAL readers go on),
 * PostgreSQL SHARE on audit_records (what a plain CREATE INDEX takes: SELECT goes on, INSERT waits).
 */
async function blockWrites(kind: 'sqlite' | 'postgres', storage: AuditStoreSettings): Promise<() => Promise<void>> {
  if (kind === 'sqlite') return harnessFor('sqlite').holdWriteLock(storage);
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query('BEGIN');
  await c.query(`LOCK TABLE "${(storage as { schema: string }).schema}".audit_records IN SHARE MODE`);
  return async () => {
    await c.query('ROLLBACK');
    await c.end();
  };
}

const health = async (app: RunningApp): Promise<{ status: number; json: WireJson }> => {
  const res = await app.app.inject({ method: 'GET', url: '/healthz' });
  return { status: res.statusCode, json: res.json() };
};

const cdsCall = (app: RunningApp, ehr: CdsTestClient): ReturnType<typeof call> =>
  call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), prefetch: { observations: searchset(f.observations) } });

for (const kind of ['sqlite', 'postgres'] as const) {
  describe.runIf(kind === 'sqlite' || runPg)(`/healthz proves the store can write (${kind})`, () => {
    const harness = harnessFor(kind);
    const clock = makeClock(f.now);
    let ehr: CdsTestClient;

    beforeAll(async () => {
      ehr = await createCdsClient({ iss: 'https://ehr.hospital.example', alg: 'ES384', now: clock.now });
    });
    afterAll(() => harness.cleanup());

    const openStore = (storage: AuditStoreSettings): Promise<AuditStore> =>
      openAuditStore(storage, { newId: randomUUID, now: clock.now }, { busyTimeoutMs: 250, healthCheckIntervalMs: INTERVAL_MS });

    it('a store that can be read but not written answers 503 naming the store; a failed commit shows at once; 200 again when writes work', async () => {
      const storage = harness.fresh();
      const store = await openStore(storage);
      const app = await startApp({ store, clients: [ehr], now: clock.now });
      try {
        expect((await health(app)).status).toBe(200);

        // The heartbeat finds it, before any call has failed.
        let release = await blockWrites(kind, storage);
        clock.advance(INTERVAL_MS + 1);
        const blocked = await fetch(`${app.url}/healthz`);
        expect(blocked.status).toBe(503);
        const body = (await blocked.json()) as WireJson;
        expect(body).toMatchObject({ ok: false, status: 'unavailable', store: expect.stringMatching(/^not writable: /) });
        expect(body.pathway).toMatchObject({ id: 'chart2' });
        // Reads still work: the old read-only check could not see it.
        expect((await app.store.verify()).ok).toBe(true);
        await release();
        clock.advance(INTERVAL_MS + 1);
        expect(await health(app)).toMatchObject({ status: 200, json: { ok: true } });

        // A commit that fails is the freshest news: the next answer is 503 without waiting for a probe.
        release = await blockWrites(kind, storage);
        const probes = store.stats().healthProbes;
        expect((await cdsCall(app, ehr)).status).toBe(503);
        const after = await health(app);
        expect(after.status).toBe(503);
        expect(after.json.store).toMatch(/^not writable: /);
        expect(store.stats().healthProbes).toBe(probes);
        await release();
        expect((await cdsCall(app, ehr)).status).toBe(200);
        expect(await health(app)).toMatchObject({ status: 200, json: { ok: true, status: 'ok', store: 'ok', pathway: { id: 'chart2' } } });
      } finally {
        await app.close();
        await store.close();
      }
    });

    it('probes are bounded: concurrent calls share one heartbeat, none within the interval, one after it', async () => {
      const store = await openStore(harness.fresh());
      const app = await startApp({ store, clients: [ehr], now: clock.now });
      try {
        const atOpen = store.stats().healthProbes;
        expect(atOpen).toBe(1); // the store proves it can write when it opens
        clock.advance(INTERVAL_MS + 1);
        const answers = await Promise.all(Array.from({ length: 20 }, () => health(app)));
        expect(answers.every((a) => a.status === 200)).toBe(true);
        expect(store.stats().healthProbes).toBe(atOpen + 1);
        await Promise.all(Array.from({ length: 20 }, () => health(app)));
        expect(store.stats().healthProbes).toBe(atOpen + 1);
        clock.advance(INTERVAL_MS + 1);
        await health(app);
        expect(store.stats().healthProbes).toBe(atOpen + 2);
        // A commit of a call is proof enough: no heartbeat while calls commit.
        clock.advance(INTERVAL_MS + 1);
        expect((await cdsCall(app, ehr)).status).toBe(200);
        await health(app);
        expect(store.stats().healthProbes).toBe(atOpen + 2);
      } finally {
        await app.close();
        await store.close();
      }
    });
  });
}

describe.runIf(runPg)('/healthz and the database user\'s privileges (postgres)', () => {
  const harness = harnessFor('postgres');
  const clock = makeClock(f.now);
  let ehr: CdsTestClient;

  beforeAll(async () => {
    ehr = await createCdsClient({ iss: 'https://ehr.hospital.example', alg: 'ES384', now: clock.now });
  });
  afterAll(() => harness.cleanup());

  it('a database user whose INSERT is revoked after start: 503 naming what is missing, and no secret in the body', async () => {
    const storage = harness.fresh() as { kind: 'postgres'; url: string; schema: string };
    await (await openAuditStore(storage, { newId: randomUUID, now: clock.now })).close();
    const role = `tnp_health_${process.pid}_${randomBytes(3).toString('hex')}`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    await withPg((c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'; GRANT USAGE ON SCHEMA "${storage.schema}" TO ${role}; GRANT ALL ON ALL TABLES IN SCHEMA "${storage.schema}" TO ${role}`));
    const url = `postgres://${role}:${password}@127.0.0.1:5432/test`;
    const store = await openAuditStore({ kind: 'postgres', url, schema: storage.schema }, { newId: randomUUID, now: clock.now }, { healthCheckIntervalMs: INTERVAL_MS });
    const app = await startApp({ store, clients: [ehr], now: clock.now });
    try {
      expect((await health(app)).status).toBe(200);
      await withPg((c) => c.query(`REVOKE INSERT ON "${storage.schema}".audit_records FROM ${role}`));
      clock.advance(INTERVAL_MS + 1);
      const res = await fetch(`${app.url}/healthz`);
      const text = await res.text();
      expect(res.status).toBe(503);
      expect(JSON.parse(text)).toMatchObject({ ok: false, store: expect.stringMatching(/^not writable: .*INSERT.*audit_records/) });
      for (const secret of [password, role, storage.schema, '127.0.0.1', 'postgres://']) expect(text).not.toContain(secret);
      expect((await cdsCall(app, ehr)).status).toBe(503);
    } finally {
      await app.close();
      await store.close();
      await withPg((c) => c.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`));
    }
  });
});

describe('a full disk under `node dist/server.js` (SQLite, a file size limit on the process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tnp-diskfull-'));
  const { settingsFile, start, stop } = serverProcess(dir);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('once CDS calls get 503 because the store cannot grow, /healthz says 503 naming the store; reads still work', async () => {
    const ehr = await ehrClient('ES384');
    const base = 'https://cds.hospital.example';
    const adminToken = 'disk-full-admin-token-0123456789';
    // A long interval: health reports the outcome of the calls' own commits, not a later heartbeat.
    const file = settingsFile({ publicBaseUrl: base, cdsClients: [{ iss: ehr.iss, jwks: ehr.jwks }], storage: { kind: 'sqlite', path: join(dir, 'full.sqlite') }, adminTokens: [adminToken], healthCheckIntervalMs: 3_600_000 });
    // 256 KiB per file: room for the schema and some records, then every write of the WAL fails.
    const s = await start(file, dir, { prefix: ['prlimit', `--fsize=${256 * 1024}`, '--'] });
    try {
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
      const path = '/cds-services/hs-troponin-chest-pain';
      const statuses: number[] = [];
      for (let i = 0; i < 400 && !statuses.includes(503); i++) {
        const res = await fetch(`${s.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${await ehr.sign({ aud: `${base}${path}` })}` },
          body: JSON.stringify({ ...hookBody(f.patientId), prefetch: { observations: searchset(f.observations) } }),
        });
        statuses.push(res.status);
      }
      expect(statuses[0]).toBe(200);
      expect(statuses.at(-1)).toBe(503);
      const h = await fetch(`${s.url}/healthz`);
      const body = (await h.json()) as WireJson;
      expect(h.status).toBe(503);
      expect(body).toMatchObject({ ok: false, store: expect.stringMatching(/^not writable: /) });
      const verify = await fetch(`${s.url}/audit/verify`, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(verify.status).toBe(200);
    } finally {
      await stop(s);
    }
  });
});
