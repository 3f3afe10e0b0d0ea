/**
 * Interoperability with the official CDS Hooks sandbox (https://sandbox.cds-hooks.org), which, like major
 * EHRs, always sends a `jku` header. A client configured with inline keys used to refuse every such token;
 * with inline keys nothing is fetched, so the header is ignored (logged at debug). A client configured
 * with a `jwksUrl` still needs `jku`, when sent, to be exactly that URL.
 *
 * The tokens are signed exactly the way the sandbox signs (src/retrieve-data-helpers/jwt-generator.js of
 * github.com/cds-hooks/sandbox): header `{ alg: ES384, typ: JWT, kid, jku }` in that order, payload
 * `{ iss, aud, exp: round(now + 300), iat: round(now), jti: uuid }`, with a key generated here and
 * configured inline under the sandbox's issuer and key id.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { call, DISCOVERY_PATH, FEEDBACK_PATH, hookBody, PUBLIC_BASE_URL, SERVICE_PATH, startApp, type RunningApp } from '../support/cds-app.js';

const SANDBOX_ISS = 'https://sandbox.cds-hooks.org';
const SANDBOX_ORIGIN = 'https://sandbox.cds-hooks.org';
const SANDBOX_KID = '44823f3d-0b01-4a6c-a80e-b9d3e8a7226f';
const SANDBOX_JKU = 'https://sandbox.cds-hooks.org/.well-known/jwks.json';

let privateKey: CryptoKey;
let publicJwk: JWK;

/** A token as the sandbox makes it: its header members in its order, its claims, its rounding. */
async function sandboxToken(audience: string, o: { jku?: string; nowMs?: number } = {}): Promise<string> {
  const nowMs = o.nowMs ?? Date.now();
  const payload = JSON.stringify({ iss: SANDBOX_ISS, aud: audience, exp: Math.round(nowMs / 1000 + 300), iat: Math.round(nowMs / 1000), jti: randomUUID() });
  const header = { alg: 'ES384', typ: 'JWT', kid: SANDBOX_KID, jku: o.jku ?? SANDBOX_JKU };
  return new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader(header).sign(privateKey);
}

/** A loopback JWKS host that counts what it is asked. */
let jwksHost: Server;
let jwksHits = 0;
let jwksHostUrl = '';

beforeAll(async () => {
  const pair = await generateKeyPair('ES384', { extractable: true });
  privateKey = pair.privateKey;
  // As the sandbox publishes its key (build/.well-known/jwks.json): kty, use, crv, kid, x, y, alg.
  publicJwk = { ...(await exportJWK(pair.publicKey)), use: 'sig', kid: SANDBOX_KID, alg: 'ES384' };
  jwksHost = createServer((_req, res) => {
    jwksHits += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((resolve) => jwksHost.listen(0, '127.0.0.1', resolve));
  jwksHostUrl = `http://127.0.0.1:${(jwksHost.address() as AddressInfo).port}/.well-known/jwks.json`;
});

afterAll(async () => {
  jwksHost.closeAllConnections();
  await new Promise<void>((resolve) => jwksHost.close(() => resolve()));
});

describe('the CDS Hooks sandbox, its key configured inline', () => {
  let app: RunningApp;

  beforeAll(async () => {
    app = await startApp({
      logLevel: 'debug',
      settings: { cdsClients: [{ iss: SANDBOX_ISS, jwks: { keys: [publicJwk] } }], corsOrigins: [SANDBOX_ORIGIN] },
    });
  });

  afterAll(async () => {
    await app?.close();
  });

  it('discovery, the service and feedback answer 200 to tokens signed as the sandbox signs them', async () => {
    const discovery = await call(app, null, 'GET', DISCOVERY_PATH, undefined, { token: await sandboxToken(`${PUBLIC_BASE_URL}${DISCOVERY_PATH}`), headers: { origin: SANDBOX_ORIGIN } });
    expect(discovery.status, discovery.text).toBe(200);
    expect(discovery.headers.get('access-control-allow-origin')).toBe(SANDBOX_ORIGIN);

    const service = await call(app, null, 'POST', SERVICE_PATH, hookBody('sandbox-patient', { prefetch: { observations: null } }), { token: await sandboxToken(`${PUBLIC_BASE_URL}${SERVICE_PATH}`), headers: { origin: SANDBOX_ORIGIN } });
    expect(service.status, service.text).toBe(200);
    const card = (service.json as { cards: { uuid: string }[] }).cards[0];
    expect(card).toBeDefined();

    const feedback = await call(app, null, 'POST', FEEDBACK_PATH, { feedback: [{ card: card?.uuid, outcome: 'overridden', outcomeTimestamp: '2026-01-15T10:00:00Z' }] }, { token: await sandboxToken(`${PUBLIC_BASE_URL}${FEEDBACK_PATH}`) });
    expect(feedback.status, feedback.text).toBe(200);
  });

  it('the browser preflight from the sandbox origin is allowed (corsOrigins)', async () => {
    const res = await fetch(`${app.url}${SERVICE_PATH}`, {
      method: 'OPTIONS',
      headers: { origin: SANDBOX_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(SANDBOX_ORIGIN);
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
  });

  it('a jku naming any other host is ignored too: nothing is fetched, and it is logged at debug', async () => {
    const before = jwksHits;
    const res = await call(app, null, 'GET', DISCOVERY_PATH, undefined, { token: await sandboxToken(`${PUBLIC_BASE_URL}${DISCOVERY_PATH}`, { jku: jwksHostUrl }) });
    expect(res.status).toBe(200);
    expect(jwksHits).toBe(before);
    const line = app.logs.find((l) => l['event'] === 'jwt-jku-ignored' && String(l['jku']).includes('127.0.0.1'));
    expect(line, 'a debug line for the ignored jku').toMatchObject({ level: 20, iss: SANDBOX_ISS });
  });

  it('inline keys still refuse a token of another key under the sandbox kid (the jku does not add trust)', async () => {
    const other = await generateKeyPair('ES384');
    const forged = await new CompactSign(new TextEncoder().encode(JSON.stringify({ iss: SANDBOX_ISS, aud: `${PUBLIC_BASE_URL}${DISCOVERY_PATH}`, exp: Math.round(Date.now() / 1000 + 300), iat: Math.round(Date.now() / 1000), jti: randomUUID() })))
      .setProtectedHeader({ alg: 'ES384', typ: 'JWT', kid: SANDBOX_KID, jku: jwksHostUrl })
      .sign(other.privateKey);
    const before = jwksHits;
    expect((await call(app, null, 'GET', DISCOVERY_PATH, undefined, { token: forged })).status).toBe(401);
    expect(jwksHits).toBe(before);
  });
});

describe('the sandbox configured by jwksUrl', () => {
  let app: RunningApp;

  beforeAll(async () => {
    app = await startApp({ settings: { cdsClients: [{ iss: SANDBOX_ISS, jwksUrl: jwksHostUrl }] } });
  });

  afterAll(async () => {
    await app?.close();
  });

  it('a jku equal to the configured jwksUrl is accepted; any other jku is refused and never fetched', async () => {
    const good = await call(app, null, 'GET', DISCOVERY_PATH, undefined, { token: await sandboxToken(`${PUBLIC_BASE_URL}${DISCOVERY_PATH}`, { jku: jwksHostUrl }) });
    expect(good.status, good.text).toBe(200);
    const hits = jwksHits;
    const other = await call(app, null, 'GET', DISCOVERY_PATH, undefined, { token: await sandboxToken(`${PUBLIC_BASE_URL}${DISCOVERY_PATH}`, { jku: SANDBOX_JKU }) });
    expect(other.status).toBe(401);
    expect(jwksHits).toBe(hits);
  });
});
