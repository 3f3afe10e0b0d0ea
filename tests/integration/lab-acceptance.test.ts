/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * The acceptance path, over real HTTP and a real MLLP socket: an HL7 ORU^R01 baseline and a FHIR
 * retest three hours later for one patient move the worklist from `awaiting-retest` (with its due time) to
 * the contract's outcome; a webhook receiver gets the rule-in once; a CDS call for that patient without
 * troponins in its prefetch returns the same outcome (the stored results found by the Patient's NHS
 * number, de-duplicated when the EHR sends them too).
 */
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHl7Listener, type Hl7Listener } from '../../src/intake/hl7-listener.js';
import { call, EHR_ISS, harnessFor, hookBody, searchset, SERVICE_PATH, DISCOVERY_PATH, startApp, type RunningApp } from '../support/cds-app.js';
import { pgAvailable, requireService } from '../support/services.js';
import { ecg, http, LAB_TOKEN, manualClock, NHS, oru, timi, troponin, webhookReceiver, WORKLIST_TOKEN, type Receiver } from '../support/lab.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const NHS_NO = '9434765919';

function suite(kind: 'sqlite' | 'postgres'): void {
  describe(`acceptance on ${kind}`, () => {
    const harness = harnessFor(kind);
    const clock = manualClock('2026-03-06T10:05:00Z');
    let app: RunningApp;
    let listener: Hl7Listener;
    let receiver: Receiver;
    let ehr: CdsTestClient;
    beforeAll(async () => {
      receiver = await webhookReceiver();
      ehr = await createCdsClient({ iss: EHR_ISS, alg: 'RS384', now: clock.now });
      app = await startApp({
        storage: harness.fresh(),
        now: clock.now,
        clients: [ehr],
        settings: { labClients: [{ name: 'main-lab', token: LAB_TOKEN, hl7Facilities: ['LAB^1.2.3^ISO'] }], worklistTokens: [WORKLIST_TOKEN], notifications: [{ url: receiver.url, secret: 'webhook-secret-0123456789', outcomes: ['consistent-with-mi'] }] },
      });
      listener = await startHl7Listener({ host: '127.0.0.1', port: 0, clients: app.settings.labClients, intake: app.app.lab.intake, now: clock.now, newId: () => crypto.randomUUID(), logger: app.app.log as any });
    });
    afterAll(async () => {
      await listener.close();
      await app.close();
      await receiver.close();
      await harness.cleanup();
    });

    it('HL7 baseline, FHIR retest 3 h later: awaiting-retest with its due time, then the rule-in; one alert; a CDS call without troponins gives the same outcome', async () => {
      const disc = await call(app, ehr, 'GET', DISCOVERY_PATH);
      expect(disc.json.services[0].prefetch.patient).toBe('Patient/{{context.patientId}}');

      // The ECG and TIMI score are the EHR's; the worklist knows them when they are posted too.
      for (const r of [ecg(NHS_NO, '2026-03-06T09:55:00Z'), timi(NHS_NO, '2026-03-06T09:58:00Z')]) expect((await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, r)).status).toBe(201);
      const client = new Hl7Client({ host: '127.0.0.1', port: listener.port });
      const ack = await client.sendAndWait(Hl7Message.parse(oru({ nhs: NHS_NO, control: 'ACC1', filler: 'ACC-F1', value: '10', drawn: '202603061000+0000' })), { timeoutMs: 20_000 });
      await client.close();
      expect(ack.getSegment('MSA')?.getField(1)?.toString()).toBe('AA');

      const before = (await http(app.url, 'GET', '/episodes?status=open', WORKLIST_TOKEN)).json.episodes.find((e: any) => e.patient.value === NHS_NO);
      expect(before).toMatchObject({ outcome: 'awaiting-retest', retestDue: '2026-03-06T13:00:00Z', retestOverdue: false });

      clock.set('2026-03-06T13:05:00Z');
      const retest = await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, troponin({ nhs: NHS_NO, at: '2026-03-06T13:00:00Z', value: 30, id: 'ACC-R1' }));
      expect(retest.status).toBe(201);
      const after = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.find((e: any) => e.id === before.id);
      expect(after).toMatchObject({ outcome: 'consistent-with-mi', status: 'closed' });
      await app.app.lab.runOnce();
      await app.app.lab.runOnce();
      expect(receiver.received.map((r) => JSON.parse(r.body).episode.outcome)).toEqual(['consistent-with-mi']);

      const patient = { resourceType: 'Patient', id: 'ehr-p1', identifier: [{ system: NHS, value: NHS_NO }] };
      const ehrObs = [ecg(NHS_NO, '2026-03-06T09:55:00Z'), timi(NHS_NO, '2026-03-06T09:58:00Z')].map((o, i) => ({ ...o, id: `e${i}`, subject: { reference: 'Patient/ehr-p1' } }));
      const cds = await call(app, ehr, 'POST', SERVICE_PATH, hookBody('ehr-p1', { prefetch: { observations: searchset(ehrObs), patient } }));
      expect(cds.status).toBe(200);
      expect(cds.json.cards[0].extension['hs-troponin-cds'].outcome).toBe('consistent-with-mi');

      // Without the Patient (no identifier to match) the stored results are not this patient's: needs-input.
      const blind = await call(app, ehr, 'POST', SERVICE_PATH, hookBody('ehr-p1', { prefetch: { observations: searchset(ehrObs) } }));
      expect(blind.json.cards[0].extension['hs-troponin-cds'].outcome).toBe('needs-input');
    });
  });
}

suite('sqlite');
describe.runIf(runPg)('PostgreSQL', () => suite('postgres'));
