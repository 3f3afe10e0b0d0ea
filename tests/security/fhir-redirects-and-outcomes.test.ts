/**
 * S-15 (SSRF through `fhirServer`), continued: a listed FHIR server that answers with a redirect is never
 * followed (its target receives no connection and its data are never used), and the 412 the EHR gets
 * says in general terms what could not be had, never what the far side answered: a closed port, a 500,
 * a redirect and a server that never answers give byte-identical bodies. The service log and the audit
 * record keep the detail.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { admin, call, EHR_ISS, hookBody, PUBLIC_BASE_URL, searchset, SERVICE_PATH, startApp, type RunningApp, type WireJson } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { startFhirServer, type TestFhirServer } from '../support/fhir-server.js';
import { closedPort, neverAnswer, sendJson, startLoopbackServer, type LoopbackServer } from '../support/loopback-server.js';
import { manualTimers, type ManualTimers } from '../support/manual-timers.js';

const NOW = '2026-04-17T13:20:00Z';
const now = (): Date => new Date(NOW);
const TOKEN = 'fhir-access-token-redirect-91ce-secret';
const PATIENT = 'p-redirect';

/** The redirect target: a real FHIR server holding data for the patient, and counting connections. */
let target: TestFhirServer;
let redirecting: LoopbackServer;
let failing: LoopbackServer;
let silent: LoopbackServer;
let closed: number;
let ehr: CdsTestClient;
let timers: ManualTimers;
let app: RunningApp;

function troponin(id: string, minutesAgo: number, value: number): Observation {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    subject: { reference: `Patient/${PATIENT}` },
    code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] },
    effectiveDateTime: new Date(Date.parse(NOW) - minutesAgo * 60_000).toISOString(),
    valueQuantity: { value, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
  };
}

beforeAll(async () => {
  ehr = await createCdsClient({ iss: EHR_ISS, alg: 'ES384', now });
  target = await startFhirServer();
  const patient: Patient = { resourceType: 'Patient', id: PATIENT };
  await target.seed([patient, troponin('t0', 240, 30), troponin('t3', 60, 90)]);
  redirecting = await startLoopbackServer((req, res) => {
    const url = req.url ?? '';
    const location = url.includes('same-origin') ? `http://127.0.0.1:${redirecting.port}/fhir/Observation?moved=1` : `${target.baseUrl}${url.replace(/^\/fhir/, '')}`;
    res.writeHead(url.includes('permanent') ? 308 : 302, { location });
    res.end();
  });
  failing = await startLoopbackServer((_req, res) => sendJson(res, 500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', details: { text: 'pool exhausted on db-internal-7 (password hunter2)' } }] }));
  silent = await startLoopbackServer(neverAnswer);
  closed = await closedPort();
  timers = manualTimers();
  app = await startApp({
    clients: [ehr],
    now,
    timers,
    fhirServers: [`${redirecting.origin}/fhir`, `${failing.origin}/fhir`, `${silent.origin}/fhir`, `http://127.0.0.1:${closed}/fhir`],
  });
});

afterAll(async () => {
  await app?.close();
  await target?.close();
  await redirecting?.close();
  await failing?.close();
  await silent?.close();
});

function pull(fhirServer: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return hookBody(`pred-${randomUUID().slice(0, 8)}`, { fhirServer, fhirAuthorization: { access_token: TOKEN, token_type: 'Bearer' }, ...extra });
}

async function failureRecord(body: Record<string, unknown>): Promise<WireJson> {
  const patientId = (body['context'] as { patientId: string }).patientId;
  const list = await admin(app, `/audit?patient=${patientId}`);
  expect(list.json.records).toHaveLength(1);
  expect(list.json.records[0].kind).toBe('evaluation-failure');
  return list.json.records[0];
}

describe('S-15: redirects from the FHIR server are never followed', () => {
  it('a 302 to another server: 412, the target gets no connection and its data are not used', async () => {
    const before = target.connections;
    const body = pull(`${redirecting.origin}/fhir`);
    const res = await call(app, ehr, 'POST', SERVICE_PATH, body);
    expect(res.status, res.text).toBe(412);
    expect(res.json.cards).toBeUndefined();
    expect(target.connections - before).toBe(0);
    expect(target.requests).toHaveLength(0);
    const rec = await failureRecord(body);
    expect(rec.body.error.cause.message).toMatch(/HTTP 302.*redirect.*not followed/);
  });

  it('a 308, and a redirect on the same origin, are refused the same way', async () => {
    for (const path of ['/fhir/permanent', '/fhir/same-origin']) {
      redirecting.requests.length = 0;
      const res = await call(app, ehr, 'POST', SERVICE_PATH, pull(`${redirecting.origin}${path}`));
      expect(res.status, res.text).toBe(412);
      // Only the first request: the Location was not requested.
      expect(redirecting.requests).toHaveLength(1);
    }
    expect(target.requests).toHaveLength(0);
  });

  it('a redirect on a next page of a prefetch Bundle: 412, not followed', async () => {
    const before = target.connections;
    const res = await call(app, ehr, 'POST', SERVICE_PATH, pull(`${redirecting.origin}/fhir`, { prefetch: { observations: searchset([], `${redirecting.origin}/fhir/Observation?_offset=1`) } }));
    expect(res.status, res.text).toBe(412);
    expect(target.connections - before).toBe(0);
  });
});

describe('S-15: the 412 does not say what the far side answered', () => {
  it('a closed port, a 500, a redirect and a timeout give identical bodies; the audit record and the log keep the detail', async () => {
    const bodies: string[] = [];
    const details: string[] = [];
    const servers = [`http://127.0.0.1:${closed}/fhir`, `${failing.origin}/fhir`, `${redirecting.origin}/fhir`, `${silent.origin}/fhir`];
    for (const server of servers) {
      const body = pull(server);
      const answer = call(app, ehr, 'POST', SERVICE_PATH, body);
      if (server.startsWith(silent.origin)) {
        // fhirPullTimeoutMs "passes" once the request is in flight: no real time is waited for.
        await silent.until(() => silent.requests.length === 1);
        timers.fireAll();
      }
      const res = await answer;
      expect(res.status, res.text).toBe(412);
      bodies.push(res.text);
      const rec = await failureRecord(body);
      expect(rec.body.error.code).toBe(res.json.issue[0].details.coding[0].code);
      details.push(`${String(rec.body.error.cause.code)} ${String(rec.body.error.cause.message)}`);
    }
    expect(new Set(bodies).size, bodies.join('\n')).toBe(1);
    const outcome: WireJson = JSON.parse(bodies[0]!);
    expect(outcome.issue[0].details.coding[0].code).toBe('TNP_ERR_FHIR_UNAVAILABLE');
    expect(outcome.issue[0].details.text).toMatch(/FHIR server could not be queried/);
    for (const leak of ['500', '302', 'ECONNREFUSED', 'hunter2', 'db-internal', 'redirect', 'within', ' ms', String(closed), String(failing.port), 'did not answer']) {
      expect(bodies[0], leak).not.toContain(leak);
    }
    // The detail is kept where the site looks: the audit record...
    expect(details[0]).toMatch(/could not be reached.*ECONNREFUSED/);
    expect(details[1]).toMatch(/HTTP 500.*pool exhausted/);
    expect(details[2]).toMatch(/HTTP 302/);
    expect(details[3]).toMatch(/^TNP_ERR_FHIR_TIMEOUT .*did not answer/);
    // ...and the log line of each 412.
    const logged = app.logs.filter((l) => l['event'] === 'data-unavailable').map((l) => JSON.stringify(l));
    expect(logged.some((l) => l.includes('ECONNREFUSED'))).toBe(true);
    expect(logged.some((l) => l.includes('HTTP 500'))).toBe(true);
    expect(logged.some((l) => l.includes('TNP_ERR_FHIR_TIMEOUT'))).toBe(true);
    expect(app.logText()).not.toContain(TOKEN);
  });

  it('the same through fastify inject: one body whatever failed', async () => {
    const texts = new Set<string>();
    for (const server of [`http://127.0.0.1:${closed}/fhir`, `${failing.origin}/fhir`]) {
      const token = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${SERVICE_PATH}` });
      const res = await app.app.inject({ method: 'POST', url: SERVICE_PATH, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(pull(server)) });
      expect(res.statusCode).toBe(412);
      texts.add(res.body);
    }
    expect(texts.size).toBe(1);
  });
});
