/**
 * The JWT refusal matrix at the HTTP level (CDS Hooks 2.0 "Trusting CDS Clients" and its best practice):
 * every CDS endpoint refuses each bad token with 401 and the same body, which says nothing about why.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { call, DISCOVERY_PATH, EHR_ISS, FEEDBACK_PATH, hookBody, PUBLIC_BASE_URL, SERVICE_PATH, startApp, type RunningApp } from '../support/cds-app.js';

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

let app: RunningApp;
let ehr: CdsTestClient;
let impostor: CdsTestClient;
let stranger: CdsTestClient;
/** A client configured with a jwksUrl (never fetched here: the jku check comes first). */
let remoteEhr: CdsTestClient;
let unauthorizedBody = '';

beforeAll(async () => {
  ehr = await createCdsClient({ iss: EHR_ISS, alg: 'ES384' });
  // Same iss and kid as the trusted client, another private key: a forged signature.
  impostor = await createCdsClient({ iss: EHR_ISS, alg: 'ES384', kid: ehr.kid });
  stranger = await createCdsClient({ iss: 'https://unknown-ehr.example', alg: 'RS384' });
  remoteEhr = await createCdsClient({ iss: 'https://remote-ehr.example', alg: 'ES384' });
  app = await startApp({
    clients: [ehr],
    settings: { cdsClients: [{ iss: ehr.iss, jwks: ehr.jwks }, { iss: remoteEhr.iss, jwksUrl: 'https://remote-ehr.example/.well-known/jwks.json' }] },
  });
  const none = await call(app, null, 'GET', DISCOVERY_PATH);
  unauthorizedBody = none.text;
});

afterAll(async () => {
  await app?.close();
});

type Case = readonly [string, (aud: string) => Promise<string | null>];

const nowS = (): number => Math.floor(Date.now() / 1000);

const CASES: readonly Case[] = [
  ['no token', () => Promise.resolve(null)],
  ['not a JWT', () => Promise.resolve('not-a-jwt')],
  ['bad signature', (aud) => impostor.sign({ aud })],
  ['tampered payload', async (aud) => {
    const t = await ehr.sign({ aud });
    const [h, , s] = t.split('.');
    return `${h}.${b64({ iss: EHR_ISS, aud, iat: nowS(), exp: nowS() + 300, jti: randomUUID(), tenant: 'x' })}.${s}`;
  }],
  ['unknown iss', (aud) => stranger.sign({ aud })],
  ['unknown kid', (aud) => ehr.sign({ aud, header: { kid: 'no-such-kid' } })],
  ['wrong aud', () => ehr.sign({ aud: `${PUBLIC_BASE_URL}/cds-services/another-service` })],
  // CDS Hooks 2.0: aud (string or array) MUST be the exact URL called; an array naming another audience
  // too is a token another service could replay here.
  ['aud an array naming the URL called and another audience', (aud) => ehr.sign({ aud: [aud, 'https://elsewhere.example'] })],
  ['aud an array naming another endpoint of this service too', (aud) => ehr.sign({ aud: [aud, `${PUBLIC_BASE_URL}/cds-services/another-service`] })],
  ['aud from the Host header, not publicBaseUrl', () => ehr.sign({ aud: `${app.url}${SERVICE_PATH}` })],
  ['expired', (aud) => ehr.sign({ aud, iat: nowS() - 600, exp: nowS() - 300 })],
  ['issued in the future', (aud) => ehr.sign({ aud, iat: nowS() + 600, exp: nowS() + 900 })],
  ['no jti', (aud) => ehr.sign({ aud, omit: ['jti'] })],
  ['no exp', (aud) => ehr.sign({ aud, omit: ['exp'] })],
  ['alg none', (aud) => Promise.resolve(`${b64({ alg: 'none', typ: 'JWT', kid: ehr.kid })}.${b64({ iss: EHR_ISS, aud, iat: nowS(), exp: nowS() + 300, jti: randomUUID() })}.`)],
  ['HS256 (symmetric)', (aud) =>
    new SignJWT({ iss: EHR_ISS, aud, jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: ehr.kid })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('a-shared-secret-that-must-never-be-accepted')),
  ],
  ['HS256 keyed with the public key (alg confusion)', (aud) =>
    new SignJWT({ iss: EHR_ISS, aud, jti: randomUUID() })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: ehr.kid })
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JSON.stringify(ehr.publicJwk))),
  ],
  // With inline keys a jku is ignored (nothing is fetched); with a jwksUrl it must be that URL.
  ['a jku that is not the configured jwksUrl', (aud) => remoteEhr.sign({ aud, header: { jku: 'https://attacker.example/jwks.json' } })],
  ['Basic instead of Bearer', () => Promise.resolve('Basic dXNlcjpwYXNz')],
];

describe('JWT refusal matrix: 401 with no detail on every CDS endpoint', () => {
  for (const [path, method] of [[DISCOVERY_PATH, 'GET'], [SERVICE_PATH, 'POST'], [FEEDBACK_PATH, 'POST']] as const) {
    it.each(CASES)(`${method} ${path}: %s`, async (_label, make) => {
      const token = await make(`${PUBLIC_BASE_URL}${path}`);
      const body = path === SERVICE_PATH ? hookBody('p1', { prefetch: { observations: null } }) : path === FEEDBACK_PATH ? { feedback: [{ card: randomUUID(), outcome: 'overridden', outcomeTimestamp: '2026-01-01T00:00:00Z' }] } : undefined;
      const res = token !== null && token.startsWith('Basic ')
        ? await call(app, null, method, path, body, { headers: { authorization: token }, token: null })
        : await call(app, null, method, path, body, { token });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      // The same body whatever the reason: no detail.
      expect(res.text).toBe(unauthorizedBody);
      expect(res.json).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', details: { text: 'Unauthorized' } }] });
    });
  }

  it('a wrong aud: the log names the URL expected and the aud received (cut at 200 characters); the 401 body says nothing', async () => {
    const expected = `${PUBLIC_BASE_URL}${DISCOVERY_PATH}`;
    const reasons = (): string[] => app.logs.filter((l) => l['event'] === 'jwt-refused').map((l) => String(l['reason']));
    const wrong = 'https://cds.other-hospital.example/cds-services';
    const long = `https://ehr.example/${'a'.repeat(1000)}`;
    for (const aud of [wrong, long, [expected, 'https://elsewhere.example']]) {
      const before = reasons().length;
      const res = await call(app, null, 'GET', DISCOVERY_PATH, undefined, { token: await ehr.sign({ aud }) });
      expect(res.status).toBe(401);
      expect(res.text).toBe(unauthorizedBody);
      const reason = reasons().slice(before).join('\n');
      expect(reason).toContain(JSON.stringify(expected));
      expect(reason).toContain(JSON.stringify(aud).slice(0, 200));
      expect(reason.length).toBeLessThan(600);
      expect(res.text).not.toContain('other-hospital');
    }
    expect(reasons().at(-3)).toContain(`(expected "${expected}", received "${wrong}")`);
  });

  it('a replayed jti: accepted once, then 401 with the same body', async () => {
    const token = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${SERVICE_PATH}` });
    const body = hookBody('p1', { prefetch: { observations: null } });
    const first = await call(app, null, 'POST', SERVICE_PATH, body, { token });
    expect(first.status).toBe(200);
    const second = await call(app, null, 'POST', SERVICE_PATH, { ...body, hookInstance: randomUUID() }, { token });
    expect(second.status).toBe(401);
    expect(second.text).toBe(unauthorizedBody);
  });

  it('a good token on each endpoint is accepted, with aud as an array of exactly the URL called too, and an RS384 client', async () => {
    expect((await call(app, ehr, 'GET', DISCOVERY_PATH)).status).toBe(200);
    const token = await ehr.sign({ aud: [`${PUBLIC_BASE_URL}${SERVICE_PATH}`] });
    expect((await call(app, null, 'POST', SERVICE_PATH, hookBody('p1', { prefetch: { observations: null } }), { token })).status).toBe(200);
    const rs = await createCdsClient({ iss: 'https://rs-ehr.example', alg: 'RS384' });
    const other = await startApp({ clients: [rs] });
    try {
      expect((await call(other, rs, 'GET', DISCOVERY_PATH)).status).toBe(200);
    } finally {
      await other.close();
    }
  });

  it('an iat up to 0.5 s early (the public sandbox) is accepted', async () => {
    const token = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${DISCOVERY_PATH}`, iat: Date.now() / 1000 + 0.5, exp: nowS() + 300 });
    expect((await call(app, null, 'GET', DISCOVERY_PATH, undefined, { token })).status).toBe(200);
  });

  it('keys from a jwksUrl: fetched, cached, refetched on an unknown kid (key rotation)', async () => {
    const jwksUrl = 'https://ehr.example/.well-known/jwks.json';
    const rotated = await createCdsClient({ iss: 'https://jwks-ehr.example', alg: 'ES384' });
    const next = await createCdsClient({ iss: 'https://jwks-ehr.example', alg: 'ES384' });
    let served = { keys: [rotated.publicJwk] };
    const fetched: string[] = [];
    const { buildApp } = await import('../../src/app.js');
    const { loadSettings } = await import('../../src/settings.js');
    const { loadRuntime } = await import('../../src/pathways/load.js');
    const { createLogger } = await import('../../src/observability/logger.js');
    const settings = loadSettings({ object: { publicBaseUrl: PUBLIC_BASE_URL, cdsClients: [{ iss: rotated.iss, jwksUrl }], logLevel: 'silent' } });
    let clockMs = Date.now();
    const now = (): Date => new Date(clockMs);
    const a = await buildApp(settings, {
      runtime: await loadRuntime(settings),
      store: app.store,
      now,
      newId: randomUUID,
      logger: createLogger('silent'),
      fetchJwks: (url) => {
        fetched.push(url);
        return Promise.resolve(served);
      },
    });
    try {
      const inject = async (c: CdsTestClient): Promise<number> => (await a.inject({ method: 'GET', url: DISCOVERY_PATH, headers: { authorization: `Bearer ${await c.sign({ aud: `${PUBLIC_BASE_URL}${DISCOVERY_PATH}` })}` } })).statusCode;
      expect(await inject(rotated)).toBe(200);
      expect(await inject(rotated)).toBe(200);
      expect(fetched).toEqual([jwksUrl]);
      served = { keys: [next.publicJwk] };
      clockMs += 31_000;
      expect(await inject(next)).toBe(200);
      expect(fetched).toEqual([jwksUrl, jwksUrl]);
    } finally {
      await a.close();
    }
  });
});
