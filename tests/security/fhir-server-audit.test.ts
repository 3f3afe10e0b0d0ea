/**
 * S-16: the audit record keeps `fhirServer` as origin and path only. A query string (which may carry a
 * token or a patient id), a fragment and credentials never reach the audit trail, whether the call was
 * answered or refused.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, call, EHR_ISS, hookBody, SERVICE_PATH, startApp, type RunningApp } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { sendJson, startLoopbackServer, type LoopbackServer } from '../support/loopback-server.js';
import { manualTimers } from '../support/manual-timers.js';

const NOW = '2026-04-17T13:20:00Z';
const now = (): Date => new Date(NOW);
const SECRET = 's3cr3t-query-token-5e0a';

let ehr: CdsTestClient;
let fhir: LoopbackServer;
let app: RunningApp;

beforeAll(async () => {
  ehr = await createCdsClient({ iss: EHR_ISS, alg: 'ES384', now });
  fhir = await startLoopbackServer((_req, res) => sendJson(res, 200, { resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] }));
  app = await startApp({ clients: [ehr], now, fhirServers: [`${fhir.origin}/fhir`], timers: manualTimers() });
});

afterAll(async () => {
  await app?.close();
  await fhir?.close();
});

async function recordFor(patientId: string): Promise<{ text: string; fhirServer: unknown }> {
  const list = await admin(app, `/audit?patient=${patientId}`);
  expect(list.json.records).toHaveLength(1);
  return { text: list.text, fhirServer: list.json.records[0].body.fhirServer };
}

describe('S-16: fhirServer in the audit record', () => {
  it('an answered call: the query string and fragment are not stored', async () => {
    const patientId = `paud-${randomUUID().slice(0, 8)}`;
    const res = await call(app, ehr, 'POST', SERVICE_PATH, hookBody(patientId, { fhirServer: `${fhir.origin}/fhir?access_token=${SECRET}&patient=${patientId}#${SECRET}` }));
    expect(res.status, res.text).toBe(200);
    const rec = await recordFor(patientId);
    expect(rec.fhirServer).toBe(`${fhir.origin}/fhir`);
    expect(rec.text).not.toContain(SECRET);
  });

  it('a refused call: neither credentials nor the query are stored', async () => {
    const patientId = `paud-${randomUUID().slice(0, 8)}`;
    const res = await call(app, ehr, 'POST', SERVICE_PATH, hookBody(patientId, { fhirServer: `https://alice:${SECRET}@ehr.elsewhere.example/fhir/?key=${SECRET}` }));
    expect(res.status, res.text).toBe(412);
    const rec = await recordFor(patientId);
    expect(rec.fhirServer).toBe('https://ehr.elsewhere.example/fhir/');
    expect(rec.text).not.toContain(SECRET);
    expect(rec.text).not.toContain('alice');
  });
});
