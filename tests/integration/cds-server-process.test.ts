/**
 * The real entry point, `node dist/server.js` (what `npm start` runs; the global setup builds dist/):
 * settings from HS_TROPONIN_CDS_SETTINGS, a bad file stops the start naming the key, discovery for a
 * signed client and 401 for an unsigned one, graceful SIGTERM, and a kill -9 in the middle of load that
 * loses no acknowledged audit record (on SQLite and on PostgreSQL), and a store it cannot write stops the
 * start (exit 1, the store and the reason named).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openAuditStore, type AuditStoreSettings } from '../../src/audit/store.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { PG_URL, pgAvailable, requireService } from '../support/services.js';
import { harnessFor, searchset } from '../support/cds-app.js';
import { serverProcess, type Running, type Server } from '../support/server-process.js';

const BASE = 'https://cds.hospital.example';
const ADMIN = 'process-test-admin-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'tnp-server-'));
const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const { settingsFile, run, start, stop } = serverProcess(dir);

/** The exit code, or 'listening' (the process is then killed): a start that should fail must not hang the test. */
async function exitOrListening(r: Running): Promise<number | null | 'listening'> {
  const listening = new Promise<'listening'>((resolve) => {
    const poll = setInterval(() => {
      if (/Server listening at/.test(r.output())) {
        clearInterval(poll);
        resolve('listening');
      }
    }, 20);
    void r.exited.then(() => clearInterval(poll));
  });
  const outcome = await Promise.race([r.exited, listening]);
  if (outcome === 'listening') {
    r.proc.kill('SIGKILL');
    await r.exited;
  }
  return outcome;
}

const body = (patientId: string): Record<string, unknown> => ({
  hook: 'patient-view',
  hookInstance: randomUUID(),
  context: { userId: 'Practitioner/1', patientId },
  prefetch: {
    observations: searchset([
      { resourceType: 'Observation', id: 'e1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8601-7' }] }, effectiveDateTime: new Date(Date.now() - 3600_000).toISOString(), valueCodeableConcept: { coding: [{ system: 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain', code: 'no-stemi-or-new-lbbb' }] } },
      { resourceType: 'Observation', id: 't1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] }, effectiveDateTime: new Date(Date.now() - 1800_000).toISOString(), valueQuantity: { value: 9, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' } },
    ]),
  },
});

async function cds(s: Server, ehr: CdsTestClient, patientId: string): Promise<Response> {
  const path = '/cds-services/hs-troponin-chest-pain';
  return fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await ehr.sign({ aud: `${BASE}${path}` })}` }, body: JSON.stringify(body(patientId)) });
}

describe('npm start (node dist/server.js)', () => {
  it('a bad settings file stops the start with the key named, exit 1', async () => {
    for (const [content, key] of [
      [{ publicBaseUrl: BASE, unknownKey: 1 }, 'unknownKey'],
      [{ cdsClients: [{ iss: 'x' }] }, 'cdsClients[0]'],
      [{ storage: { kind: 'sqlite' } }, 'storage'],
      [{ fhirPullTimeoutMs: 5 }, 'fhirPullTimeoutMs'],
      ['{ not json', 'not JSON'],
    ] as const) {
      const r = run(settingsFile(content));
      expect(await r.exited).toBe(1);
      expect(r.output()).toContain(key);
      expect(r.output()).toContain('cannot start');
    }
  });

  it('without settings: the defaults trust no client (401), /healthz and /console work, SQLite under ./data/', async () => {
    const cwd = mkdtempSync(join(dir, 'plain-'));
    const s = await start(null, cwd);
    try {
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${s.url}/console`)).status).toBe(200);
      const ehr = await createCdsClient({ iss: 'https://ehr.example', alg: 'ES384' });
      const res = await fetch(`${s.url}/cds-services`, { headers: { authorization: `Bearer ${await ehr.sign({ aud: `${s.url}/cds-services` })}` } });
      expect(res.status).toBe(401);
      expect(s.output()).toContain('default-assay-codes');
      expect(s.output()).toContain(join(cwd, 'data', 'hs-troponin-cds.sqlite'));
    } finally {
      expect(await stop(s)).toBe(0);
    }
  });

  it('with a client in the settings: discovery and cards for it, 401 unsigned; SIGTERM stops it cleanly', async () => {
    const ehr = await createCdsClient({ iss: 'https://ehr.example', alg: 'RS384' });
    const file = settingsFile({ publicBaseUrl: BASE, cdsClients: [{ iss: ehr.iss, jwks: ehr.jwks }], storage: { kind: 'sqlite', path: join(dir, 'started.sqlite') }, adminTokens: [ADMIN], labClients: [{ name: 'lab', token: 'lab-token-0123456789abcdef' }], sexSpecificUrls: false });
    const s = await start(file);
    try {
      const d = await fetch(`${s.url}/cds-services`, { headers: { authorization: `Bearer ${await ehr.sign({ aud: `${BASE}/cds-services` })}` } });
      expect(d.status).toBe(200);
      expect(((await d.json()) as { services: { id: string }[] }).services[0]?.id).toBe('hs-troponin-chest-pain');
      expect((await fetch(`${s.url}/cds-services`)).status).toBe(401);
      const res = await cds(s, ehr, 'p-proc');
      expect(res.status).toBe(200);
      const card = ((await res.json()) as { cards: { extension: Record<string, { outcome: string; auditId: string }> }[] }).cards[0]!;
      expect(card.extension['hs-troponin-cds']?.outcome).toBe('needs-input');
      const rec = await fetch(`${s.url}/audit/${card.extension['hs-troponin-cds']?.auditId}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(rec.status).toBe(200);
      const lines = s.output().split('\n').filter((l) => l.startsWith('{'));
      expect(lines.length).toBeGreaterThan(3);
      for (const l of lines) JSON.parse(l);
    } finally {
      expect(await stop(s)).toBe(0);
    }
    expect(s.output()).toContain('"event":"stopped"');
  });

  it('a SQLite store it cannot write stops the start: exit 1, the store and the reason named', async () => {
    const storeDir = mkdtempSync(join(dir, 'read-only-'));
    const path = join(storeDir, 'audit.sqlite');
    await (await openAuditStore({ kind: 'sqlite', path }, { newId: randomUUID, now: () => new Date() })).close();
    const file = settingsFile({ storage: { kind: 'sqlite', path } });
    // A file the service's user may read and not write. Root writes anything, so as root the service
    // runs as "nobody" (the file stays root's, the directory lets it make the WAL and shared-memory files).
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      chmodSync(dir, 0o755);
      chmodSync(storeDir, 0o777);
      chmodSync(file, 0o644);
    } else chmodSync(path, 0o444);
    const r = run(file, dir, asRoot ? { uid: 65534, gid: 65534 } : {});
    expect(await exitOrListening(r)).toBe(1);
    expect(r.output()).toContain('cannot start');
    expect(r.output()).toContain(`the audit store ${path} cannot be written`);
    expect(r.output()).toMatch(/readonly|read-only/i);
  });

  it.runIf(runPg)('a PostgreSQL store whose user may only read stops the start: exit 1, the store and the reason named, no password', async () => {
    const harness = harnessFor('postgres');
    const storage = harness.fresh() as { kind: 'postgres'; url: string; schema: string };
    await (await openAuditStore(storage, { newId: randomUUID, now: () => new Date() })).close();
    const role = `tnp_read_only_${process.pid}_${randomBytes(3).toString('hex')}`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'; GRANT USAGE ON SCHEMA "${storage.schema}" TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA "${storage.schema}" TO ${role}`);
      const file = settingsFile({ storage: { kind: 'postgres', url: `postgres://${role}:${password}@127.0.0.1:5432/test?schema=${storage.schema}` } });
      const r = run(file);
      expect(await exitOrListening(r)).toBe(1);
      expect(r.output()).toContain('cannot start');
      expect(r.output()).toContain(`the audit store postgres://127.0.0.1:5432/test (schema ${storage.schema}) cannot be written`);
      expect(r.output()).toMatch(/INSERT/);
      expect(r.output()).not.toContain(password);
    } finally {
      await admin.query(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await admin.end();
      await harness.cleanup();
    }
  });

  for (const kind of ['sqlite', 'postgres'] as const) {
    it.runIf(kind === 'sqlite' || runPg)(`kill -9 in the middle of load loses no acknowledged record (${kind})`, async () => {
      const harness = harnessFor(kind);
      const storage: AuditStoreSettings = kind === 'sqlite' ? { kind: 'sqlite', path: join(dir, `crash-${randomUUID()}.sqlite`) } : harness.fresh();
      const ehr = await createCdsClient({ iss: 'https://ehr.example', alg: 'ES384' });
      const file = settingsFile({ publicBaseUrl: BASE, cdsClients: [{ iss: ehr.iss, jwks: ehr.jwks }], storage: kind === 'sqlite' ? storage : { kind: 'postgres', url: `${(storage as { url: string }).url}?schema=${(storage as { schema: string }).schema}` }, adminTokens: [ADMIN] });
      try {
        const s = await start(file);
        const acked: string[] = [];
        let stopLoad = false;
        const worker = async (w: number): Promise<void> => {
          for (let i = 0; !stopLoad; i++) {
            try {
              const res = await cds(s, ehr, `p-crash-${w}`);
              if (res.status === 200) acked.push(((await res.json()) as { cards: { uuid: string }[] }).cards[0]!.uuid);
            } catch {
              return; // the connection died with the process
            }
          }
        };
        const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
        await new Promise((r) => setTimeout(r, 1500));
        s.proc.kill('SIGKILL');
        stopLoad = true;
        await load;
        expect(acked.length).toBeGreaterThan(10);
        const again = await start(file);
        try {
          for (const id of acked) {
            const rec = await fetch(`${again.url}/audit/${id}`, { headers: { authorization: `Bearer ${ADMIN}` } });
            expect(rec.status, `acknowledged record ${id}`).toBe(200);
          }
          const verify = await fetch(`${again.url}/audit/verify`, { headers: { authorization: `Bearer ${ADMIN}` } });
          expect(verify.status).toBe(200);
          expect(((await verify.json()) as { records: number }).records).toBeGreaterThanOrEqual(acked.length);
        } finally {
          await stop(again);
        }
      } finally {
        await harness.cleanup();
      }
    });
  }
});
