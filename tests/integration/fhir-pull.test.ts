/**
 * The FHIR pull over real HTTP against a real in-memory FHIR R4 server (medplum fhir-router).
 *
 * No test here waits on the real clock: the pull's time bound runs on timers the test fires
 * (tests/support/manual-timers.ts), and waits are on the server's own events.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { pullPathwayData, type PullRequest } from '../../src/fhir/pull.js';
import { FHIR_LIMITS } from '../../src/fhir/session.js';
import { TnpError, toOperationOutcome } from '../../src/errors.js';
import { startFhirServer, type TestFhirServer } from '../support/fhir-server.js';
import { closedPort, sendJson, startLoopbackServer } from '../support/loopback-server.js';
import { manualTimers } from '../support/manual-timers.js';

const TOKEN = 'tok-9f1c2e7d-secret';
const LOINC = 'http://loinc.org';
const HS_TNI = '89579-7';
const HS_TNT = '67151-1';
const CODES = [
  { system: LOINC, code: HS_TNI },
  { system: LOINC, code: HS_TNT },
];

function observation(id: string, patient: string, code: string, minutes: number): Observation {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    subject: { reference: `Patient/${patient}` },
    code: { coding: [{ system: LOINC, code }] },
    effectiveDateTime: new Date(Date.UTC(2026, 0, 15, 9, minutes)).toISOString(),
    valueQuantity: { value: 4 + minutes, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
  };
}

const patient: Patient = { resourceType: 'Patient', id: 'p1', gender: 'female', birthDate: '1961-04-02' };
const matching = Array.from({ length: 7 }, (_, i) => observation(`obs-${i}`, 'p1', i % 2 === 0 ? HS_TNI : HS_TNT, i * 30));
const others = [observation('other-patient', 'p2', HS_TNI, 0), observation('other-code', 'p1', '8867-4', 0), observation('other-code-2', 'p1', '2160-0', 5)];

let ehr: TestFhirServer;
let foreign: TestFhirServer;

beforeAll(async () => {
  ehr = await startFhirServer({ bearerToken: TOKEN });
  foreign = await startFhirServer();
  await ehr.seed([patient, { resourceType: 'Patient', id: 'p2' }, ...matching, ...others]);
  await ehr.seed([{ resourceType: 'Patient', id: 'p-many' }, ...Array.from({ length: FHIR_LIMITS.maxPages + 1 }, (_, i) => observation(`many-${i}`, 'p-many', HS_TNT, i % 60))]);
  await foreign.seed([patient, ...matching]);
});

afterAll(async () => {
  await ehr.close();
  await foreign.close();
});

beforeEach(() => {
  ehr.setFaults({});
  ehr.requests.length = 0;
  foreign.requests.length = 0;
});

/** A pull from `ehr`; its time bound never fires unless the test fires `timers`. */
function pullReq(over: Partial<PullRequest> = {}): PullRequest {
  return { fhirServer: ehr.baseUrl, allowedServers: [ehr.baseUrl, foreign.baseUrl], accessToken: TOKEN, patientId: 'p1', observationCodes: CODES, includePatient: true, timeoutMs: 3000, timers: manualTimers(), ...over };
}

async function pullError(req: PullRequest): Promise<TnpError> {
  const e: unknown = await pullPathwayData(req).then(
    () => new Error('the pull succeeded'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TnpError);
  const err = e as TnpError;
  expect(err.status).toBe(412);
  // The access token is never in an error, nor in the OperationOutcome made from it.
  expect(err.message).not.toContain(TOKEN);
  expect(JSON.stringify(toOperationOutcome(err))).not.toContain(TOKEN);
  return err;
}

function ids(resources: unknown[]): string[] {
  return resources.map((r) => `${(r as { resourceType: string }).resourceType}/${(r as { id: string }).id}`).sort();
}

describe('pullPathwayData', () => {
  it('gathers every Observation across several pages, plus the Patient, sending the token on every request', async () => {
    ehr.setFaults({ pageSize: 3 });
    const { resources, requests } = await pullPathwayData(pullReq());
    expect(ids(resources)).toEqual([...matching.map((o) => `Observation/${o.id}`), 'Patient/p1'].sort());
    // 3 pages of Observations (3 + 3 + 1) and one Patient read.
    expect(requests).toBe(4);
    expect(ehr.requests).toHaveLength(4);
    expect(ehr.requests.map((r) => r.authorization)).toEqual(Array(4).fill(`Bearer ${TOKEN}`));
    const searches = ehr.requests.filter((r) => r.url.startsWith('/fhir/Observation'));
    expect(searches).toHaveLength(3);
    const first = new URL(searches[0]!.url, ehr.origin).searchParams;
    expect(first.get('patient')).toBe('p1');
    expect(first.get('code')).toBe(`${LOINC}|${HS_TNI},${LOINC}|${HS_TNT}`);
    expect(first.get('_count')).toBe('100');
    expect(ehr.requests.filter((r) => r.url === '/fhir/Patient/p1')).toHaveLength(1);
  });

  it('needs one request when the search fits in one page and the Patient is not needed', async () => {
    const { resources, requests } = await pullPathwayData(pullReq({ includePatient: false }));
    expect(ids(resources)).toEqual(matching.map((o) => `Observation/${o.id}`).sort());
    expect(requests).toBe(1);
    expect(ehr.requests).toHaveLength(1);
  });

  it('follows relative next links on the same server', async () => {
    ehr.setFaults({ pageSize: 2, relativeNext: true });
    const { resources, requests } = await pullPathwayData(pullReq({ includePatient: false }));
    expect(resources).toHaveLength(7);
    expect(requests).toBe(4);
  });

  it('works with a fhirServer given with a trailing slash', async () => {
    const { resources } = await pullPathwayData(pullReq({ fhirServer: `${ehr.baseUrl}/` }));
    expect(resources).toHaveLength(8);
  });

  it('returns no resources when the patient has none', async () => {
    const { resources, requests } = await pullPathwayData(pullReq({ patientId: 'p2', observationCodes: [{ system: LOINC, code: HS_TNT }], includePatient: false }));
    expect(resources).toEqual([]);
    expect(requests).toBe(1);
  });

  it('sends no Authorization header when there is no access token', async () => {
    const { resources } = await pullPathwayData(pullReq({ fhirServer: foreign.baseUrl, accessToken: null }));
    expect(resources).toHaveLength(8);
    expect(foreign.requests.map((r) => r.authorization)).toEqual([undefined, undefined]);
  });

  it('maps 401 from the FHIR server to TNP_ERR_FHIR_UNAUTHORIZED', async () => {
    const e = await pullError(pullReq({ accessToken: 'expired-token' }));
    expect(e.code).toBe('TNP_ERR_FHIR_UNAUTHORIZED');
    expect(e.message).toMatch(/refused the access token \(HTTP 401\)/);
    expect(e.message).toContain(ehr.origin);
  });

  it('maps 403 from the FHIR server to TNP_ERR_FHIR_UNAUTHORIZED', async () => {
    ehr.setFaults({ fail: { status: 403, text: 'scope patient/Observation.read missing' } });
    const e = await pullError(pullReq());
    expect(e.code).toBe('TNP_ERR_FHIR_UNAUTHORIZED');
    expect(e.message).toMatch(/HTTP 403.*scope patient\/Observation\.read missing/);
  });

  it('maps 500 to TNP_ERR_FHIR_FAILED and surfaces the OperationOutcome text', async () => {
    ehr.setFaults({ fail: { status: 500, text: 'Database connection pool exhausted' } });
    const e = await pullError(pullReq({ includePatient: false }));
    expect(e.code).toBe('TNP_ERR_FHIR_FAILED');
    expect(e.message).toBe(`the FHIR server ${ehr.origin} answered HTTP 500 to the Observation search: Database connection pool exhausted`);
    expect(toOperationOutcome(e).issue[0]?.details?.text).toContain('Database connection pool exhausted');
  });

  it('names the Patient read when it fails (404 with its OperationOutcome)', async () => {
    const e = await pullError(pullReq({ patientId: 'nobody' }));
    expect(e.code).toBe('TNP_ERR_FHIR_FAILED');
    expect(e.message).toMatch(/answered HTTP 404 to the Patient read: Not found/);
  });

  it('maps a body that is not JSON to TNP_ERR_FHIR_FAILED', async () => {
    ehr.setFaults({ notJson: true });
    const e = await pullError(pullReq({ includePatient: false }));
    expect(e.code).toBe('TNP_ERR_FHIR_FAILED');
    expect(e.message).toMatch(/answered the Observation search with a body that is not JSON/);
  });

  it('maps an empty body to TNP_ERR_FHIR_FAILED', async () => {
    const srv = await startLoopbackServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.end();
    });
    try {
      const e = await pullError(pullReq({ fhirServer: srv.origin, allowedServers: [srv.origin], includePatient: false }));
      expect(e.code).toBe('TNP_ERR_FHIR_FAILED');
      expect(e.message).toBe(`the FHIR server ${srv.origin} answered the Observation search with an empty body, not a FHIR resource`);
    } finally {
      await srv.close();
    }
  });

  it('never reads a search the server says is not whole (an OperationOutcome entry with an error, or "incomplete"), on any page; a warning leaves it whole', async () => {
    const outcome = (severity: string, code: string): unknown => ({ search: { mode: 'outcome' }, resource: { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics: `results after 12:00 could not be retrieved (${severity} ${code})` }] } });
    const entries = matching.slice(0, 2).map((r) => ({ resource: r, search: { mode: 'match' } }));
    let pages: unknown[][] = [];
    const srv = await startLoopbackServer((req, res) => {
      const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? '1');
      const link = page < pages.length ? [{ relation: 'next', url: `${srv.origin}/Observation?page=${page + 1}` }] : [];
      sendJson(res, 200, { resourceType: 'Bundle', type: 'searchset', link, entry: pages[page - 1] ?? [] });
    });
    try {
      const req = pullReq({ fhirServer: srv.origin, allowedServers: [srv.origin], includePatient: false });
      for (const [severity, code] of [['error', 'processing'], ['fatal', 'exception'], ['warning', 'incomplete'], ['information', 'too-costly']] as const) {
        pages = [[...entries, outcome(severity, code)]];
        const e = await pullError(req);
        expect(e.code).toBe('TNP_ERR_FHIR_FAILED');
        expect(e.message).toContain(`OperationOutcome says the results are not whole (results after 12:00 could not be retrieved (${severity} ${code}))`);
        // On a later page too.
        pages = [entries, [outcome(severity, code)]];
        expect((await pullError(req)).message).toMatch(/\(page 2\) with a Bundle whose OperationOutcome says the results are not whole/);
      }
      pages = [[...entries, outcome('warning', 'not-supported')]];
      expect(ids((await pullPathwayData(req)).resources)).toEqual(['Observation/obs-0', 'Observation/obs-1']);
    } finally {
      await srv.close();
    }
  });

  it('maps an unreachable server to TNP_ERR_FHIR_FAILED', async () => {
    const port = await closedPort();
    const e = await pullError(pullReq({ fhirServer: `http://127.0.0.1:${port}/fhir`, allowedServers: [`http://127.0.0.1:${port}/fhir`] }));
    expect(e.code).toBe('TNP_ERR_FHIR_FAILED');
    expect(e.message).toMatch(/could not be reached for the (Observation search|Patient read) \(ECONNREFUSED\)/);
  });

  it('times out when the time bound fires, aborting the requests in flight', async () => {
    ehr.setFaults({ delayMs: 600_000 });
    const timers = manualTimers();
    const failing = pullError(pullReq({ timeoutMs: 300, timers }));
    await ehr.until(() => ehr.requests.length === 2);
    expect(timers.delays).toEqual([300]);
    expect(timers.fireAll()).toBe(1);
    const e = await failing;
    expect(e.code).toBe('TNP_ERR_FHIR_TIMEOUT');
    expect(e.message).toMatch(/did not answer .* within 300 ms/);
    // The server sees both requests go away (aborted), not left hanging until its delay ends.
    await ehr.until(() => ehr.requests.length === 2 && ehr.requests.every((r) => r.aborted));
  });

  it('times out on a later page, naming it', async () => {
    ehr.setFaults({ pageSize: 3, delayMs: 600_000, delayOnly: '_offset=' });
    const timers = manualTimers();
    const failing = pullError(pullReq({ includePatient: false, timeoutMs: 400, timers }));
    await ehr.until(() => ehr.requests.length === 2);
    timers.fireAll();
    const e = await failing;
    expect(e.code).toBe('TNP_ERR_FHIR_TIMEOUT');
    expect(e.message).toMatch(/did not answer the Observation search \(page 2\) within 400 ms/);
  });

  it('a pull that ends in time cancels its time bound', async () => {
    const timers = manualTimers();
    await pullPathwayData(pullReq({ timers }));
    expect(timers.delays).toEqual([3000]);
    expect(timers.pending).toBe(0);
  });

  it('refuses a next link to another origin and never sends the token there', async () => {
    ehr.setFaults({ pageSize: 2, nextOrigin: foreign.origin });
    const e = await pullError(pullReq());
    expect(e.code).toBe('TNP_ERR_FHIR_FOREIGN_LINK');
    expect(e.message).toContain(foreign.origin);
    expect(foreign.requests).toHaveLength(0);
    expect(ehr.requests.filter((r) => r.url.startsWith('/fhir/Observation'))).toHaveLength(1);
  });

  it('refuses a next link to the same host on another port (another origin)', async () => {
    const sameHost = ehr.origin.replace(/:\d+$/, `:${await closedPort()}`);
    ehr.setFaults({ pageSize: 2, nextOrigin: sameHost });
    const e = await pullError(pullReq({ includePatient: false }));
    expect(e.code).toBe('TNP_ERR_FHIR_FOREIGN_LINK');
  });

  it(`stops a search needing more than ${FHIR_LIMITS.maxPages} pages`, async () => {
    ehr.setFaults({ pageSize: 1 });
    const e = await pullError(pullReq({ patientId: 'p-many', includePatient: false }));
    expect(e.code).toBe('TNP_ERR_FHIR_LIMIT_EXCEEDED');
    expect(e.message).toMatch(new RegExp(`more than ${FHIR_LIMITS.maxPages} pages`));
    expect(ehr.requests).toHaveLength(FHIR_LIMITS.maxPages);
  });

  it('stops a paging loop (a next link that repeats)', async () => {
    ehr.setFaults({ pageSize: 2, loopNext: true });
    const e = await pullError(pullReq({ includePatient: false }));
    expect(e.code).toBe('TNP_ERR_FHIR_FAILED');
    expect(e.message).toMatch(/a next link repeats/);
    expect(ehr.requests).toHaveLength(2);
  });

  it('refuses a patient id that is not a FHIR id without sending anything', async () => {
    const e = await pullError(pullReq({ patientId: '../Patient?_count=1000' }));
    expect(e.code).toBe('TNP_ERR_FHIR_FAILED');
    expect(ehr.requests).toHaveLength(0);
  });

  it('refuses a fhirServer that is not an http(s) URL', async () => {
    expect((await pullError(pullReq({ fhirServer: 'not a url' }))).code).toBe('TNP_ERR_FHIR_SERVER_NOT_ALLOWED');
    expect((await pullError(pullReq({ fhirServer: 'file:///etc/passwd' }))).code).toBe('TNP_ERR_FHIR_SERVER_NOT_ALLOWED');
  });

  it('refuses a fhirServer the client may not name, before any connection', async () => {
    const before = ehr.connections;
    const e = await pullError(pullReq({ allowedServers: [foreign.baseUrl] }));
    expect(e.code).toBe('TNP_ERR_FHIR_SERVER_NOT_ALLOWED');
    expect((await pullError(pullReq({ allowedServers: [] }))).code).toBe('TNP_ERR_FHIR_SERVER_NOT_ALLOWED');
    expect(ehr.connections - before).toBe(0);
  });

  it('a resource sent twice, identical, is kept once; two versions of one resource are both kept', async () => {
    const v1 = observation('twice', 'p1', HS_TNT, 0);
    const v2 = { ...v1, meta: { versionId: '2' }, valueQuantity: { ...v1.valueQuantity, value: 99 } };
    const srv = await startLoopbackServer((req, res) => {
      const second = (req.url ?? '').includes('page=2');
      sendJson(res, 200, {
        resourceType: 'Bundle',
        type: 'searchset',
        link: second ? [] : [{ relation: 'next', url: 'Observation?page=2' }],
        entry: (second ? [v1, v2] : [v1]).map((resource) => ({ resource })),
      });
    });
    try {
      const { resources } = await pullPathwayData(pullReq({ fhirServer: srv.origin, allowedServers: [srv.origin], includePatient: false }));
      expect(resources).toEqual([v1, v2]);
    } finally {
      await srv.close();
    }
  });
});

describe('pullPathwayData: the link array of a page is bounded by the body size only', () => {
  // Normal: two links (self, next). 10x and 1,000x link entries cost a scan bounded by FHIR_LIMITS.maxBodyBytes.
  it.each([20, 2000])('%i links on a page: read, the next link found among them', async (n) => {
    const srv = await startLoopbackServer((req, res) => {
      const second = (req.url ?? '').includes('page=2');
      const links = Array.from({ length: n - 1 }, (_, i) => ({ relation: 'related', url: `Observation?other=${i}` }));
      sendJson(res, 200, {
        resourceType: 'Bundle',
        type: 'searchset',
        link: second ? links : [...links, { relation: 'next', url: 'Observation?page=2' }],
        entry: [{ resource: observation(second ? 'b' : 'a', 'p1', HS_TNT, second ? 30 : 0) }],
      });
    });
    try {
      const { resources, requests } = await pullPathwayData(pullReq({ fhirServer: srv.origin, allowedServers: [srv.origin], includePatient: false }));
      expect(ids(resources)).toEqual(['Observation/a', 'Observation/b']);
      expect(requests).toBe(2);
    } finally {
      await srv.close();
    }
  });
});
