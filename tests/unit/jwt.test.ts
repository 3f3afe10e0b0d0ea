/**
 * CDS client JWT verification (CDS Hooks 2.0, "Trusting CDS Clients"), with real keys and real tokens.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SignJWT, exportSPKI, importJWK, type JWK } from 'jose';
import { createJwtVerifier, CdsUnauthorizedError, JWKS_MAX_AGE_MS, JWKS_REFETCH_MIN_INTERVAL_MS, type JwtVerifierSettings } from '../../src/cds/jwt.js';
import { ERRORS, TnpError } from '../../src/errors.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';

const BASE = 'https://cds.example.org';
const PATH = '/cds-services/hs-troponin-chest-pain';
const AUD = `${BASE}${PATH}`;
const T0 = Date.parse('2026-01-15T10:00:00.000Z');

/** A settable clock shared by the verifier and the test clients. */
const clock = { ms: T0 };
const now = (): Date => new Date(clock.ms);
const nowS = (): number => Math.floor(clock.ms / 1000);

function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/** A compact JWS with arbitrary header, payload and signature (for tokens no honest library signs). */
function rawToken(header: unknown, payload: unknown, signature = ''): string {
  return `${b64url(header)}.${b64url(payload)}.${signature}`;
}

/** A fresh replay cache per test. */
function memoryJtiStore(): { rememberJti: (iss: string, jti: string, expiresAt: Date) => Promise<boolean>; seen: Map<string, Date> } {
  const seen = new Map<string, Date>();
  return {
    seen,
    rememberJti: (iss, jti, expiresAt) => {
      const key = `${iss}\u0000${jti}`;
      if (seen.has(key)) return Promise.resolve(false);
      seen.set(key, expiresAt);
      return Promise.resolve(true);
    },
  };
}

interface JwksServer {
  url: string;
  origin: string;
  hits: number;
  doc: unknown;
  status: number;
  server: Server;
}

async function startJwksServer(): Promise<JwksServer> {
  const state: JwksServer = { url: '', origin: '', hits: 0, doc: { keys: [] }, status: 200, server: createServer() };
  state.server.on('request', (req, res) => {
    state.hits += 1;
    res.writeHead(state.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(state.doc));
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  const { port } = state.server.address() as AddressInfo;
  state.origin = `http://127.0.0.1:${port}`;
  state.url = `${state.origin}/.well-known/jwks.json`;
  return state;
}

async function stopServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
}

let rs: CdsTestClient;
let es: CdsTestClient;
let tenantClient: CdsTestClient;
let remote: CdsTestClient;
let remoteRotated: CdsTestClient;
let stranger: CdsTestClient;
let jwks: JwksServer;
let attacker: JwksServer;

const ISS_RS = 'https://ehr-rs.example.org';
const ISS_ES = 'https://ehr-es.example.org';
const ISS_TENANT = 'https://ehr-tenant.example.org';
const ISS_REMOTE = 'https://ehr-remote.example.org';

beforeAll(async () => {
  rs = await createCdsClient({ iss: ISS_RS, alg: 'RS384', now });
  es = await createCdsClient({ iss: ISS_ES, alg: 'ES384', now });
  tenantClient = await createCdsClient({ iss: ISS_TENANT, alg: 'ES384', now });
  remote = await createCdsClient({ iss: ISS_REMOTE, alg: 'ES384', now });
  remoteRotated = await createCdsClient({ iss: ISS_REMOTE, alg: 'RS384', now });
  stranger = await createCdsClient({ iss: 'https://stranger.example.org', alg: 'ES384', now });
  jwks = await startJwksServer();
  attacker = await startJwksServer();
});

afterAll(async () => {
  await stopServer(jwks.server);
  await stopServer(attacker.server);
});

function settings(over: Partial<JwtVerifierSettings> = {}): JwtVerifierSettings {
  return {
    publicBaseUrl: BASE,
    jwtClockToleranceSeconds: 5,
    jwtMaxLifetimeSeconds: 3600,
    cdsClients: [
      { iss: ISS_RS, jwks: rs.jwks },
      { iss: ISS_ES, jwks: es.jwks },
      { iss: ISS_TENANT, jwks: tenantClient.jwks, tenant: 'hospital-a' },
      { iss: ISS_REMOTE, jwksUrl: jwks.url },
    ],
    ...over,
  };
}

let store: ReturnType<typeof memoryJtiStore>;
let verifier: ReturnType<typeof createJwtVerifier>;

beforeEach(() => {
  clock.ms = T0;
  jwks.hits = 0;
  jwks.status = 200;
  jwks.doc = remote.jwks;
  attacker.hits = 0;
  attacker.doc = stranger.jwks;
  store = memoryJtiStore();
  verifier = createJwtVerifier(settings(), { rememberJti: store.rememberJti, now });
});

/** Asserts a refusal: TNP_ERR_UNAUTHORIZED, 401, generic message, the reason matching `reason`. */
async function expectRefused(p: Promise<unknown>, reason: RegExp, token?: string): Promise<CdsUnauthorizedError> {
  const e: unknown = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CdsUnauthorizedError);
  const err = e as CdsUnauthorizedError;
  expect(err).toBeInstanceOf(TnpError);
  expect(err.code).toBe('TNP_ERR_UNAUTHORIZED');
  expect(err.status).toBe(401);
  expect(err.message).toBe(ERRORS.TNP_ERR_UNAUTHORIZED.title);
  expect(err.reason).toMatch(reason);
  if (token !== undefined) {
    expect(err.reason).not.toContain(token);
    expect(err.message).not.toContain(token);
  }
  return err;
}

describe('accepted tokens', () => {
  it('accepts an RS384 token from an inline JWKS and returns the client', async () => {
    const token = await rs.sign({ aud: AUD, jti: 'jti-rs-1' });
    await expect(verifier.verify(`Bearer ${token}`, PATH)).resolves.toEqual({ iss: ISS_RS, tenant: null, jti: 'jti-rs-1', kid: rs.kid, exp: nowS() + 300 });
    const remembered = store.seen.get(`${ISS_RS}\u0000jti-rs-1`);
    // Remembered until exp plus the clock tolerance.
    expect(remembered?.getTime()).toBe((nowS() + 300 + 5) * 1000);
  });

  it('accepts an ES384 token from an inline JWKS', async () => {
    const token = await es.sign({ aud: AUD });
    await expect(verifier.verify(`Bearer ${token}`, PATH)).resolves.toMatchObject({ iss: ISS_ES, kid: es.kid });
  });

  it('accepts aud given as an array of the endpoint URL alone; refuses one that also names another audience', async () => {
    const token = await es.sign({ aud: [AUD] });
    await expect(verifier.verify(`Bearer ${token}`, PATH)).resolves.toMatchObject({ iss: ISS_ES });
    // CDS Hooks 2.0: aud MUST be the URL called; a token also made for another audience could be replayed here by it.
    const shared = await es.sign({ aud: [`${BASE}/cds-services`, AUD] });
    await expect(verifier.verify(`Bearer ${shared}`, PATH)).rejects.toThrow();
  });

  it('accepts the bearer scheme in any case and surrounding whitespace', async () => {
    const token = await es.sign({ aud: AUD });
    await expect(verifier.verify(`  bearer ${token} `, PATH)).resolves.toMatchObject({ iss: ISS_ES });
  });

  it('accepts iat 0.5 s in the future (the CDS sandbox), even with a zero clock tolerance', async () => {
    const strict = createJwtVerifier(settings({ jwtClockToleranceSeconds: 0 }), { rememberJti: memoryJtiStore().rememberJti, now });
    clock.ms = T0 + 250; // mid-second: the token's iat is 0.5 s ahead
    const token = await rs.sign({ aud: AUD, iat: clock.ms / 1000 + 0.5, exp: nowS() + 60 });
    await expect(strict.verify(`Bearer ${token}`, PATH)).resolves.toMatchObject({ iss: ISS_RS });
    const token2 = await rs.sign({ aud: AUD, iat: clock.ms / 1000 + 0.5, exp: nowS() + 60 });
    await expect(verifier.verify(`Bearer ${token2}`, PATH)).resolves.toMatchObject({ iss: ISS_RS });
  });

  it('does not require sub', async () => {
    const token = await es.sign({ aud: AUD });
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload['sub']).toBeUndefined();
    await expect(verifier.verify(`Bearer ${token}`, PATH)).resolves.toMatchObject({ iss: ISS_ES });
  });

  it('accepts the tenant the client entry names, and returns it', async () => {
    const token = await tenantClient.sign({ aud: AUD, claims: { tenant: 'hospital-a' } });
    await expect(verifier.verify(`Bearer ${token}`, PATH)).resolves.toMatchObject({ iss: ISS_TENANT, tenant: 'hospital-a' });
  });

  it('accepts exp just past within the clock tolerance', async () => {
    const token = await es.sign({ aud: AUD, iat: nowS() - 100, exp: nowS() - 3 });
    await expect(verifier.verify(`Bearer ${token}`, PATH)).resolves.toMatchObject({ iss: ISS_ES });
  });

  it('computes aud from publicBaseUrl with a trailing slash removed', async () => {
    const v = createJwtVerifier(settings({ publicBaseUrl: `${BASE}/` }), { rememberJti: memoryJtiStore().rememberJti, now });
    const token = await es.sign({ aud: AUD });
    await expect(v.verify(`Bearer ${token}`, PATH)).resolves.toMatchObject({ iss: ISS_ES });
  });
});

describe('jwksUrl', () => {
  it('fetches the JWKS from the configured URL once and caches it', async () => {
    const t1 = await remote.sign({ aud: AUD });
    const t2 = await remote.sign({ aud: AUD });
    await expect(verifier.verify(`Bearer ${t1}`, PATH)).resolves.toMatchObject({ iss: ISS_REMOTE, kid: remote.kid });
    clock.ms += 60_000;
    await expect(verifier.verify(`Bearer ${t2}`, PATH)).resolves.toMatchObject({ iss: ISS_REMOTE });
    expect(jwks.hits).toBe(1);
  });

  it('shares one fetch between concurrent verifications', async () => {
    const tokens = await Promise.all([1, 2, 3, 4].map(() => remote.sign({ aud: AUD })));
    const results = await Promise.all(tokens.map((t) => verifier.verify(`Bearer ${t}`, PATH)));
    expect(results).toHaveLength(4);
    expect(jwks.hits).toBe(1);
  });

  it('refetches the JWKS on an unknown kid after a key rotation', async () => {
    const before = await remote.sign({ aud: AUD });
    await verifier.verify(`Bearer ${before}`, PATH);
    expect(jwks.hits).toBe(1);
    // The client rotates: its JWKS now holds the new key (and the old one).
    jwks.doc = { keys: [remote.publicJwk, remoteRotated.publicJwk] };
    clock.ms += JWKS_REFETCH_MIN_INTERVAL_MS + 1_000;
    const after = await remoteRotated.sign({ aud: AUD });
    await expect(verifier.verify(`Bearer ${after}`, PATH)).resolves.toMatchObject({ iss: ISS_REMOTE, kid: remoteRotated.kid });
    expect(jwks.hits).toBe(2);
    // The new key is now cached.
    const again = await remoteRotated.sign({ aud: AUD });
    await verifier.verify(`Bearer ${again}`, PATH);
    expect(jwks.hits).toBe(2);
  });

  it('refreshes a cached JWKS older than JWKS_MAX_AGE_MS, keeping the old keys if the refresh fails', async () => {
    await verifier.verify(`Bearer ${await remote.sign({ aud: AUD })}`, PATH);
    expect(jwks.hits).toBe(1);
    clock.ms += JWKS_MAX_AGE_MS + 1_000;
    jwks.status = 503;
    await expect(verifier.verify(`Bearer ${await remote.sign({ aud: AUD })}`, PATH)).resolves.toMatchObject({ iss: ISS_REMOTE });
    expect(jwks.hits).toBe(2);
    // The client withdrew its key: once the refresh succeeds, the key no longer verifies.
    jwks.status = 200;
    jwks.doc = remoteRotated.jwks;
    clock.ms += JWKS_REFETCH_MIN_INTERVAL_MS;
    await expectRefused(verifier.verify(`Bearer ${await remote.sign({ aud: AUD })}`, PATH), /unknown kid/);
    expect(jwks.hits).toBe(3);
  });

  it('uses the default fetch with a real HTTP server (no fetchJwks injected)', async () => {
    // The verifier of beforeEach has no fetchJwks: it used global fetch against 127.0.0.1 above.
    const t = await remote.sign({ aud: AUD });
    await verifier.verify(`Bearer ${t}`, PATH);
    expect(jwks.hits).toBe(1);
  });

  it('uses an injected fetchJwks with the configured URL only', async () => {
    const urls: string[] = [];
    const v = createJwtVerifier(settings(), {
      rememberJti: memoryJtiStore().rememberJti,
      now,
      fetchJwks: (url) => {
        urls.push(url);
        return Promise.resolve(remote.jwks);
      },
    });
    const t = await remote.sign({ aud: AUD, header: { jku: jwks.url } });
    await expect(v.verify(`Bearer ${t}`, PATH)).resolves.toMatchObject({ iss: ISS_REMOTE });
    expect(urls).toEqual([jwks.url]);
  });
});

describe('refused tokens', () => {
  it('refuses a missing Authorization header', async () => {
    await expectRefused(verifier.verify(undefined, PATH), /no Authorization header/);
  });

  it('refuses an empty Authorization header', async () => {
    await expectRefused(verifier.verify('', PATH), /not "Bearer/);
  });

  it('refuses another scheme', async () => {
    const token = await es.sign({ aud: AUD });
    await expectRefused(verifier.verify(`Basic ${token}`, PATH), /not "Bearer/, token);
  });

  it('refuses a bearer value that is not a compact JWS', async () => {
    await expectRefused(verifier.verify('Bearer abc.def', PATH), /not "Bearer/);
    await expectRefused(verifier.verify('Bearer a.b.c.d', PATH), /not "Bearer/);
    await expectRefused(verifier.verify('Bearer', PATH), /not "Bearer/);
  });

  it('refuses a header segment that is not base64url JSON', async () => {
    await expectRefused(verifier.verify('Bearer bm90LWpzb24.e30.', PATH), /header is not base64url JSON/);
  });

  it('refuses a payload segment that is not base64url JSON', async () => {
    const header = b64url({ alg: 'ES384', kid: es.kid, typ: 'JWT' });
    await expectRefused(verifier.verify(`Bearer ${header}.bm90LWpzb24.c2ln`, PATH), /payload is not base64url JSON/);
  });

  it('refuses alg none', async () => {
    const token = rawToken({ alg: 'none', typ: 'JWT', kid: es.kid }, { iss: ISS_ES, aud: AUD, iat: nowS(), exp: nowS() + 60, jti: 'n' });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /alg is none/, token);
  });

  it('refuses alg "None" in another case', async () => {
    const token = rawToken({ alg: 'None', typ: 'JWT', kid: es.kid }, { iss: ISS_ES, aud: AUD, iat: nowS(), exp: nowS() + 60, jti: 'n' });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /alg is none/);
  });

  it('refuses HS256 signed with the client public key as the HMAC secret (algorithm confusion)', async () => {
    const pub = await importJWK(rs.publicJwk, 'RS384', { extractable: true });
    const pem = await exportSPKI(pub as Parameters<typeof exportSPKI>[0]);
    const token = await new SignJWT({ iss: ISS_RS, aud: AUD, iat: nowS(), exp: nowS() + 60, jti: 'hs' })
      .setProtectedHeader({ alg: 'HS256', kid: rs.kid, typ: 'JWT' })
      .sign(new TextEncoder().encode(pem));
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /symmetric/, token);
  });

  it('refuses HS384 and HS512 (any symmetric algorithm)', async () => {
    for (const alg of ['HS384', 'HS512']) {
      const token = await new SignJWT({ iss: ISS_RS, aud: AUD, iat: nowS(), exp: nowS() + 60, jti: alg })
        .setProtectedHeader({ alg, kid: rs.kid, typ: 'JWT' })
        .sign(createHash('sha512').update('secret').digest());
      await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /symmetric/);
    }
  });

  it('refuses an alg outside the allowlist', async () => {
    for (const alg of ['ES256K', 'RS1', 'RSA-OAEP', 'Ed448']) {
      const token = rawToken({ alg, typ: 'JWT', kid: es.kid }, { iss: ISS_ES, aud: AUD, iat: nowS(), exp: nowS() + 60, jti: alg }, 'c2ln');
      await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /is not allowed/);
    }
  });

  it('refuses a header without alg', async () => {
    const token = rawToken({ typ: 'JWT', kid: es.kid }, { iss: ISS_ES }, 'c2ln');
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /no alg/);
  });

  it('refuses a token without kid', async () => {
    const token = await es.sign({ aud: AUD, header: { kid: undefined } });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /no kid/);
  });

  it('refuses a token without typ', async () => {
    const token = await es.sign({ aud: AUD, header: { typ: undefined } });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /typ is undefined/);
  });

  it('refuses typ other than JWT', async () => {
    const token = await es.sign({ aud: AUD, header: { typ: 'at+jwt' } });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /typ is "at\+jwt"/);
  });

  it('refuses an unknown iss', async () => {
    const token = await stranger.sign({ aud: AUD });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /unknown iss "https:\/\/stranger/, token);
  });

  it('refuses a token without iss', async () => {
    const token = await es.sign({ aud: AUD, omit: ['iss'] });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /no iss/);
  });

  it('refuses an unknown kid (inline JWKS)', async () => {
    const token = await es.sign({ aud: AUD, header: { kid: 'not-a-kid' } });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /unknown kid "not-a-kid"/);
  });

  it('refuses an unknown kid after one refetch of the jwksUrl', async () => {
    await verifier.verify(`Bearer ${await remote.sign({ aud: AUD })}`, PATH);
    expect(jwks.hits).toBe(1);
    clock.ms += JWKS_REFETCH_MIN_INTERVAL_MS + 1_000;
    // Signed by a key the client never published.
    const token = await stranger.sign({ aud: AUD, claims: { iss: ISS_REMOTE } });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /unknown kid/);
    expect(jwks.hits).toBe(2);
  });

  it('rate-limits refetches on unknown kids to one per 30 s per client', async () => {
    await verifier.verify(`Bearer ${await remote.sign({ aud: AUD })}`, PATH);
    expect(jwks.hits).toBe(1);
    for (let i = 0; i < 5; i++) {
      clock.ms += 1_000;
      const token = await remote.sign({ aud: AUD, header: { kid: `unknown-${i}` } });
      await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /unknown kid/);
    }
    expect(jwks.hits).toBe(1);
    clock.ms = T0 + JWKS_REFETCH_MIN_INTERVAL_MS;
    await expectRefused(verifier.verify(`Bearer ${await remote.sign({ aud: AUD, header: { kid: 'unknown-x' } })}`, PATH), /unknown kid/);
    expect(jwks.hits).toBe(2);
  });

  it('refuses when the jwksUrl cannot be fetched', async () => {
    jwks.status = 500;
    const token = await remote.sign({ aud: AUD });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /no JWKS for iss .*HTTP 500/);
  });

  it('refuses when the jwksUrl serves something that is not a JWKS', async () => {
    jwks.doc = { hello: 'world' };
    await expectRefused(verifier.verify(`Bearer ${await remote.sign({ aud: AUD })}`, PATH), /no JWKS for iss .*not a JWKS/);
  });

  it('refuses a jku that is not the configured jwksUrl, and never fetches it', async () => {
    // An attacker signs with their own key and points jku at their own JWKS.
    attacker.doc = { keys: [{ ...stranger.publicJwk, kid: remote.kid }] };
    const token = await stranger.sign({ aud: AUD, claims: { iss: ISS_REMOTE }, header: { kid: remote.kid, jku: attacker.url } });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /jku .* is not the jwksUrl configured/);
    expect(attacker.hits).toBe(0);
    expect(jwks.hits).toBe(0);
  });

  it('ignores a jku for a client configured with an inline JWKS: nothing is fetched, a debug line says so', async () => {
    const lines: { obj: object; msg: string }[] = [];
    const v = createJwtVerifier(settings(), { rememberJti: memoryJtiStore().rememberJti, now, log: { debug: (obj, msg) => lines.push({ obj, msg }) } });
    const token = await es.sign({ aud: AUD, header: { jku: attacker.url } });
    await expect(v.verify(`Bearer ${token}`, PATH)).resolves.toMatchObject({ iss: ISS_ES });
    expect(attacker.hits).toBe(0);
    expect(lines).toEqual([{ obj: { event: 'jwt-jku-ignored', iss: ISS_ES, jku: JSON.stringify(attacker.url) }, msg: expect.stringContaining('inline') as string }]);
    // The jku adds no trust: another key under the client's kid is still refused, and nothing is fetched.
    const forged = await stranger.sign({ aud: AUD, claims: { iss: ISS_ES }, header: { kid: es.kid, jku: attacker.url } });
    await expectRefused(v.verify(`Bearer ${forged}`, PATH), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/);
    expect(attacker.hits).toBe(0);
  });

  it('refuses a bad signature (payload altered)', async () => {
    const token = await es.sign({ aud: AUD });
    const [h, , s] = token.split('.');
    const forged = `${h}.${b64url({ iss: ISS_ES, aud: AUD, iat: nowS(), exp: nowS() + 60, jti: 'forged', admin: true })}.${s}`;
    await expectRefused(verifier.verify(`Bearer ${forged}`, PATH), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/, forged);
  });

  it('refuses a bad signature (another key using the client kid)', async () => {
    const token = await stranger.sign({ aud: AUD, claims: { iss: ISS_ES }, header: { kid: es.kid } });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/);
  });

  it('refuses an RS384 token whose kid names an EC key (no key for that alg)', async () => {
    const token = await rs.sign({ aud: AUD, claims: { iss: ISS_ES }, header: { kid: es.kid } });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /alg "RS384" is not accepted for kid .* \(it accepts: ES384;/);
  });

  it('refuses an aud for another endpoint', async () => {
    const token = await es.sign({ aud: `${BASE}/cds-services` });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /ERR_JWT_CLAIM_VALIDATION_FAILED.*aud/);
  });

  it('refuses an aud that differs only by a trailing slash', async () => {
    const token = await es.sign({ aud: `${AUD}/` });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /aud/);
  });

  it('refuses an aud built from another host (e.g. the Host header)', async () => {
    const token = await es.sign({ aud: `http://127.0.0.1:8080${PATH}` });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /aud/);
  });

  it('refuses an aud array without the endpoint URL', async () => {
    const token = await es.sign({ aud: [`${BASE}/cds-services`, `${AUD}/feedback`] });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /aud/);
  });

  it('refuses a missing aud', async () => {
    const t = await es.sign({ aud: AUD, claims: { aud: undefined } });
    await expectRefused(verifier.verify(`Bearer ${t}`, PATH), /aud/);
  });

  it('refuses an expired exp', async () => {
    const token = await es.sign({ aud: AUD, iat: nowS() - 600, exp: nowS() - 6 });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /ERR_JWT_EXPIRED/);
  });

  it('refuses a missing iat', async () => {
    const token = await es.sign({ aud: AUD, omit: ['iat'] });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /"iat" claim/);
  });

  it('refuses a missing exp', async () => {
    const token = await es.sign({ aud: AUD, omit: ['exp'] });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /"exp" claim/);
  });

  it('refuses a missing jti', async () => {
    const token = await es.sign({ aud: AUD, omit: ['jti'] });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /"jti" claim/);
  });

  it('refuses an empty or non-string jti', async () => {
    await expectRefused(verifier.verify(`Bearer ${await es.sign({ aud: AUD, jti: '' })}`, PATH), /jti/);
    await expectRefused(verifier.verify(`Bearer ${await es.sign({ aud: AUD, claims: { jti: 42 } })}`, PATH), /jti/);
  });

  it('refuses a non-numeric iat', async () => {
    const token = await es.sign({ aud: AUD, claims: { iat: 'yesterday' } });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /iat/);
  });

  it('refuses iat in the future beyond the clock tolerance', async () => {
    const token = await es.sign({ aud: AUD, iat: nowS() + 7, exp: nowS() + 120 });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /iat is 7 s in the future/);
  });

  it('refuses a lifetime exp - iat above jwtMaxLifetimeSeconds', async () => {
    const token = await es.sign({ aud: AUD, iat: nowS(), exp: nowS() + 3601 });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /lifetime .* 3601 s exceeds/);
  });

  it('refuses a tenant other than the one the client entry names', async () => {
    const token = await tenantClient.sign({ aud: AUD, claims: { tenant: 'hospital-b' } });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /tenant "hospital-b"/);
  });

  it('refuses a missing tenant when the client entry names one', async () => {
    const token = await tenantClient.sign({ aud: AUD });
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /tenant undefined/);
  });

  it('refuses a replayed jti', async () => {
    const token = await es.sign({ aud: AUD });
    await verifier.verify(`Bearer ${token}`, PATH);
    await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /replayed/, token);
  });

  it('refuses a second token reusing a jti', async () => {
    await verifier.verify(`Bearer ${await es.sign({ aud: AUD, jti: 'same' })}`, PATH);
    await expectRefused(verifier.verify(`Bearer ${await es.sign({ aud: AUD, jti: 'same' })}`, PATH), /replayed/);
  });

  it('checks the replay cache only after every other check passed', async () => {
    await expectRefused(verifier.verify(`Bearer ${await es.sign({ aud: `${BASE}/x`, jti: 'only-once' })}`, PATH), /aud/);
    expect(store.seen.size).toBe(0);
    await expect(verifier.verify(`Bearer ${await es.sign({ aud: AUD, jti: 'only-once' })}`, PATH)).resolves.toMatchObject({ jti: 'only-once' });
  });

  it('refuses an oversized Authorization header without parsing it', async () => {
    await expectRefused(verifier.verify(`Bearer ${'a'.repeat(20_000)}.b.c`, PATH), /too long/);
  });
});

describe('claims the service stores must be storable text', () => {
  const bad: readonly (readonly [string, string])[] = [
    ['a NUL', 'a\u0000b'],
    ['a lone high surrogate', 'a\uD800b'],
    ['a lone low surrogate', 'a\uDC00b'],
    ['a control character (C0)', 'a\u001bb'],
    ['a control character (C1)', 'a\u0085b'],
    ['DEL', 'a\u007fb'],
    ['257 characters', 'x'.repeat(257)],
  ];

  it.each(bad)('refuses a jti with %s', async (_label, value) => {
    await expectRefused(verifier.verify(`Bearer ${await es.sign({ aud: AUD, jti: value })}`, PATH), /JWT jti is not storable text/);
    expect(store.seen.size).toBe(0);
  });

  it.each(bad)('refuses a tenant with %s', async (_label, value) => {
    await expectRefused(verifier.verify(`Bearer ${await es.sign({ aud: AUD, claims: { tenant: value } })}`, PATH), /JWT tenant is not storable text/);
  });

  it.each(bad)('refuses a sub with %s', async (_label, value) => {
    await expectRefused(verifier.verify(`Bearer ${await es.sign({ aud: AUD, claims: { sub: value } })}`, PATH), /JWT sub is not storable text/);
  });

  it.each(bad)('refuses a kid with %s, before any key is looked up', async (_label, value) => {
    await expectRefused(verifier.verify(`Bearer ${await remote.sign({ aud: AUD, header: { kid: value } })}`, PATH), /JWT kid is not storable text/);
    expect(jwks.hits).toBe(0);
  });

  it.each(bad.slice(0, 6))('refuses an iss with %s', async (_label, value) => {
    await expectRefused(verifier.verify(`Bearer ${await es.sign({ aud: AUD, claims: { iss: value } })}`, PATH), /JWT iss is not storable text/);
  });

  it('refuses a sub that is not a string', async () => {
    await expectRefused(verifier.verify(`Bearer ${await es.sign({ aud: AUD, claims: { sub: 42 } })}`, PATH), /sub is not a string/);
  });

  it('accepts a 256-character jti, a well-formed astral character, an empty tenant and a plain sub', async () => {
    const jti = `${'j'.repeat(254)}\u{1F600}`;
    expect(jti.length).toBe(256);
    await expect(verifier.verify(`Bearer ${await es.sign({ aud: AUD, jti, claims: { tenant: '', sub: 'Practitioner/123' } })}`, PATH)).resolves.toMatchObject({ jti, tenant: '' });
  });
});

describe('the algorithm a key verifies', () => {
  it('a key with alg verifies that alg only; one without alg only jwtAlgorithms (default ES384, RS384)', async () => {
    // es and rs publish alg (ES384, RS384): the tests above. Without alg, an RS384 key accepts RS384 only.
    const { alg: _alg, ...bare } = rs.publicJwk;
    const v = createJwtVerifier(settings({ cdsClients: [{ iss: ISS_RS, jwks: { keys: [bare] } }] }), { rememberJti: memoryJtiStore().rememberJti, now });
    await expect(v.verify(`Bearer ${await rs.sign({ aud: AUD })}`, PATH)).resolves.toMatchObject({ iss: ISS_RS });
    const only = createJwtVerifier(settings({ jwtAlgorithms: ['ES384'], cdsClients: [{ iss: ISS_RS, jwks: { keys: [bare] } }] }), { rememberJti: memoryJtiStore().rememberJti, now });
    await expectRefused(only.verify(`Bearer ${await rs.sign({ aud: AUD })}`, PATH), /alg "RS384" is not accepted for kid .* \(it accepts: ES384; a key without "alg" accepts jwtAlgorithms\)/);
  });
});

describe('settings', () => {
  it('refuses two client entries with the same iss', () => {
    expect(() => createJwtVerifier(settings({ cdsClients: [{ iss: ISS_ES, jwks: es.jwks }, { iss: ISS_ES, jwks: rs.jwks }] }), { rememberJti: memoryJtiStore().rememberJti, now })).toThrow(
      expect.objectContaining({ code: 'TNP_ERR_SETTINGS_INVALID' }) as Error,
    );
  });

  it('ignores symmetric and private members of a JWKS document (as a jwksUrl serves it; inline keys are checked when the settings load)', async () => {
    const polluted = { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: es.kid }, { ...es.publicJwk, d: 'not-a-private-key' }] as JWK[] };
    const v = createJwtVerifier(settings({ cdsClients: [{ iss: ISS_ES, jwks: polluted }] }), { rememberJti: memoryJtiStore().rememberJti, now });
    await expect(v.verify(`Bearer ${await es.sign({ aud: AUD })}`, PATH)).resolves.toMatchObject({ iss: ISS_ES });
  });
});

describe('property: garbage Authorization headers', () => {
  const knownIss = fc.constantFrom(ISS_RS, ISS_ES, ISS_TENANT, ISS_REMOTE, 'https://other.example');
  const alg = fc.oneof(fc.constantFrom('none', 'HS256', 'RS384', 'ES384', 'EdDSA', 'PS256', 'ES512'), fc.string());
  const jsonish = fc.oneof(fc.jsonValue(), fc.anything());
  const segment = fc.oneof(fc.base64String().map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')), fc.string());
  const header = fc.record({ alg, kid: fc.oneof(fc.constantFrom('rs', 'es').map((k) => (k === 'rs' ? rs.kid : es.kid)), fc.string(), jsonish), typ: fc.oneof(fc.constant('JWT'), fc.string()), jku: fc.option(fc.webUrl(), { nil: undefined }) }, { requiredKeys: [] });
  const payload = fc.record({ iss: fc.oneof(knownIss, jsonish), aud: fc.oneof(fc.constant(AUD), fc.string(), jsonish), iat: fc.oneof(fc.integer(), jsonish), exp: fc.oneof(fc.integer(), jsonish), jti: fc.oneof(fc.string(), jsonish), tenant: jsonish }, { requiredKeys: [] });
  const structured = fc.tuple(header, payload, segment).map(([h, p, s]) => `Bearer ${b64url(safeJson(h))}.${b64url(safeJson(p))}.${s}`);
  const garbage = fc.oneof(
    fc.string(),
    fc.string().map((s) => `Bearer ${s}`),
    fc.tuple(segment, segment, segment).map(([a, b, c]) => `Bearer ${a}.${b}.${c}`),
    structured,
    fc.constant(undefined),
  );

  /** JSON.stringify that survives what fc.anything() makes (BigInt, cycles are not generated). */
  function safeJson(v: unknown): string {
    try {
      return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : typeof x === 'function' ? 'fn' : x)) ?? 'null';
    } catch {
      return '{}';
    }
  }

  it('always refuses with TNP_ERR_UNAUTHORIZED, never another exception', async () => {
    // A remote client whose JWKS fetch answers garbage, so the remote path is exercised without network.
    const v = createJwtVerifier(settings(), {
      rememberJti: memoryJtiStore().rememberJti,
      now,
      fetchJwks: () => Promise.resolve({ keys: [{ kty: 'EC' }, 'x', null] }),
    });
    await fc.assert(
      fc.asyncProperty(garbage, async (h) => {
        const e: unknown = await v.verify(h, PATH).then(
          () => new Error('accepted'),
          (err: unknown) => err,
        );
        expect(e).toBeInstanceOf(CdsUnauthorizedError);
        expect((e as TnpError).code).toBe('TNP_ERR_UNAUTHORIZED');
      }),
      { numRuns: 400 },
    );
  });

  it('refuses well-formed tokens carrying the public key of another client under random claims', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.integer({ min: -10_000, max: 10_000 }), async (jti, skew) => {
        const token = await stranger.sign({ aud: AUD, jti, iat: nowS() + skew, claims: { iss: ISS_RS }, header: { kid: rs.kid } });
        await expectRefused(verifier.verify(`Bearer ${token}`, PATH), /.+/);
      }),
      { numRuns: 25 },
    );
  });
});
