/**
 * S-15 (SSRF through `fhirServer`): a CDS client may only make the service fetch from the FHIR server
 * bases listed for it (`cdsClients[].fhirServers`). Anything else, in whatever spelling, is answered 412
 * without a single TCP connection, and audited. Real app, real sockets: the "internal" service is a
 * loopback server that counts every connection made to it, on IPv4 and IPv6.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/settings.js';
import { admin, call, EHR_ISS, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp, type WireJson } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { sendJson, startLoopbackServer, type LoopbackServer } from '../support/loopback-server.js';
import { manualTimers } from '../support/manual-timers.js';

const NOW = '2026-04-17T13:20:00Z';
const now = (): Date => new Date(NOW);
const TOKEN = 'fhir-access-token-ssrf-3b1d-secret';
const LISTED_ELSEWHERE = 'https://ehr.hospital.example/fhir';

const emptySearchset = { resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] };

let ehr: CdsTestClient;
/** The "internal service": every loopback spelling of its port reaches it, and every connection is counted. */
let internal: LoopbackServer;

beforeAll(async () => {
  ehr = await createCdsClient({ iss: EHR_ISS, alg: 'ES384', now });
  internal = await startLoopbackServer((_req, res) => sendJson(res, 200, emptySearchset), { dualStack: true });
});

afterAll(async () => {
  await internal?.close();
});

function pullBody(fhirServer: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return hookBody(`pssrf-${randomUUID().slice(0, 8)}`, { fhirServer, fhirAuthorization: { access_token: TOKEN, token_type: 'Bearer' }, ...extra });
}

/** Calls, expects a 412 refusal of the fhirServer, and checks the failure was audited. */
async function expectRefused(app: RunningApp, body: Record<string, unknown>): Promise<WireJson> {
  const res = await call(app, ehr, 'POST', SERVICE_PATH, body);
  expect(res.status, `${String(body['fhirServer'])}: ${res.text}`).toBe(412);
  expect(res.json.issue[0].details.coding[0].code).toBe('TNP_ERR_FHIR_SERVER_NOT_ALLOWED');
  expect(res.json.issue[0].expression).toEqual(['fhirServer']);
  expect(res.text).not.toContain(TOKEN);
  const patientId = (body['context'] as { patientId: string }).patientId;
  const list = await admin(app, `/audit?patient=${patientId}`);
  expect(list.json.records).toHaveLength(1);
  expect(list.json.records[0]).toMatchObject({ kind: 'evaluation-failure', body: { error: { code: 'TNP_ERR_FHIR_SERVER_NOT_ALLOWED', status: 412 } } });
  return res.json;
}

describe('S-15: fhirServer must be a base listed for the calling client', () => {
  it('loopback in every spelling is refused with 412 and never connected to, when not listed', async () => {
    const app = await startApp({ clients: [ehr], now, fhirServers: [LISTED_ELSEWHERE], timers: manualTimers() });
    try {
      const p = internal.port;
      const spellings = [
        `http://127.0.0.1:${p}/fhir`,
        `http://127.1:${p}/fhir`,
        `http://0x7f.1:${p}/fhir`,
        `http://0x7f000001:${p}/fhir`,
        `http://2130706433:${p}/fhir`,
        `http://0177.0.0.1:${p}/fhir`,
        `http://127.0.0.1.:${p}/fhir`,
        `http://[::1]:${p}/fhir`,
        `http://[0:0:0:0:0:0:0:1]:${p}/fhir`,
        `http://[::ffff:127.0.0.1]:${p}/fhir`,
        `http://localhost:${p}/fhir`,
        `http://localhost.:${p}/fhir`,
        `http://LOCALHOST:${p}/fhir`,
        `http://127.0.0.1:${p}/`,
      ];
      for (const s of spellings) await expectRefused(app, pullBody(s));
      expect(internal.connections).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('only the listed base and paths under it on segment boundaries: look-alike paths, schemes, ports, credentials and encodings are refused without a connection', async () => {
    const p = internal.port;
    const app = await startApp({ clients: [ehr], now, fhirServers: [`http://127.0.0.1:${p}/fhir`], timers: manualTimers() });
    try {
      const before = internal.connections;
      const tricks = [
        `http://127.0.0.1:${p}/fhir-evil`,
        `http://127.0.0.1:${p}/fhirx/Observation`,
        `http://127.0.0.1:${p}/fhir/../admin`,
        `http://127.0.0.1:${p}/fhir/%2e%2e/admin`,
        `http://127.0.0.1:${p}/fhir/.%2E/admin`,
        `http://127.0.0.1:${p}/fhir/..%2fadmin`,
        `http://127.0.0.1:${p}/fhir/%2E%2E%2Fadmin`,
        `http://127.0.0.1:${p}/fhir/%252e%252e/admin`,
        `http://127.0.0.1:${p}/fhir\\..\\admin`,
        `http://127.0.0.1:${p}\\@127.0.0.1:${p}/fhir`,
        `http://127.0.0.1:${p}/FHIR`,
        `http://127.0.0.1:${p}/`,
        `https://127.0.0.1:${p}/fhir`,
        `http://127.0.0.1:${p + 1 === 65536 ? p - 1 : p + 1}/fhir`,
        `http://user:secret@127.0.0.1:${p}/fhir`,
        `http://127.0.0.1:${p}@127.0.0.2:${p}/fhir`,
        `http://[::1]:${p}/fhir`,
        `http://localhost:${p}/fhir`,
      ];
      for (const s of tricks) {
        const refusal = await expectRefused(app, pullBody(s));
        // The answer never echoes credentials.
        expect(JSON.stringify(refusal)).not.toContain('secret@');
      }
      expect(internal.connections - before).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('a listed base matches itself however it is spelled, and paths under it; the requests go to the listed base', async () => {
    const p = internal.port;
    const app = await startApp({ clients: [ehr], now, fhirServers: [`http://127.0.0.1:${p}/fhir`, `http://localhost:${p}/base/`], timers: manualTimers() });
    try {
      const cases: [string, string][] = [
        [`http://127.0.0.1:${p}/fhir`, '/fhir/Observation?'],
        [`http://127.0.0.1:${p}/fhir/`, '/fhir/Observation?'],
        [`HTTP://127.1:${p}/fhir`, '/fhir/Observation?'],
        [`http://0x7f.0.0.1:${p}/fhir/tenant-a`, '/fhir/tenant-a/Observation?'],
        [`http://127.0.0.1:${p}/fhir/x/../tenant-b/`, '/fhir/tenant-b/Observation?'],
        [`http://LOCALHOST.:${p}/base`, '/base/Observation?'],
      ];
      for (const [spelled, path] of cases) {
        internal.requests.length = 0;
        const res = await call(app, ehr, 'POST', SERVICE_PATH, pullBody(spelled));
        expect(res.status, `${spelled}: ${res.text}`).toBe(200);
        expect(internal.requests).toHaveLength(1);
        expect(internal.requests[0]!.url.startsWith(path), `${spelled} -> ${internal.requests[0]!.url}`).toBe(true);
        expect(internal.requests[0]!.authorization).toBe(`Bearer ${TOKEN}`);
      }
    } finally {
      await app.close();
    }
  });

  it('a client with no fhirServers gets no FHIR pull at all (412, no connection); a complete prefetch needs none', async () => {
    const app = await startApp({ clients: [ehr], now, timers: manualTimers() });
    try {
      const before = internal.connections;
      await expectRefused(app, pullBody(`http://127.0.0.1:${internal.port}/fhir`));
      // A paged prefetch would need the server too: refused the same way.
      await expectRefused(app, pullBody(`http://127.0.0.1:${internal.port}/fhir`, { prefetch: { observations: searchset([], `http://127.0.0.1:${internal.port}/fhir/Observation?_offset=1`) } }));
      expect(internal.connections - before).toBe(0);
      const complete = await call(app, ehr, 'POST', SERVICE_PATH, pullBody(`http://127.0.0.1:${internal.port}/fhir`, { prefetch: { observations: searchset([]) } }));
      expect(complete.status).toBe(200);
      expect(internal.connections - before).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('a next-page link on the same origin but outside the listed base is not followed', async () => {
    const paging = await startLoopbackServer((req, res) => {
      if ((req.url ?? '').startsWith('/fhir/Observation')) {
        sendJson(res, 200, { ...emptySearchset, link: [{ relation: 'next', url: `http://127.0.0.1:${paging.port}/admin/export?page=2` }] });
      } else sendJson(res, 200, emptySearchset);
    });
    const app = await startApp({ clients: [ehr], now, fhirServers: [`${paging.origin}/fhir`], timers: manualTimers() });
    try {
      const res = await call(app, ehr, 'POST', SERVICE_PATH, pullBody(`${paging.origin}/fhir`));
      expect(res.status, res.text).toBe(412);
      expect(paging.requests.map((r) => r.url.split('?')[0])).toEqual(['/fhir/Observation']);
      // The prefetch's own next link is held to the same rule.
      paging.requests.length = 0;
      const pre = await call(app, ehr, 'POST', SERVICE_PATH, pullBody(`${paging.origin}/fhir`, { prefetch: { observations: searchset([], `${paging.origin}/admin/export?page=2`) } }));
      expect(pre.status, pre.text).toBe(412);
      expect(paging.requests).toHaveLength(0);
    } finally {
      await app.close();
      await paging.close();
    }
  });
});

describe('S-15: the console page for a tester', () => {
  it('the console page shows a tester how to allow a test FHIR server', async () => {
    const app = await startApp({ clients: [ehr], now });
    try {
      const page = await app.app.inject({ method: 'GET', url: '/console' });
      expect(page.statusCode).toBe(200);
      expect(page.body).toContain('TNP_ERR_FHIR_SERVER_NOT_ALLOWED');
      expect(page.body).toMatch(/"fhirServers": \["http:\/\/127\.0\.0\.1:\d+\/fhir"\]/);
    } finally {
      await app.close();
    }
  });
});

describe('S-15: cdsClients[].fhirServers in the settings', () => {
  const client = { iss: 'https://ehr.example', jwks: { keys: [] } };
  const withServers = (fhirServers: unknown): unknown => ({ cdsClients: [{ ...client, fhirServers }] });

  it('accepts http(s) bases and keeps them as written', () => {
    const s = loadSettings({ object: withServers(['https://ehr.example/fhir', 'http://127.0.0.1:8081/fhir/']) });
    expect(s.cdsClients[0]?.fhirServers).toEqual(['https://ehr.example/fhir', 'http://127.0.0.1:8081/fhir/']);
    expect(loadSettings({ object: { cdsClients: [client] } }).cdsClients[0]?.fhirServers).toBeUndefined();
  });

  it.each([
    ['a query', 'https://ehr.example/fhir?tenant=1'],
    ['a fragment', 'https://ehr.example/fhir#x'],
    ['credentials', 'https://user:pass@ehr.example/fhir'],
    ['another scheme', 'ftp://ehr.example/fhir'],
    ['a backslash', 'https://ehr.example\\fhir'],
    ['a percent-encoded dot segment', 'https://ehr.example/fhir/%2e%2e/admin'],
    ['a percent-encoded slash', 'https://ehr.example/fhir%2Fadmin'],
    ['not a URL', 'https://'],
  ])('refuses a base with %s, naming the key', (_what, base) => {
    expect(() => loadSettings({ object: withServers(['https://ok.example/fhir', base]) })).toThrow(/cdsClients\[0\]\.fhirServers\[1\]/);
  });
});
