/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * The answer only after the result is durable, when the store cannot write (its writer lock held
 * elsewhere): an HL7 message is answered AR (send again), never AA, and a FHIR post 503 with
 * TNP_ERR_AUDIT_UNAVAILABLE, never 201 nor 500; nothing of either is stored. Once the store writes again,
 * the same message and post are stored, once. On SQLite and PostgreSQL, over real MLLP and HTTP.
 */
import { randomUUID } from 'node:crypto';
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditStore, type AuditStore, type AuditStoreSettings } from '../../src/audit/store.js';
import { startHl7Listener, type Hl7Listener } from '../../src/intake/hl7-listener.js';
import { harnessFor, startApp, type RunningApp } from '../support/cds-app.js';
import { pgAvailable, requireService } from '../support/services.js';
import { http, LAB_TOKEN, manualClock, oru, troponin, WORKLIST_TOKEN } from '../support/lab.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());

function suite(kind: 'sqlite' | 'postgres'): void {
  describe(`lab intake when the store cannot write, on ${kind}`, () => {
    const harness = harnessFor(kind);
    const clock = manualClock('2026-03-06T10:05:00Z');
    let storage: AuditStoreSettings;
    let store: AuditStore;
    let app: RunningApp;
    let listener: Hl7Listener;
    let client: Hl7Client;
    beforeAll(async () => {
      storage = harness.fresh();
      // A short wait for the writer lock, so that a held lock is met at once (as a full disk would be).
      store = await openAuditStore(storage, { newId: randomUUID, now: clock.now }, { busyTimeoutMs: 200 });
      app = await startApp({ store, now: clock.now, settings: { labClients: [{ name: 'main-lab', token: LAB_TOKEN, hl7Facilities: ['LAB^1.2.3^ISO'] }], worklistTokens: [WORKLIST_TOKEN] } });
      listener = await startHl7Listener({ host: '127.0.0.1', port: 0, clients: app.settings.labClients, intake: app.app.lab.intake, now: clock.now, newId: randomUUID, logger: app.app.log as any });
      client = new Hl7Client({ host: '127.0.0.1', port: listener.port });
    });
    afterAll(async () => {
      await client.close();
      await listener.close();
      await app.close();
      await store.close();
      await harness.cleanup();
    });
    const send = (text: string): Promise<Hl7Message> => client.sendAndWait(Hl7Message.parse(text), { timeoutMs: 20_000 });
    const episodesOf = async (nhs: string): Promise<any[]> => (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.filter((e: any) => e.patient.value === nhs);

    it('HL7: AR while the store cannot write (nothing stored), AA once it can (stored once)', async () => {
      const message = oru({ nhs: '9300000001', control: 'U1', filler: 'F-U1' });
      const release = await harness.holdWriteLock(storage);
      let ack: Hl7Message;
      try {
        ack = await send(message);
      } finally {
        await release();
      }
      expect(ack.getSegment('MSA')?.getField(1)?.toString()).toBe('AR');
      expect(ack.getAllSegments('ERR').map((s) => s.toString()).join('\n')).toContain('TNP_ERR_AUDIT_UNAVAILABLE');
      expect(await episodesOf('9300000001')).toHaveLength(0);
      const again = await send(message);
      expect(again.getSegment('MSA')?.getField(1)?.toString()).toBe('AA');
      const eps = await episodesOf('9300000001');
      expect(eps).toHaveLength(1);
      expect((await http(app.url, 'GET', `/episodes/${eps[0].id}`, WORKLIST_TOKEN)).json.results).toHaveLength(1);
    });

    it('FHIR: 503 TNP_ERR_AUDIT_UNAVAILABLE while the store cannot write (nothing stored), 201 once it can', async () => {
      const result = troponin({ nhs: '9300000002', at: '2026-03-06T10:00:00Z', value: 10, id: 'U-2' });
      const release = await harness.holdWriteLock(storage);
      let res;
      try {
        res = await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, result);
      } finally {
        await release();
      }
      expect(res.status).toBe(503);
      expect(res.json.issue[0].details.coding[0].code).toBe('TNP_ERR_AUDIT_UNAVAILABLE');
      expect(await episodesOf('9300000002')).toHaveLength(0);
      expect((await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, result)).status).toBe(201);
      expect(await episodesOf('9300000002')).toHaveLength(1);
    });
  });
}

suite('sqlite');
describe.runIf(runPg)('PostgreSQL', () => suite('postgres'));
