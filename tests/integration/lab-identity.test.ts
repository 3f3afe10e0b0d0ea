/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * Whose result, whose patient, which episode, over real HTTP and real MLLP sockets with two lab clients,
 * on SQLite and PostgreSQL:
 * - a result belongs to the lab client that sent it: another client can neither change nor void it
 *   (FHIR 409; HL7 identifiers are scoped to the client, so another lab's same order number is its own
 *   result), and a result stored before that scoping is still corrected by its own lab (L-48);
 * - an HL7 PID-3 identifier without an assigning authority names no patient (as a FHIR identifier
 *   without a system): the result is kept unmatched with a warning, never merged across labs (L-49);
 * - only results the pathway reads open an episode; others join an episode already open, or are kept
 *   at /episodes/unmatched (L-50).
 */
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHl7Listener, type Hl7Listener } from '../../src/intake/hl7-listener.js';
import { harnessFor, startApp, ADMIN_TOKEN, type RunningApp } from '../support/cds-app.js';
import { pgAvailable, requireService } from '../support/services.js';
import { http, LAB2_TOKEN, LAB_TOKEN, manualClock, oru, troponin, WORKLIST_TOKEN } from '../support/lab.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const MAIN = 'LAB^1.2.3^ISO';
const OTHER = 'OTHER^9.9^ISO';

function suite(kind: 'sqlite' | 'postgres'): void {
  describe(`result identity across lab clients on ${kind}`, () => {
    const harness = harnessFor(kind);
    const clock = manualClock('2026-03-06T10:05:00Z');
    let app: RunningApp;
    let listener: Hl7Listener;
    let client: Hl7Client;
    beforeAll(async () => {
      app = await startApp({
        storage: harness.fresh(),
        now: clock.now,
        settings: {
          labClients: [
            { name: 'main-lab', token: LAB_TOKEN, hl7Facilities: [MAIN] },
            { name: 'other-lab', token: LAB2_TOKEN, hl7Facilities: [OTHER] },
          ],
          worklistTokens: [WORKLIST_TOKEN],
        },
      });
      listener = await startHl7Listener({ host: '127.0.0.1', port: 0, clients: app.settings.labClients, intake: app.app.lab.intake, now: clock.now, newId: () => crypto.randomUUID(), logger: app.app.log as any });
      client = new Hl7Client({ host: '127.0.0.1', port: listener.port });
    });
    afterAll(async () => {
      await client.close();
      await listener.close();
      await app.close();
      await harness.cleanup();
    });
    const send = async (text: string): Promise<Hl7Message> => client.sendAndWait(Hl7Message.parse(text), { timeoutMs: 20_000 });
    const msa = (ack: Hl7Message): string => ack.getSegment('MSA')?.getField(1)?.toString() ?? '';
    const errText = (ack: Hl7Message): string => ack.getAllSegments('ERR').map((e) => e.toString()).join('\n');
    const episodesOf = async (value: string): Promise<any[]> => (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.filter((e: any) => e.patient.value === value);
    const detail = async (id: string): Promise<any> => (await http(app.url, 'GET', `/episodes/${id}`, WORKLIST_TOKEN)).json;
    const unmatched = async (): Promise<any[]> => (await http(app.url, 'GET', '/episodes/unmatched?_count=200', WORKLIST_TOKEN)).json.results;
    const withPid = (text: string, pid: string): string => text.replace(/^PID\|.*$/m, pid);

    it('HL7: another lab sending the same filler order number cancels nothing of the first lab; it is that lab\'s own result', async () => {
      const nhs = '9000004001';
      expect(msa(await send(oru({ nhs, control: 'M1', filler: 'ORD77', value: '6' })))).toBe('AA');
      const [ep] = await episodesOf(nhs);
      const before = await detail(ep.id);
      expect(before.results).toHaveLength(1);
      const mainId = before.results[0].id;

      const x = await send(oru({ nhs, facility: OTHER, control: 'O1', filler: 'ORD77', value: '6', status: 'X' }));
      expect(msa(x)).toBe('AA');
      const after = await detail(ep.id);
      const mine = after.results.find((r: any) => r.id === mainId);
      expect(mine.versions.map((v: any) => v.status)).toEqual(['final']);
      expect(mine.versions[0].resource.valueQuantity.value).toBe(6);
      // The other lab's message is its own result (cancelled), beside the first lab's.
      const theirs = after.results.filter((r: any) => r.id !== mainId);
      expect(theirs.map((r: any) => r.versions[0].status)).toEqual(['cancelled']);
      expect(theirs[0].versions[0].resource.identifier[0].system).not.toBe(mine.versions[0].resource.identifier[0].system);
      // The first lab still corrects its own result.
      expect(msa(await send(oru({ nhs, control: 'M2', filler: 'ORD77', value: '7', status: 'C' })))).toBe('AA');
      const corrected = (await detail(ep.id)).results.find((r: any) => r.id === mainId);
      expect(corrected.versions.map((v: any) => v.status)).toEqual(['corrected', 'final']);
    });

    it('HL7: a result stored under the filler identifier of earlier releases is still corrected by its own lab, and only by it', async () => {
      const nhs = '9000004002';
      const legacy = { ...troponin({ nhs, at: '2026-03-06T10:00:00+00:00', value: 6 }), identifier: [{ system: 'urn:hs-troponin-cds:hl7v2:filler:LIS', value: 'ORD88|67151-1|LN|1' }] };
      const created = await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, legacy);
      expect(created.status).toBe(201);
      expect(msa(await send(oru({ nhs, facility: OTHER, control: 'L1', filler: 'ORD88', value: '6', status: 'X' })))).toBe('AA');
      expect((await http(app.url, 'GET', `/fhir/Observation/${created.json.id}`, ADMIN_TOKEN)).json.meta.versionId).toBe('1');
      expect(msa(await send(oru({ nhs, control: 'L2', filler: 'ORD88', value: '8', status: 'C' })))).toBe('AA');
      const now = (await http(app.url, 'GET', `/fhir/Observation/${created.json.id}`, ADMIN_TOKEN)).json;
      expect(now).toMatchObject({ status: 'corrected', meta: { versionId: '2' }, valueQuantity: { value: 8 } });
    });

    it('FHIR: another lab posting the first lab\'s identifier is refused 409 with an OperationOutcome; nothing of the first lab changes', async () => {
      const nhs = '9000004003';
      const ours = await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, troponin({ nhs, at: '2026-03-06T10:00:00Z', value: 6, id: 'R-1' }));
      expect(ours.status).toBe(201);
      const theirs = await http(app.url, 'POST', '/fhir/Observation', LAB2_TOKEN, troponin({ nhs, at: '2026-03-06T10:00:00Z', value: 500, id: 'R-1', status: 'corrected' }));
      expect(theirs.status).toBe(409);
      expect(theirs.json.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(theirs.json)).toContain('TNP_ERR_LAB_RESULT_CONFLICT');
      expect(JSON.stringify(theirs.json)).toContain('another laboratory');
      const cond = await http(app.url, 'POST', '/fhir/Observation', LAB2_TOKEN, troponin({ nhs, at: '2026-03-06T10:00:00Z', value: 500, id: 'R-2' }), { 'if-none-exist': `identifier=${'https://lab.hospital.example/results'}|R-1` });
      expect(cond.status).toBe(409);
      expect(cond.text).not.toContain('"value":6');
      const stored = (await http(app.url, 'GET', `/fhir/Observation/${ours.json.id}`, ADMIN_TOKEN)).json;
      expect(stored).toMatchObject({ status: 'final', meta: { versionId: '1' }, valueQuantity: { value: 6 } });
      const [ep] = await episodesOf(nhs);
      expect((await detail(ep.id)).results).toHaveLength(1);
    });

    it('HL7: a PID-3 without an assigning authority names no patient: two labs\' "55555" are never one episode; both kept unmatched with a warning', async () => {
      const jane = withPid(oru({ control: 'P1', filler: 'PX1', value: '6' }), 'PID|1||55555||DOE^JANE');
      const a = await send(jane);
      expect(msa(a)).toBe('AA');
      expect(errText(a)).toMatch(/\|W\|/);
      expect(errText(a)).toContain('assigning authority');
      const john = withPid(oru({ facility: OTHER, control: 'P2', filler: 'PX2', value: '60', drawn: '202603061310+0000' }), 'PID|1||55555||SMITH^JOHN');
      const b = await send(john);
      expect(msa(b)).toBe('AA');
      expect(errText(b)).toContain('assigning authority');
      const all = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes;
      expect(all.filter((e: any) => String(e.patient.value) === '55555' || JSON.stringify(e.patient).includes('unknown'))).toEqual([]);
      const loose = (await unmatched()).map((r: any) => r.versions[0].resource);
      expect(loose.filter((r: any) => /^PX[12]\|/.test(r.identifier[0].value)).map((r: any) => r.valueQuantity.value).sort()).toEqual([6, 60]);
      // An identifier with an authority in the same PID still names the patient.
      const both = withPid(oru({ control: 'P3', filler: 'PX3' }), 'PID|1||55555~9000004004^^^NHS^NH||DOE^JANE');
      expect(msa(await send(both))).toBe('AA');
      expect(await episodesOf('9000004004')).toHaveLength(1);
    });

    it('only results the pathway reads open an episode: a potassium or an unknown code is stored and listed unmatched; one for an open episode joins it', async () => {
      const k = (nhs: string, id: string) => ({ ...troponin({ nhs, at: '2026-03-06T10:00:00Z', value: 4.1, unit: 'mmol/L', id }), code: { coding: [{ system: 'http://loinc.org', code: '2823-3' }] } });
      const nhs = '9000004005';
      const res = await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, k(nhs, 'K-1'));
      expect(res.status).toBe(201);
      expect(await episodesOf(nhs)).toEqual([]);
      const listed = (await unmatched()).find((r: any) => r.id === res.json.id);
      expect(listed).toBeDefined();
      expect(JSON.stringify(listed.versions[0].resource.meta.tag)).toContain('not-read');
      const odd = await send(oru({ nhs: '9000004006', control: 'U1', filler: 'UX1', obx3: 'XYZ^Odd test^L' }));
      expect(msa(odd)).toBe('AA');
      expect(errText(odd)).toContain('no episode');
      expect(await episodesOf('9000004006')).toEqual([]);
      const tx = await send(oru({ nhs: '9000004007', control: 'U2', filler: 'UX2', obx3: 'COMMENT^Comment^L' }).replace('OBX|1|NM|', 'OBX|1|TX|').replace('|10|ng/L^^UCUM|', '|see the report||'));
      expect(msa(tx)).toBe('AA');
      expect(await episodesOf('9000004007')).toEqual([]);
      const ids = (await unmatched()).map((r: any) => r.versions[0].resource.identifier[0].value);
      expect(ids.filter((v: string) => /^UX[12]\|/.test(v))).toHaveLength(2);

      // A comment OBX before its troponin in one message joins the episode the troponin opens.
      const comment = 'OBX|1|TX|COMMENT^Comment^L|1|see the report||||||F|||202603061000+0000';
      const trop = oru({ nhs: '9000004009', control: 'U3', filler: 'UX3' }).split('\r');
      const obx = trop.findIndex((x) => x.startsWith('OBX|'));
      const reordered = [...trop.slice(0, obx), comment, (trop[obx] ?? '').replace('OBX|1|', 'OBX|2|')].join('\r');
      expect(msa(await send(reordered))).toBe('AA');
      const eps9 = await episodesOf('9000004009');
      expect(eps9).toHaveLength(1);
      expect((await detail(eps9[0].id)).results).toHaveLength(2);

      // A patient with an open episode: the potassium joins it; no second episode.
      const nhs2 = '9000004008';
      expect((await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, troponin({ nhs: nhs2, at: '2026-03-06T10:00:00Z', value: 6, id: 'T-8' }))).status).toBe(201);
      expect((await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, k(nhs2, 'K-8'))).status).toBe(201);
      const eps = await episodesOf(nhs2);
      expect(eps).toHaveLength(1);
      expect((await detail(eps[0].id)).results).toHaveLength(2);
    });
  });
}

suite('sqlite');
describe.runIf(runPg)('PostgreSQL', () => suite('postgres'));
