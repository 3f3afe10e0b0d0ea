/**
 * Which signature algorithm a key verifies: its own `alg` when it has one, and only that; without one,
 * only the site's `jwtAlgorithms` (default ES384 and RS384, the algorithms CDS Hooks 2.0 recommends).
 * RS256 or PS384 on an RSA key published without `alg` used to pass. Real app (inject), real keys.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { loadSettings } from '../../src/settings.js';
import { DISCOVERY_PATH, PUBLIC_BASE_URL, startApp, type RunningApp } from '../support/cds-app.js';

const AUD = `${PUBLIC_BASE_URL}${DISCOVERY_PATH}`;

interface Signer {
  readonly iss: string;
  readonly kid: string;
  readonly jwk: JWK;
  sign(alg: string): Promise<string>;
}

/** A client whose key is published with the given `alg` member (or none). */
async function signer(kty: 'RSA' | 'EC-P256' | 'EC-P384', publishedAlg: string | undefined): Promise<Signer> {
  const genAlg = kty === 'RSA' ? 'PS384' : kty === 'EC-P256' ? 'ES256' : 'ES384';
  const { publicKey, privateKey } = await generateKeyPair(genAlg, { extractable: true });
  const iss = `https://ehr-${randomUUID()}.example`;
  const kid = randomUUID();
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig', ...(publishedAlg === undefined ? {} : { alg: publishedAlg }) };
  // One private key, imported for whichever algorithm a test signs with (WebCrypto binds a key to one).
  const privateJwk = await exportJWK(privateKey);
  return {
    iss,
    kid,
    jwk,
    sign: async (alg) =>
      new SignJWT({ iss, aud: AUD, jti: randomUUID() })
        .setProtectedHeader({ alg, kid, typ: 'JWT' })
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(await importJWK(privateJwk, alg)),
  };
}

async function status(app: RunningApp, token: string): Promise<number> {
  return (await app.app.inject({ method: 'GET', url: DISCOVERY_PATH, headers: { authorization: `Bearer ${token}` } })).statusCode;
}

describe('a key without alg: only jwtAlgorithms (default ES384, RS384)', () => {
  let rsaBare: Signer;
  let ecBare384: Signer;
  let ecBare256: Signer;
  let rsaPs256: Signer;
  let app: RunningApp;

  beforeAll(async () => {
    [rsaBare, ecBare384, ecBare256, rsaPs256] = await Promise.all([signer('RSA', undefined), signer('EC-P384', undefined), signer('EC-P256', undefined), signer('RSA', 'PS256')]);
    app = await startApp({ settings: { cdsClients: [rsaBare, ecBare384, rsaPs256].map((s) => ({ iss: s.iss, jwks: { keys: [s.jwk] } })) } });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.each(['RS256', 'RS512', 'PS256', 'PS384', 'PS512'])('an RSA key without alg refuses %s (401)', async (alg) => {
    expect(await status(app, await rsaBare.sign(alg))).toBe(401);
  });

  it('an RSA key without alg accepts RS384', async () => {
    expect(await status(app, await rsaBare.sign('RS384'))).toBe(200);
  });

  it('an EC P-384 key without alg accepts ES384', async () => {
    expect(await status(app, await ecBare384.sign('ES384'))).toBe(200);
  });

  it('an EC P-256 key without alg could verify nothing (ES256 is not in the default list): it stops the start, named', () => {
    expect(() => loadSettings({ object: { cdsClients: [{ iss: ecBare256.iss, jwks: { keys: [ecBare256.jwk] } }] } })).toThrow(
      expect.objectContaining({ code: 'TNP_ERR_SETTINGS_INVALID', message: expect.stringContaining('"cdsClients[0].jwks.keys[0]"') as string }) as Error,
    );
  });

  it("a key with alg accepts its own alg only, even outside jwtAlgorithms (PS256), and nothing else (RS384, RS256)", async () => {
    expect(await status(app, await rsaPs256.sign('PS256'))).toBe(200);
    expect(await status(app, await rsaPs256.sign('RS384'))).toBe(401);
    expect(await status(app, await rsaPs256.sign('RS256'))).toBe(401);
  });

  it('the refusal is logged with why (never the token)', () => {
    const reasons = app.logs.filter((l) => l['event'] === 'jwt-refused').map((l) => String(l['reason']));
    expect(reasons.some((r) => /alg "RS256" is not accepted for kid/.test(r))).toBe(true);
  });
});

describe('jwtAlgorithms configured', () => {
  let rsaBare: Signer;
  let app: RunningApp;

  beforeAll(async () => {
    rsaBare = await signer('RSA', undefined);
    app = await startApp({ settings: { jwtAlgorithms: ['PS384'], cdsClients: [{ iss: rsaBare.iss, jwks: { keys: [rsaBare.jwk] } }] } });
  });

  afterAll(async () => {
    await app?.close();
  });

  it('a key without alg accepts exactly the configured list', async () => {
    expect(await status(app, await rsaBare.sign('PS384'))).toBe(200);
    expect(await status(app, await rsaBare.sign('RS384'))).toBe(401);
    expect(await status(app, await rsaBare.sign('RS256'))).toBe(401);
  });

  it.each([[['HS256']], [['none']], [['HS384', 'RS384']], [[]], [['RS384', 'RS384']], [['rs384']], ['RS384']])('refuses jwtAlgorithms %j at start (TNP_ERR_SETTINGS_INVALID)', (value) => {
    expect(() => loadSettings({ object: { jwtAlgorithms: value } })).toThrow(expect.objectContaining({ code: 'TNP_ERR_SETTINGS_INVALID', message: expect.stringContaining('jwtAlgorithms') as string }) as Error);
  });

  it('defaults to ES384 and RS384', () => {
    expect(loadSettings({ object: {} }).jwtAlgorithms).toEqual(['ES384', 'RS384']);
  });
});
