/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * Two parts of issue 9 the other lab suites do not show: every HL7 OBX-11 result status mapped to its
 * FHIR status as stored (P, R, S preliminary; I, O registered; N, X cancelled; D, W entered-in-error; U the
 * stored result made final; an unknown status stored and flagged), and episodes per patient AND encounter
 * (C2 rule 3): results of two encounters of one patient are two episodes; a result naming no encounter
 * joins the patient's episode. Real MLLP and HTTP, SQLite.
 */
import { randomUUID } from 'node:crypto';
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHl7Listener, type Hl7Listener } from '../../src/intake/hl7-listener.js';
import { harnessFor, startApp, type RunningApp } from '../support/cds-app.js';
import { http, LAB_TOKEN, manualClock, oru, troponin, WORKLIST_TOKEN } from '../support/lab.js';

describe('HL7 result statuses and episodes per encounter', () => {
  const harness = harnessFor('sqlite');
  const clock = manualClock('2026-03-06T10:05:00Z');
  let app: RunningApp;
  let listener: Hl7Listener;
  let client: Hl7Client;
  beforeAll(async () => {
    app = await startApp({ storage: harness.fresh(), now: clock.now, settings: { labClients: [{ name: 'main-lab', token: LAB_TOKEN, hl7Facilities: ['LAB^1.2.3^ISO'] }], worklistTokens: [WORKLIST_TOKEN] } });
    listener = await startHl7Listener({ host: '127.0.0.1', port: 0, clients: app.settings.labClients, intake: app.app.lab.intake, now: clock.now, newId: randomUUID, logger: app.app.log as any });
    client = new Hl7Client({ host: '127.0.0.1', port: listener.port });
  });
  afterAll(async () => {
    await client.close();
    await listener.close();
    await app.close();
    await harness.cleanup();
  });
  const send = (text: string): Promise<Hl7Message> => client.sendAndWait(Hl7Message.parse(text), { timeoutMs: 20_000 });
  const episodesOf = async (nhs: string): Promise<any[]> => (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.filter((e: any) => e.patient.value === nhs);
  const versionsOf = async (nhs: string): Promise<any[]> => {
    const [ep] = await episodesOf(nhs);
    return (await http(app.url, 'GET', `/episodes/${ep.id}`, WORKLIST_TOKEN)).json.results[0].versions;
  };

  it.each([
    ['P', 'preliminary'],
    ['R', 'preliminary'],
    ['S', 'preliminary'],
    ['I', 'registered'],
    ['O', 'registered'],
    ['N', 'cancelled'],
    ['X', 'cancelled'],
    ['W', 'entered-in-error'],
    ['F', 'final'],
    ['A', 'amended'],
  ])('OBX-11 %s is stored as %s', async (code, status) => {
    const nhs = `94000000${String(code.charCodeAt(0)).padStart(2, '0')}`;
    const ack = await send(oru({ nhs, control: `S-${code}`, filler: `F-S-${code}`, status: code }));
    expect(ack.getSegment('MSA')?.getField(1)?.toString()).toBe('AA');
    expect((await versionsOf(nhs))[0].resource.status).toBe(status);
  });

  it('OBX-11 U makes the stored result final (a new version, its value kept); an unknown status is stored and flagged', async () => {
    const nhs = '9400000100';
    expect((await send(oru({ nhs, control: 'U-1', filler: 'F-U', value: '12', status: 'P' }))).getSegment('MSA')?.getField(1)?.toString()).toBe('AA');
    expect((await send(oru({ nhs, control: 'U-2', filler: 'F-U', value: '', status: 'U' }))).getSegment('MSA')?.getField(1)?.toString()).toBe('AA');
    const versions = await versionsOf(nhs);
    expect(versions.map((v: any) => v.resource.status)).toEqual(['final', 'preliminary']);
    expect(versions[0].resource.valueQuantity.value).toBe(12);

    const odd = '9400000101';
    const ack = await send(oru({ nhs: odd, control: 'Q-1', filler: 'F-Q', status: 'Q' }));
    expect(ack.getSegment('MSA')?.getField(1)?.toString()).toBe('AA');
    expect(ack.getAllSegments('ERR').map((s) => s.toString()).join('\n')).toContain('OBX-11');
    const [v] = await versionsOf(odd);
    expect(v.flags.map((f: any) => f.code)).toContain('status');
  });

  it('results of two encounters of one patient are two episodes; a result naming no encounter joins the patient\'s episode', async () => {
    const nhs = '9400000200';
    const post = (r: Record<string, unknown>) => http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, r);
    expect((await post(troponin({ nhs, at: '2026-03-06T09:00:00Z', value: 10, id: 'E-1', encounter: 'enc-a' }))).status).toBe(201);
    expect((await post(troponin({ nhs, at: '2026-03-06T09:30:00Z', value: 10, id: 'E-2', encounter: 'enc-b' }))).status).toBe(201);
    const two = await episodesOf(nhs);
    expect(two.map((e: any) => e.encounterId).sort()).toEqual(['enc-a', 'enc-b']);
    expect((await post(troponin({ nhs, at: '2026-03-06T09:45:00Z', value: 11, id: 'E-3' }))).status).toBe(201);
    const after = await episodesOf(nhs);
    expect(after).toHaveLength(2);
    const sizes = await Promise.all(after.map(async (e: any) => (await http(app.url, 'GET', `/episodes/${e.id}`, WORKLIST_TOKEN)).json.results.length));
    expect(sizes.sort()).toEqual([1, 2]);
  });
});
