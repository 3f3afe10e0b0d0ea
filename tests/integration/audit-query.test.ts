/**
 * `GET /audit?patient=&limit=` for its readers (safety officer, auditor). A query without `patient` was
 * answered TNP_ERR_REQUEST_INVALID with a how-to-fix about CDS Hooks fields (hook, hookInstance, ...),
 * and `limit=0` was read as 1 (and a limit over the store's 10 000 as 10 000) without a word. Now a bad
 * query is 400 TNP_ERR_AUDIT_QUERY_INVALID naming the parameter, and its how-to-fix says what the audit
 * query takes. Against the real app over real sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, call, harnessFor, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp, type WireJson } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { fixtureCase } from '../support/fixture-case.js';

const f = fixtureCase('below-url-rise-above-url-consistent');
const CODE_SYSTEM = 'http://hs-troponin-cds.example/fhir/CodeSystem/error';

describe('GET /audit: the query is checked, and a bad one is explained for an auditor', () => {
  const harness = harnessFor('sqlite');
  const now = (): Date => new Date(f.now);
  let ehr: CdsTestClient;
  let app: RunningApp;

  beforeAll(async () => {
    ehr = await createCdsClient({ iss: 'https://ehr.hospital.example', alg: 'ES384', now });
    app = await startApp({ storage: harness.fresh(), clients: [ehr], now });
    for (let i = 0; i < 2; i++) {
      const res = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), prefetch: { observations: searchset(f.observations) } });
      expect(res.status, res.text).toBe(200);
    }
  });
  afterAll(async () => {
    await app?.close();
    await harness.cleanup();
  });

  const refused = (res: { status: number; json: WireJson }, param: string): { text: string; fix: string } => {
    expect(res.status).toBe(400);
    const issue = res.json.issue[0];
    expect(issue.details.coding[0]).toEqual({ system: CODE_SYSTEM, code: 'TNP_ERR_AUDIT_QUERY_INVALID' });
    expect(issue.expression).toEqual([param]);
    const fix = issue.diagnostics as string;
    // The how-to-fix is about the audit query, not a CDS call's body.
    expect(fix).toMatch(/GET \/audit takes patient/);
    expect(fix).toMatch(/limit/);
    expect(fix).toMatch(/1 to 10000/);
    expect(fix).not.toMatch(/hookInstance|CDS Hooks/);
    return { text: issue.details.text as string, fix };
  };

  it('without patient: 400 saying patient is required, with how to query the audit trail', async () => {
    const { text } = refused(await admin(app, '/audit'), 'patient');
    expect(text).toMatch(/patient is required/);
    expect(text).not.toMatch(/querystring/);
    refused(await admin(app, '/audit?patient='), 'patient');
    expect(refused(await admin(app, '/audit?patient=not%20an%20id'), 'patient').text).toMatch(/FHIR id/);
  });

  it('a limit out of 1 to 10000, or not a whole number, is 400 naming the range, never read as another limit', async () => {
    for (const limit of ['0', '10001', '99999', '-1', '1.5', 'ten', '']) {
      const { text } = refused(await admin(app, `/audit?patient=${f.patientId}&limit=${encodeURIComponent(limit)}`), 'limit');
      expect(text, limit).toMatch(/limit must be a whole number from 1 to 10000/);
    }
  });

  it('a parameter given twice, or one the query does not take, is 400 naming it', async () => {
    refused(await admin(app, `/audit?patient=${f.patientId}&patient=another`), 'patient');
    refused(await admin(app, `/audit?patient=${f.patientId}&limit=1&limit=2`), 'limit');
    expect(refused(await admin(app, `/audit?patient=${f.patientId}&limt=1`), 'limt').text).toMatch(/unknown parameter "limt"/);
  });

  it('limits in range are honoured: 1, 10000 and the default (100)', async () => {
    const one = await admin(app, `/audit?patient=${f.patientId}&limit=1`);
    expect(one.status).toBe(200);
    expect(one.json.records).toHaveLength(1);
    expect((await admin(app, `/audit?patient=${f.patientId}&limit=10000`)).json.records).toHaveLength(2);
    const all = await admin(app, `/audit?patient=${f.patientId}`);
    expect(all.json).toMatchObject({ patient: f.patientId });
    expect(all.json.records).toHaveLength(2);
  });

  it('without an admin token the answer is still 401 with no detail, whatever the query', async () => {
    const res = await admin(app, '/audit?limit=0', null);
    expect(res.status).toBe(401);
    expect(JSON.stringify(res.json)).not.toMatch(/patient|limit/);
  });
});
