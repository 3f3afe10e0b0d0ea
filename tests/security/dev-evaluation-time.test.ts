/**
 * I-02: the evaluation time a development call asks for (`extension["hs-troponin-cds-dev"].evaluationTime`,
 * sent by `npx hs-troponin-cds call` so a fixture is evaluated at its own clinical time) is honoured only
 * by a service started with `dev`, and only for the local development client (itself trusted from this
 * machine only, I-01). Anyone else is refused 400 with TNP_ERR_EVALUATION_TIME_REFUSED and no card; a
 * service started as `npm start` refuses it even from the local client. The audit record keeps both
 * times. Real app over real HTTP, a real fixture.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractResources } from '../../src/fhir/mapping.js';
import { DEV_CLIENT_ISS } from '../../src/dev/local-peer.js';
import { admin, call, ehrClient, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { loadFixture } from '../support/fixtures.js';

const fixture = loadFixture('below-url-rise-above-url-consistent');
const resources = extractResources(fixture.doc);
const patientId = 'pt-1005';
const observations = resources.filter((r) => r.resourceType === 'Observation');
const asked = (evaluationTime: unknown): Record<string, unknown> =>
  hookBody(patientId, { prefetch: { observations: searchset(observations) }, extension: { 'hs-troponin-cds-dev': { evaluationTime } } });

let dev: CdsTestClient;
let ehr: CdsTestClient;
let devApp: RunningApp;
let started: RunningApp;

beforeAll(async () => {
  dev = await createCdsClient({ iss: DEV_CLIENT_ISS, alg: 'ES384' });
  ehr = await ehrClient('ES384');
  devApp = await startApp({ clients: [dev, ehr], devEvaluationTime: true });
  started = await startApp({ clients: [dev, ehr] });
});
afterAll(async () => {
  await devApp.close();
  await started.close();
});

function refusal(json: { issue?: { details?: { coding?: { code?: string }[] } }[] }): string | undefined {
  return json.issue?.[0]?.details?.coding?.[0]?.code;
}

describe('I-02 an evaluation time from the request: the local development client of `dev` only', () => {
  it('dev and the local client: the card is for the fixture\'s time, and the record keeps both times', async () => {
    const res = await call(devApp, dev, 'POST', SERVICE_PATH, asked(fixture.expected.now));
    expect(res.status).toBe(200);
    const ext = res.json.cards[0].extension['hs-troponin-cds'];
    expect(ext.outcome).toBe(fixture.expected.outcome);
    const rec = await admin(devApp, `/audit/${ext.auditId as string}`);
    expect(rec.json.body.evaluatedAt).toBe(fixture.expected.now);
    expect(rec.json.body.evaluationTimeGivenBy).toBe(DEV_CLIENT_ISS);
    expect(rec.json.at).not.toBe(fixture.expected.now);
  });

  it('without the extension a call is evaluated when received (here months after the fixture: not its outcome), and no field is added', async () => {
    const res = await call(devApp, dev, 'POST', SERVICE_PATH, hookBody(patientId, { prefetch: { observations: searchset(observations) } }));
    expect(res.status).toBe(200);
    const ext = res.json.cards[0].extension['hs-troponin-cds'];
    expect(ext.outcome).not.toBe(fixture.expected.outcome);
    const rec = await admin(devApp, `/audit/${ext.auditId as string}`);
    expect(rec.json.body).not.toHaveProperty('evaluationTimeGivenBy');
  });

  it('another client, even on dev and on loopback: 400, no card, nothing evaluated', async () => {
    const res = await call(devApp, ehr, 'POST', SERVICE_PATH, asked(fixture.expected.now));
    expect(res.status).toBe(400);
    expect(refusal(res.json)).toBe('TNP_ERR_EVALUATION_TIME_REFUSED');
    expect(res.json.cards).toBeUndefined();
    expect(devApp.logs.filter((l) => l['event'] === 'evaluation' && l['iss'] === ehr.iss)).toHaveLength(0);
  });

  it('a service started as `npm start`: 400 for every client, the local one included', async () => {
    for (const client of [dev, ehr]) {
      const res = await call(started, client, 'POST', SERVICE_PATH, asked(fixture.expected.now));
      expect(res.status, client.iss).toBe(400);
      expect(refusal(res.json)).toBe('TNP_ERR_EVALUATION_TIME_REFUSED');
    }
  });

  it('a time that is not an ISO 8601 date-time with a zone: 400 naming the element', async () => {
    for (const bad of ['2026-03-06T15:20:00', '2026-02-30T10:00:00Z', 'yesterday', 1772810400000, null, { at: 'x' }]) {
      const res = await call(devApp, dev, 'POST', SERVICE_PATH, asked(bad));
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(refusal(res.json)).toBe('TNP_ERR_EVALUATION_TIME_REFUSED');
      expect(JSON.stringify(res.json)).toContain('hs-troponin-cds-dev');
    }
  });
});
