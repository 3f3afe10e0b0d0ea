/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * HL7 v2 intake over real MLLP sockets on 127.0.0.1, on SQLite and PostgreSQL: ORU^R01 mapped to the same
 * stored Observations as FHIR, ACK codes (AA, AA with warnings, AE, AR), idempotent repeats, corrections
 * and voids, and hostile frames (malformed, two messages in one frame, oversized, 10x and 1,000x OBX).
 */
import { connect } from 'node:net';
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHl7Listener, type Hl7Listener } from '../../src/intake/hl7-listener.js';
import { harnessFor, startApp, ADMIN_TOKEN, type RunningApp } from '../support/cds-app.js';
import { pgAvailable, requireService } from '../support/services.js';
import { http, LAB_TOKEN, manualClock, oru, WORKLIST_TOKEN } from '../support/lab.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());

/** Sends raw bytes on a fresh socket; resolves with what came back before the server closed or `waitMs` of quiet. */
function rawExchange(port: number, bytes: Buffer, waitMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    let timer = setTimeout(() => s.destroy(), waitMs);
    s.on('data', (d: Buffer) => {
      got += d.toString('utf8');
      clearTimeout(timer);
      timer = setTimeout(() => s.destroy(), 200);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.write(bytes);
  });
}

const frame = (text: string): Buffer => Buffer.concat([Buffer.from([0x0b]), Buffer.from(text, 'utf8'), Buffer.from([0x1c, 0x0d])]);

function suite(kind: 'sqlite' | 'postgres'): void {
  describe(`HL7 v2 intake on ${kind}`, () => {
    const harness = harnessFor(kind);
    const clock = manualClock('2026-03-06T10:05:00Z');
    let app: RunningApp;
    let listener: Hl7Listener;
    let client: Hl7Client;
    beforeAll(async () => {
      app = await startApp({ storage: harness.fresh(), now: clock.now, settings: { labClients: [{ name: 'main-lab', token: LAB_TOKEN, hl7Facilities: ['LAB^1.2.3^ISO'] }], worklistTokens: [WORKLIST_TOKEN] } });
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
    const msa = (ack: Hl7Message): string[] => [ack.getSegment('MSA')?.getField(1)?.toString() ?? '', ack.getSegment('MSA')?.getField(2)?.toString() ?? ''];
    const errText = (ack: Hl7Message): string => ack.getAllSegments('ERR').map((e) => e.toString()).join('\n');

    it('an ORU^R01 is stored as the same Observation a FHIR post makes, ACK AA after it is durable; the same message again changes nothing', async () => {
      const ack = await send(oru({ nhs: '943 476 5919', control: 'C1', filler: 'F-100', value: '10' }));
      expect(msa(ack)).toEqual(['AA', 'C1']);
      const ep = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.find((e: any) => e.patient.value === '9434765919');
      expect(ep).toBeDefined();
      const detail = await http(app.url, 'GET', `/episodes/${ep.id}`, WORKLIST_TOKEN);
      const res = detail.json.results[0].versions[0].resource;
      expect(res).toMatchObject({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] },
        subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' } },
        effectiveDateTime: '2026-03-06T10:00:00+00:00',
        valueQuantity: { value: 10, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
        meta: { versionId: '1' },
      });
      expect(detail.json.evaluations[0]).toMatchObject({ trigger: 'lab-result' });
      const audit = await http(app.url, 'GET', `/audit/${detail.json.evaluations[0].auditId}`, ADMIN_TOKEN);
      expect(audit.json.body).toMatchObject({ trigger: 'lab-result', labClient: 'main-lab', channel: 'hl7' });

      expect(msa(await send(oru({ nhs: '9434765919', control: 'C2', filler: 'F-100', value: '10' })))).toEqual(['AA', 'C2']);
      const again = await http(app.url, 'GET', `/episodes/${ep.id}`, WORKLIST_TOKEN);
      expect(again.json.results[0].versions).toHaveLength(1);
    });

    it('OBX-11 C makes a new version, D voids the result; SN <^5 keeps its comparator', async () => {
      await send(oru({ nhs: '9000000101', control: 'V1', filler: 'F-200', value: '10' }));
      expect(msa(await send(oru({ nhs: '9000000101', control: 'V2', filler: 'F-200', value: '11', status: 'C' })))[0]).toBe('AA');
      expect(msa(await send(oru({ nhs: '9000000101', control: 'V3', filler: 'F-200', value: '11', status: 'D' })))[0]).toBe('AA');
      const ep = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.find((e: any) => e.patient.value === '9000000101');
      const versions = (await http(app.url, 'GET', `/episodes/${ep.id}`, WORKLIST_TOKEN)).json.results[0].versions;
      expect(versions.map((v: any) => v.status)).toEqual(['entered-in-error', 'corrected', 'final']);

      const sn = oru({ nhs: '9000000102', control: 'S1', filler: 'F-201' }).replace('OBX|1|NM|67151-1^Troponin T hs^LN|1|10|', 'OBX|1|SN|67151-1^Troponin T hs^LN|1|<^5|');
      expect(msa(await send(sn))[0]).toBe('AA');
      const ep2 = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.find((e: any) => e.patient.value === '9000000102');
      const r = (await http(app.url, 'GET', `/episodes/${ep2.id}`, WORKLIST_TOKEN)).json.results[0].versions[0].resource;
      expect(r.valueQuantity).toMatchObject({ value: 5, comparator: '<' });
    });

    it('a result the pathway cannot use is stored and acknowledged AA with ERR warnings (no time zone, unknown code)', async () => {
      const ack = await send(oru({ nhs: '9000000103', control: 'W1', filler: 'F-300', drawn: '202603061000', obx3: 'XYZ^Odd test^L' }));
      expect(msa(ack)[0]).toBe('AA');
      expect(errText(ack)).toMatch(/\|W\|/);
      expect(errText(ack)).toContain('no UTC offset');
    });

    it('ACK codes: unknown facility, other message types, versions and processing ids are AR; no OBX and an identifier of another patient are AE; nothing is stored', async () => {
      const ar = async (text: string, code: string): Promise<void> => {
        const ack = await send(text);
        expect(msa(ack)[0]).toBe('AR');
        expect(errText(ack)).toContain(code);
      };
      await ar(oru({ facility: 'OTHER^9.9^ISO', control: 'R1' }), 'TNP_ERR_HL7_FACILITY_UNKNOWN');
      await ar(oru({ type: 'ADT^A01', control: 'R2' }), 'TNP_ERR_HL7_UNSUPPORTED');
      await ar(oru({ version: '2.6', control: 'R3' }), 'TNP_ERR_HL7_UNSUPPORTED');
      await ar(oru({ processing: 'T', control: 'R4' }), 'TNP_ERR_HL7_UNSUPPORTED');
      const noObx = oru({ control: 'E1' }).split('\r').filter((s) => !s.startsWith('OBX')).join('\r');
      const e1 = await send(noObx);
      expect(msa(e1)[0]).toBe('AE');
      await send(oru({ nhs: '9000000104', control: 'E2a', filler: 'F-400' }));
      const e2 = await send(oru({ nhs: '9000000105', control: 'E2b', filler: 'F-400' }));
      expect(msa(e2)[0]).toBe('AE');
      expect(errText(e2)).toContain('TNP_ERR_LAB_RESULT_CONFLICT');
      const list = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes;
      expect(list.some((e: any) => e.patient.value === '9000000105')).toBe(false);
    });

    it('segment terminators as laboratories send them: a CR after the last segment, CRLF and LF line ends are accepted AA and stored once', async () => {
      const cr = oru({ nhs: '9000000121', control: 'T1', filler: 'F-521' }) + '\r';
      expect(await rawExchange(listener.port, frame(cr))).toContain('MSA|AA|T1');
      const crlf = oru({ nhs: '9000000122', control: 'T2', filler: 'F-522' }).split('\r').join('\r\n') + '\r\n';
      expect(await rawExchange(listener.port, frame(crlf))).toContain('MSA|AA|T2');
      const lf = oru({ nhs: '9000000123', control: 'T3', filler: 'F-523' }).split('\r').join('\n') + '\n';
      expect(await rawExchange(listener.port, frame(lf))).toContain('MSA|AA|T3');
      const list = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes;
      for (const nhs of ['9000000121', '9000000122', '9000000123']) expect(list.filter((e: any) => e.patient.value === nhs)).toHaveLength(1);
    });

    it('hostile frames: not HL7, two messages in one frame, an oversized frame: AR, nothing stored, the listener keeps serving', async () => {
      expect(await rawExchange(listener.port, frame('HELLO|not hl7'))).toContain('MSA|AR');
      const two = frame(`${oru({ nhs: '9000000106', control: 'P1', filler: 'F-500' })}\r${oru({ nhs: '9000000107', control: 'P2', filler: 'F-501' })}`);
      const answer = await rawExchange(listener.port, two);
      expect(answer).toContain('MSA|AR|P1');
      const big = Buffer.alloc(2 * 1024 * 1024, 0x41);
      big[0] = 0x0b;
      expect(await rawExchange(listener.port, big, 3000)).toContain('TNP_ERR_HL7_TOO_LARGE');
      const list = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes;
      expect(list.some((e: any) => ['9000000106', '9000000107'].includes(e.patient.value))).toBe(false);
      expect(msa(await send(oru({ nhs: '9000000108', control: 'OK1', filler: 'F-502' })))[0]).toBe('AA');
    });

    it('bounded: 10x the OBX of a normal message is stored; 1,000x is AR with nothing stored', async () => {
      const obx = (n: number): string[] => Array.from({ length: n }, (_, i) => `OBX|${i + 2}|NM|67151-1^Troponin T hs^LN|${i + 2}|${10 + i}|ng/L^^UCUM||N|||F|||202603061000+0000`);
      expect(msa(await send(oru({ nhs: '9000000109', control: 'B10', filler: 'F-600', extraObx: obx(49) })))[0]).toBe('AA');
      const huge = await send(oru({ nhs: '9000000110', control: 'B1000', filler: 'F-601', extraObx: obx(4999) }));
      expect(msa(huge)[0]).toBe('AR');
      expect(errText(huge)).toContain('TNP_ERR_HL7_TOO_LARGE');
      const list = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes;
      expect(list.some((e: any) => e.patient.value === '9000000110')).toBe(false);
    });
  });
}

suite('sqlite');
describe.runIf(runPg)('PostgreSQL', () => suite('postgres'));
