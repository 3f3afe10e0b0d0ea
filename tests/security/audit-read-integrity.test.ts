/**
 * Edited audit records must not be served as if sound. `/audit/verify` found an edited record (409),
 * but `GET /audit/{id}` and `GET /audit?patient=` returned it with 200 like any other. Every record read
 * is now checked (its hash against its content, and its links to the records before and after it) and
 * carries `integrity: { ok, problems }`; a read holding a record that fails is answered 409.
 *
 * Against the real app over real sockets, on both stores, with records edited by hand around the
 * store and its append-only triggers (tests/support/audit-harness.ts), as someone with database access would.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordHash, type AuditRecord } from '../../src/audit/store.js';
import { admin, call, harnessFor, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp, type WireJson } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { fixtureCase } from '../support/fixture-case.js';
import { pgAvailable, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const f = fixtureCase('below-url-rise-above-url-consistent');

for (const kind of ['sqlite', 'postgres'] as const) {
  describe.runIf(kind === 'sqlite' || runPg)(`audit reads check every record (${kind})`, () => {
    const harness = harnessFor(kind);
    const now = (): Date => new Date(f.now);
    let ehr: CdsTestClient;

    beforeAll(async () => {
      ehr = await createCdsClient({ iss: 'https://ehr.hospital.example', alg: 'ES384', now });
    });
    afterAll(() => harness.cleanup());

    /** A fresh store with three evaluation records of the fixture's patient (seq 1, 2, 3) and one of another (seq 4). */
    const setUp = async (): Promise<{ app: RunningApp; storage: ReturnType<typeof harness.fresh>; ids: string[] }> => {
      const storage = harness.fresh();
      const app = await startApp({ storage, clients: [ehr], now });
      const ids: string[] = [];
      for (const patientId of [f.patientId, f.patientId, f.patientId, 'another-patient']) {
        const res = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(patientId), prefetch: { observations: searchset(f.observations.map((o) => ({ ...o, subject: { reference: `Patient/${patientId}` } }))) } });
        expect(res.status, res.text).toBe(200);
        ids.push(res.json.cards[0].uuid as string);
      }
      return { app, storage, ids };
    };

    const marks = (json: WireJson): Record<string, boolean> => Object.fromEntries((json.records as WireJson[]).map((r) => [r.id, r.integrity.ok]));

    it('a record edited by hand: GET /audit/{id} is 409 naming the problem, the list is 409 and marks that record only', async () => {
      const { app, storage, ids } = await setUp();
      try {
        const [id1, id2, id3, other] = ids as [string, string, string, string];
        const sound = await admin(app, `/audit/${id2}`);
        expect(sound.status).toBe(200);
        expect(sound.json.integrity).toEqual({ ok: true, problems: [] });

        await harness.tamper(storage, { type: 'set', seq: 2, column: 'body', value: JSON.stringify({ ...sound.json.body, outcome: 'not-consistent-with-mi' }) });
        const edited = await admin(app, `/audit/${id2}`);
        expect(edited.status).toBe(409);
        expect(edited.json).toMatchObject({ id: id2, seq: 2, integrity: { ok: false, problems: [expect.stringMatching(/hash does not match the record content/)] } });
        for (const id of [id1, id3, other]) {
          const r = await admin(app, `/audit/${id}`);
          expect(r.status).toBe(200);
          expect(r.json.integrity.ok).toBe(true);
        }
        const list = await admin(app, `/audit?patient=${f.patientId}`);
        expect(list.status).toBe(409);
        expect(marks(list.json)).toEqual({ [id1]: true, [id2]: false, [id3]: true });
        const otherList = await admin(app, '/audit?patient=another-patient');
        expect(otherList.status).toBe(200);
        expect(marks(otherList.json)).toEqual({ [other]: true });
      } finally {
        await app.close();
      }
    });

    it('an edit that re-computes the record\'s own hash is caught through its links', async () => {
      const { app, storage, ids } = await setUp();
      try {
        const [id1, id2, id3] = ids as [string, string, string];
        const rec = (await admin(app, `/audit/${id2}`)).json as AuditRecord;
        const body = { ...(rec.body as Record<string, unknown>), outcome: 'not-consistent-with-mi' };
        await harness.tamper(storage, { type: 'set', seq: 2, column: 'body', value: JSON.stringify(body) });
        await harness.tamper(storage, { type: 'set', seq: 2, column: 'hash', value: recordHash({ ...rec, body }) });
        const edited = await admin(app, `/audit/${id2}`);
        expect(edited.status).toBe(409);
        expect(edited.json.integrity.problems.join(' ')).toMatch(/the next record \(seq 3\) does not link to this one/);
        const next = await admin(app, `/audit/${id3}`);
        expect(next.status).toBe(409);
        expect(next.json.integrity.problems.join(' ')).toMatch(/prevHash does not match the hash of record seq 2/);
        expect((await admin(app, `/audit/${id1}`)).status).toBe(200);
      } finally {
        await app.close();
      }
    });

    it('a record removed from the middle: the records on both sides of the gap are 409', async () => {
      const { app, storage, ids } = await setUp();
      try {
        const [id1, id2, id3] = ids as [string, string, string];
        await harness.tamper(storage, { type: 'delete', seq: 2 });
        expect((await admin(app, `/audit/${id2}`)).status).toBe(404);
        const before = await admin(app, `/audit/${id1}`);
        expect(before.status).toBe(409);
        expect(before.json.integrity.problems.join(' ')).toMatch(/the record after it \(seq 2\) is missing/);
        const after = await admin(app, `/audit/${id3}`);
        expect(after.status).toBe(409);
        expect(after.json.integrity.problems.join(' ')).toMatch(/the record before it \(seq 2\) is missing/);
        const list = await admin(app, `/audit?patient=${f.patientId}`);
        expect(list.status).toBe(409);
        expect(marks(list.json)).toEqual({ [id1]: false, [id3]: false });
      } finally {
        await app.close();
      }
    });

    it('a body that is no longer JSON: 409 with the stored text, marked in the list; never a 500', async () => {
      const { app, storage, ids } = await setUp();
      try {
        const id2 = ids[1]!;
        await harness.tamper(storage, { type: 'set', seq: 2, column: 'body', value: '{"outcome": "not-consist' });
        const edited = await admin(app, `/audit/${id2}`);
        expect(edited.status).toBe(409);
        expect(edited.json).toMatchObject({ id: id2, body: '{"outcome": "not-consist', integrity: { ok: false, problems: [expect.stringMatching(/body is not JSON/)] } });
        const list = await admin(app, `/audit?patient=${f.patientId}`);
        expect(list.status).toBe(409);
        expect(marks(list.json)[id2]).toBe(false);
      } finally {
        await app.close();
      }
    });

    // A patient has a handful of records; 100 is 10x that, 10 000 (the list's cap) 1 000x.
    for (const size of [100, 10_000]) {
      it(`bounded: a list of ${size} records checks each one and marks only the one edited`, async () => {
        const storage = harness.fresh();
        const app = await startApp({ storage, clients: [ehr], now });
        try {
          const patientId = `p-many-${size}`;
          const recs = await Promise.all(
            Array.from({ length: size }, (_, i) => app.store.append({ kind: 'evaluation', at: '2026-03-01T10:00:00.000Z', patientId, body: { outcome: 'needs-input', n: i, id: randomUUID() } })),
          );
          const victim = recs[Math.floor(size / 2)]!;
          await harness.tamper(storage, { type: 'set', seq: victim.seq, column: 'body', value: JSON.stringify({ ...(victim.body as object), outcome: 'low-risk-pathway' }) });
          const list = await admin(app, `/audit?patient=${patientId}&limit=${size}`);
          expect(list.status).toBe(409);
          expect(list.json.records).toHaveLength(size);
          const failing = (list.json.records as WireJson[]).filter((r) => !r.integrity.ok);
          expect(failing.map((r) => r.id)).toEqual([victim.id]);
        } finally {
          await app.close();
        }
      });
    }
  });
}
