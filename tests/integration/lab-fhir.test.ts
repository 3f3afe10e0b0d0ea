/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * FHIR intake over real HTTP, on SQLite and PostgreSQL: create (201, Location, id, meta), idempotent
 * repeats, versions (amended, entered-in-error), conditional create, batch and transaction (all or
 * nothing), results the pathway cannot use (stored, flagged, visible), the metadata, and the episode
 * re-evaluated and audited on each accepted result.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harnessFor, startApp, ADMIN_TOKEN, type RunningApp } from '../support/cds-app.js';
import { pgAvailable, requireService } from '../support/services.js';
import { ecg, http, LAB2_TOKEN, LAB_TOKEN, manualClock, NHS, RESULTS, timi, troponin, WORKLIST_TOKEN } from '../support/lab.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const T0 = '2026-03-06T10:00:00Z';

function suite(kind: 'sqlite' | 'postgres'): void {
  describe(`FHIR intake on ${kind}`, () => {
    const harness = harnessFor(kind);
    const clock = manualClock('2026-03-06T10:05:00Z');
    let app: RunningApp;
    beforeAll(async () => {
      app = await startApp({
        storage: harness.fresh(),
        now: clock.now,
        settings: { labClients: [{ name: 'main-lab', token: LAB_TOKEN }, { name: 'other-lab', token: LAB2_TOKEN }], worklistTokens: [WORKLIST_TOKEN] },
      });
    });
    afterAll(async () => {
      await app.close();
      await harness.cleanup();
    });
    const post = (body: unknown, headers: Record<string, string> = {}, token: string | null = LAB_TOKEN) => http(app.url, 'POST', '/fhir/Observation', token, body, headers);

    it('a result is stored (201, Location, id, meta.versionId, meta.lastUpdated), its episode evaluated and audited; a repeat is 200 with the same version', async () => {
      const nhs = '9000000001';
      for (const r of [ecg(nhs, T0), timi(nhs, T0)]) expect((await post(r)).status).toBe(201);
      const res = await post(troponin({ nhs, at: T0, value: 10, id: 'base-1' }));
      expect(res.status).toBe(201);
      expect(res.headers.get('content-type')).toContain('application/fhir+json');
      expect(res.json).toMatchObject({ resourceType: 'Observation', id: expect.any(String), meta: { versionId: '1', lastUpdated: '2026-03-06T10:05:00.000Z' }, valueQuantity: { value: 10 } });
      expect(res.headers.get('location')).toBe(`https://cds.hospital.example/tnp/fhir/Observation/${res.json.id}/_history/1`);
      expect(res.headers.get('etag')).toBe('W/"1"');

      const again = await post(troponin({ nhs, at: T0, value: 10, id: 'base-1' }));
      expect(again.status).toBe(200);
      expect(again.json).toEqual(res.json);

      const list = await http(app.url, 'GET', '/episodes?status=open', WORKLIST_TOKEN);
      const row = list.json.episodes.find((e: any) => e.patient.value === nhs);
      expect(row).toMatchObject({ outcome: 'awaiting-retest', retestDue: '2026-03-06T13:00:00Z', retestOverdue: false, baselineTime: expect.stringContaining('2026-03-06T10:00') });
      const detail = await http(app.url, 'GET', `/episodes/${row.id}`, WORKLIST_TOKEN);
      expect(detail.json.results).toHaveLength(3);
      expect(detail.json.evaluations[0]).toMatchObject({ trigger: 'lab-result', outcome: 'awaiting-retest' });
      const audit = await http(app.url, 'GET', `/audit/${detail.json.evaluations[0].auditId}`, ADMIN_TOKEN);
      expect(audit.status).toBe(200);
      expect(audit.json.body).toMatchObject({ trigger: 'lab-result', labClient: 'main-lab', channel: 'fhir', outcome: 'awaiting-retest' });
      expect((await http(app.url, 'GET', '/audit/verify', ADMIN_TOKEN)).json.ok).toBe(true);
    });

    it('amended makes a new version (the first stays readable); entered-in-error voids the result; nothing is deleted', async () => {
      const nhs = '9000000002';
      const first = await post(troponin({ nhs, at: T0, value: 10, id: 'amend-1' }));
      clock.advance(60_000);
      const amended = await post(troponin({ nhs, at: T0, value: 12, id: 'amend-1', status: 'amended' }));
      expect(amended.status).toBe(201);
      expect(amended.json).toMatchObject({ id: first.json.id, meta: { versionId: '2' }, status: 'amended', valueQuantity: { value: 12 } });
      const v1 = await http(app.url, 'GET', `/fhir/Observation/${first.json.id}/_history/1`, LAB_TOKEN);
      expect(v1.json.valueQuantity.value).toBe(10);
      const voided = await post(troponin({ nhs, at: T0, value: 12, id: 'amend-1', status: 'entered-in-error' }));
      expect(voided.json.meta.versionId).toBe('3');
      expect((await http(app.url, 'GET', `/fhir/Observation/${first.json.id}`, ADMIN_TOKEN)).json.status).toBe('entered-in-error');
      const ep = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.find((e: any) => e.patient.value === nhs);
      // The voided baseline no longer counts: the pathway asks for one again.
      expect(ep.missing).toContain('baseline-troponin');
      // Another lab client does not see this one's results.
      expect((await http(app.url, 'GET', `/fhir/Observation/${first.json.id}`, LAB2_TOKEN)).status).toBe(404);
    });

    it('conditional create: If-None-Exist matching a stored result answers it (200), a new identifier creates (201); a bad condition is 400', async () => {
      const nhs = '9000000003';
      const made = await post(troponin({ nhs, at: T0, value: 8, id: 'cond-1' }));
      const cond = { 'if-none-exist': `identifier=${RESULTS}|cond-1` };
      const hit = await post(troponin({ nhs, at: T0, value: 99, id: 'cond-1' }), cond);
      expect(hit.status).toBe(200);
      expect(hit.json).toMatchObject({ id: made.json.id, meta: { versionId: '1' }, valueQuantity: { value: 8 } });
      const bad = await post(troponin({ nhs, at: T0, value: 8, id: 'cond-2' }), { 'if-none-exist': 'code=abc' });
      expect(bad.status).toBe(400);
      expect(bad.json.issue[0].details.coding[0].code).toBe('TNP_ERR_FHIR_CONDITION_INVALID');
    });

    it('a transaction is all or nothing: one entry naming another patient\'s result stores none of it (409); a batch answers each entry', async () => {
      await post(troponin({ nhs: '9000000004', at: T0, value: 8, id: 'tx-owner' }));
      const tx = {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'POST', url: 'Observation' }, resource: troponin({ nhs: '9000000005', at: T0, value: 9, id: 'tx-new' }) },
          { request: { method: 'POST', url: 'Observation' }, resource: troponin({ nhs: '9000000005', at: T0, value: 9, id: 'tx-owner' }) },
        ],
      };
      const refused = await http(app.url, 'POST', '/fhir', LAB_TOKEN, tx);
      expect(refused.status).toBe(409);
      expect(refused.json.issue[0].expression).toEqual(['Bundle.entry[1].resource.subject']);
      const after = await post(troponin({ nhs: '9000000005', at: T0, value: 9, id: 'tx-new' }));
      expect(after.status).toBe(201);
      expect(after.json.meta.versionId).toBe('1');

      const ok = await http(app.url, 'POST', '/fhir', LAB_TOKEN, { ...tx, entry: [tx.entry[0], { request: { method: 'POST', url: 'Observation' }, resource: troponin({ nhs: '9000000005', at: T0, value: 9, id: 'tx-other' }) }] });
      expect(ok.status).toBe(200);
      expect(ok.json).toMatchObject({ resourceType: 'Bundle', type: 'transaction-response' });
      expect(ok.json.entry.map((e: any) => e.response.status)).toEqual(['200 OK', '201 Created']);

      const batch = await http(app.url, 'POST', '/fhir', LAB_TOKEN, { ...tx, type: 'batch' });
      expect(batch.status).toBe(200);
      expect(batch.json.entry.map((e: any) => e.response.status)).toEqual(['200 OK', '409 TNP_ERR_LAB_RESULT_CONFLICT']);
    });

    it('a result the pathway cannot use is stored, flagged and visible: no patient, an unknown code, a bad unit, no draw time', async () => {
      const loose = await post(troponin({ nhs: null, at: T0, value: 10, id: 'loose-1' }), { prefer: 'return=OperationOutcome' });
      expect(loose.status).toBe(201);
      expect(loose.json.resourceType).toBe('OperationOutcome');
      expect(loose.json.issue.map((i: any) => i.details.text)).toEqual(expect.arrayContaining([expect.stringContaining('no-patient')]));
      const unmatched = await http(app.url, 'GET', '/episodes/unmatched', WORKLIST_TOKEN);
      expect(unmatched.json.results.some((r: any) => r.versions[0].resource.identifier[0].value === 'loose-1')).toBe(true);

      const nhs = '9000000006';
      const unknown = await post(troponin({ nhs, at: T0, value: 10, id: 'odd-code', code: { system: 'http://lab.example/codes', code: 'XYZ' } }));
      expect(unknown.status).toBe(201);
      expect(unknown.json.meta.tag.map((t: any) => t.code)).toContain('ignored');
      const badUnit = await post(troponin({ nhs, at: T0, value: 10, id: 'bad-unit', unit: 'U/L' }));
      expect(badUnit.json.meta.tag.map((t: any) => t.code)).toContain('uninterpretable');
      const { effectiveDateTime: _e, ...noTime } = troponin({ nhs, at: T0, value: 10, id: 'no-time' });
      const untimed = await post(noTime);
      expect(untimed.json.meta.tag.map((t: any) => t.code)).toEqual(expect.arrayContaining(['no-draw-time']));
      const ep = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.find((e: any) => e.patient.value === nhs);
      // Never a rule-out from unreadable data: at least indeterminate.
      expect(ep.outcome).toBe('indeterminate');
    });

    it('a correction days later re-evaluates its episode as it stood at the window\'s end (its results do not age out)', async () => {
      const nhs = '9000000001';
      clock.set('2026-03-10T09:00:00Z');
      const late = await post(troponin({ nhs, at: T0, value: 40, id: 'base-1', status: 'corrected' }));
      expect(late.status).toBe(201);
      expect(late.json.meta.versionId).toBe('2');
      const ep = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.find((e: any) => e.patient.value === nhs);
      expect(ep).toMatchObject({ outcome: 'awaiting-retest', status: 'closed', closedReason: 'window-passed' });
      const detail = await http(app.url, 'GET', `/episodes/${ep.id}`, WORKLIST_TOKEN);
      expect(detail.json.evaluations[0]).toMatchObject({ trigger: 'lab-result', outcome: 'awaiting-retest' });
      clock.set('2026-03-06T10:06:00Z');
    });

    it('answers 401 with no detail without a lab token; metadata is open and says what the intake does', async () => {
      const none = await post(troponin({ at: T0, value: 1 }), {}, null);
      expect(none.status).toBe(401);
      expect(none.json).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', details: { text: 'Unauthorized' } }] });
      expect((await post(troponin({ at: T0, value: 1 }), {}, WORKLIST_TOKEN)).status).toBe(401);
      expect((await http(app.url, 'GET', '/episodes', LAB_TOKEN)).status).toBe(401);
      const meta = await http(app.url, 'GET', '/fhir/metadata', null);
      expect(meta.json).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', rest: [{ resource: [{ type: 'Observation', conditionalCreate: true, interaction: [{ code: 'create' }, { code: 'read' }, { code: 'vread' }] }], interaction: [{ code: 'batch' }, { code: 'transaction' }] }] });
      expect(NHS).toContain('nhs-number');
    });
  });
}

suite('sqlite');
describe.runIf(runPg)('PostgreSQL', () => suite('postgres'));
