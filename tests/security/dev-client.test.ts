/**
 * I-01: the local development client (`npx hs-troponin-cds dev`) is trusted from this machine only.
 * Its tokens are refused (401, no detail) from any other address, and from loopback when the request
 * came through a proxy (a forwarding header), whatever `trustedProxies` says; every other client is
 * untouched. Against the real app: inject with the peer address, and real sockets on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_CLIENT_ISS, isLoopbackAddress, isLocalPeer } from '../../src/dev/local-peer.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { DISCOVERY_PATH, FEEDBACK_PATH, PUBLIC_BASE_URL, SERVICE_PATH, ehrClient, hookBody, searchset, startApp, type RunningApp } from '../support/cds-app.js';

let dev: CdsTestClient;
let ehr: CdsTestClient;
let app: RunningApp;
let proxied: RunningApp;

beforeAll(async () => {
  dev = await createCdsClient({ iss: DEV_CLIENT_ISS, alg: 'ES384' });
  ehr = await ehrClient('ES384');
  app = await startApp({ clients: [dev, ehr], settings: { logLevel: 'info' } });
  proxied = await startApp({ clients: [dev, ehr], settings: { trustedProxies: ['127.0.0.1', '::1'] } });
});
afterAll(async () => {
  await app.close();
  await proxied.close();
});

const body = (): Record<string, unknown> => hookBody('p-dev', { prefetch: { observations: searchset([]) } });

async function injectAs(a: RunningApp, client: CdsTestClient, remoteAddress: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  const token = await client.sign({ aud: `${PUBLIC_BASE_URL}${path}` });
  const res = await a.app.inject({
    method: path === DISCOVERY_PATH ? 'GET' : 'POST',
    url: path,
    remoteAddress,
    headers: { authorization: `Bearer ${token}`, ...headers },
    ...(path === DISCOVERY_PATH ? {} : { payload: path === FEEDBACK_PATH ? { feedback: [] } : body() }),
  });
  if (res.statusCode === 401) expect(res.json()).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', details: { text: 'Unauthorized' } }] });
  return res.statusCode;
}

describe('I-01 the local development client is trusted on loopback only', () => {
  it('loopback addresses, and nothing else', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['10.0.0.1', '192.168.1.20', '::ffff:10.0.0.1', 'fe80::1', '1::', '::10', '128.0.0.1', '0.0.0.0', '::', 'localhost', '', undefined]) expect(isLoopbackAddress(a), String(a)).toBe(false);
    expect(isLocalPeer({ address: '127.0.0.1', forwarded: false })).toBe(true);
    expect(isLocalPeer({ address: '127.0.0.1', forwarded: true })).toBe(false);
    expect(isLocalPeer(undefined)).toBe(false);
  });

  it('its tokens are accepted from loopback (discovery, service) and refused 401 from any other address; another client is served from anywhere', async () => {
    for (const path of [DISCOVERY_PATH, SERVICE_PATH]) {
      for (const local of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) expect(await injectAs(app, dev, local, path), `${path} from ${local}`).toBe(200);
      for (const remote of ['10.1.2.3', '192.0.2.7', '::ffff:192.0.2.7', '2001:db8::5']) expect(await injectAs(app, dev, remote, path), `${path} from ${remote}`).toBe(401);
      expect(await injectAs(app, ehr, '192.0.2.7', path)).toBe(200);
    }
    // Feedback too (an empty batch is 400 once authenticated: the refusal comes first).
    expect(await injectAs(app, dev, '192.0.2.7', FEEDBACK_PATH)).toBe(401);
    const refusals = app.logs.filter((l) => l['event'] === 'jwt-refused' && String(l['reason']).includes('loopback'));
    expect(refusals.length).toBeGreaterThanOrEqual(9);
  });

  it('from loopback through a proxy (a forwarding header) it is refused, even with the proxy trusted and a loopback client named', async () => {
    for (const a of [app, proxied]) {
      const via: Record<string, string>[] = [{ 'x-forwarded-for': '127.0.0.1' }, { 'x-forwarded-for': '203.0.113.9' }, { forwarded: 'for=127.0.0.1' }, { 'x-real-ip': '127.0.0.1' }];
      for (const h of via) {
        expect(await injectAs(a, dev, '127.0.0.1', SERVICE_PATH, h), JSON.stringify(h)).toBe(401);
      }
      // The EHR behind the same proxy is served.
      expect(await injectAs(a, ehr, '127.0.0.1', SERVICE_PATH, { 'x-forwarded-for': '203.0.113.9' })).toBe(200);
    }
  });

  it('over a real socket on 127.0.0.1: a card for the local client', async () => {
    const token = await dev.sign({ aud: `${PUBLIC_BASE_URL}${SERVICE_PATH}` });
    const res = await fetch(`${app.url}${SERVICE_PATH}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body()) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { cards: unknown[] }).cards).toHaveLength(1);
  });
});
