/**
 * The keys a CDS client's entry gives inline (`cdsClients[].jwks.keys`) are checked when the settings are
 * loaded. A key without `kid`, an EC key whose `x`/`y` are not a point ("abc", "def"), a private key, or a
 * key no accepted algorithm can use, used to start without a word; every call of that client was then 401
 * and the log blamed the token ("unknown kid", "Invalid keyData"). Now the start stops
 * (TNP_ERR_SETTINGS_INVALID) naming the key, `cdsClients[0].jwks.keys[1]`, and what is wrong with it. A key
 * the check passes verifies the client's tokens (the real app), and the README's example settings load.
 */
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SignJWT, type JWK } from 'jose';
import { loadSettings } from '../../src/settings.js';
import { DISCOVERY_PATH, PUBLIC_BASE_URL, startApp } from '../support/cds-app.js';
import { serverProcess } from '../support/server-process.js';

type Jwk = Record<string, unknown>;

const publicJwk = (k: KeyObject, extra: Jwk): Jwk => ({ ...k.export({ format: 'jwk' }), ...extra });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const good: Jwk = publicJwk(ec384.publicKey, { kid: 'good-key', alg: 'ES384', use: 'sig' });

/** The settings with one client whose second inline key is `key` (the first is a good one). */
const withKey = (key: unknown, extra: Jwk = {}): Jwk => ({ cdsClients: [{ iss: 'https://ehr.example', jwks: { keys: [good, key] } }], ...extra });

const { kid: _kid, ...noKid } = good;
const ec256 = publicJwk(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, { kid: 'p256' });
const rsa1024 = publicJwk(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, { kid: 'rsa-1024' });

const bad: [string, unknown, RegExp][] = [
  ['an EC key without kid', noKid, /has no "kid"/],
  ['an empty kid', { ...good, kid: '' }, /"kid" that is not text a token can name/],
  ['an EC key with "x":"abc","y":"def"', { ...good, kid: 'abc', x: 'abc', y: 'def' }, /\(kid "abc"\) is not a valid public key/],
  ['an EC key whose point is not on the curve', { ...good, kid: 'off-curve', y: good['x'] }, /\(kid "off-curve"\) is not a valid public key/],
  ['a private EC key', publicJwk(ec384.privateKey, { kid: 'private' }), /is a private key \(it has "d"\): never put a private key in the settings/],
  ['a public key with a private member', { ...good, kid: 'with-d', d: 'x' }, /is a private key/],
  ['a symmetric key', { kty: 'oct', k: 'c2VjcmV0', kid: 'oct' }, /symmetric \("oct"\) key/],
  ['an unknown kty', { kty: 'XYZ', kid: 'xyz' }, /"kty" "XYZ", which is not supported/],
  ['no kty', { kid: 'none', x: 'a' }, /has no "kty"/],
  ['an alg the key cannot verify', { ...good, kid: 'es256-on-p384', alg: 'ES256' }, /"alg" "ES256", which an EC P-384 key cannot verify \(it can: ES384\)/],
  ['an HS alg', { ...good, kid: 'hs', alg: 'HS256' }, /"alg" "HS256", which is not accepted/],
  ['a P-256 key without alg (jwtAlgorithms ES384, RS384)', ec256, /\(kid "p256"\) has no "alg", so it verifies jwtAlgorithms \(ES384, RS384\), none of which an EC P-256 key can verify: give the key its "alg" \(ES256\)/],
  ['an RSA key of 1024 bits', rsa1024, /RSA key of 1024 bits/],
  ['a key for encryption', { ...good, kid: 'enc', use: 'enc' }, /"use" "enc"/],
  ['key_ops without verify', { ...good, kid: 'ops', key_ops: ['encrypt'] }, /"key_ops" without "verify"/],
  ['an unsupported curve', { kty: 'EC', crv: 'P-192', kid: 'p192', x: 'a', y: 'b' }, /an EC P-192 key, which no supported algorithm verifies/],
  ['not an object (the schema)', 'a key', /must be object/],
];

describe('inline client keys are checked at start', () => {
  it.each(bad)('refuses %s, naming cdsClients[0].jwks.keys[1] (TNP_ERR_SETTINGS_INVALID)', (_what, key, why) => {
    let error: unknown;
    try {
      loadSettings({ object: withKey(key) });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'TNP_ERR_SETTINGS_INVALID' });
    const message = (error as Error).message;
    expect(message).toContain('"cdsClients[0].jwks.keys[1]"');
    expect(message).toMatch(why);
    expect(message).not.toContain('keys[0]');
  });

  it('names every bad key of every client at once', () => {
    const settings = { cdsClients: [{ iss: 'https://a.example', jwks: { keys: [noKid] } }, { iss: 'https://b.example', jwks: { keys: [good, { ...good, kid: 'abc', x: 'abc', y: 'def' }] } }] };
    expect(() => loadSettings({ object: settings })).toThrow(/"cdsClients\[0\]\.jwks\.keys\[0\]" has no "kid".*"cdsClients\[1\]\.jwks\.keys\[1\]" \(kid "abc"\) is not a valid public key/);
  });

  it('a P-256 key without alg is accepted when jwtAlgorithms holds ES256', () => {
    expect(() => loadSettings({ object: withKey(ec256, { jwtAlgorithms: ['ES256'] }) })).not.toThrow();
  });

  it("the README's example settings load (its sandbox key inline)", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = /An example \(`\/etc\/hs-troponin-cds\/settings\.json`\):\n\n```json\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const s = loadSettings({ object: JSON.parse(example ?? '') as unknown });
    expect(s.cdsClients.some((c) => c.jwks?.keys[0]?.['kid'] === '44823f3d-0b01-4a6c-a80e-b9d3e8a7226f')).toBe(true);
  });

  it('a key of each supported kind verifies its tokens in the running service', async () => {
    const kinds: [string, KeyObject, KeyObject, Jwk][] = [];
    const add = (alg: string, pair: { publicKey: KeyObject; privateKey: KeyObject }, extra: Jwk = {}): void => {
      kinds.push([alg, pair.publicKey, pair.privateKey, { kid: randomUUID(), ...extra }]);
    };
    add('ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' }), { alg: 'ES256' });
    add('ES384', generateKeyPairSync('ec', { namedCurve: 'P-384' }));
    add('ES512', generateKeyPairSync('ec', { namedCurve: 'P-521' }), { alg: 'ES512' });
    add('RS384', generateKeyPairSync('rsa', { modulusLength: 2048 }));
    add('PS256', generateKeyPairSync('rsa', { modulusLength: 2048 }), { alg: 'PS256', use: 'sig', key_ops: ['verify'] });
    add('EdDSA', generateKeyPairSync('ed25519'), { alg: 'EdDSA' });
    const clients = kinds.map(([alg, pub, , extra]) => ({ iss: `https://${alg.toLowerCase()}.example`, jwks: { keys: [publicJwk(pub, extra) as JWK] } }));
    const app = await startApp({ settings: { cdsClients: clients } });
    try {
      for (const [alg, , priv, extra] of kinds) {
        const token = await new SignJWT({ iss: `https://${alg.toLowerCase()}.example`, aud: `${PUBLIC_BASE_URL}${DISCOVERY_PATH}`, jti: randomUUID() })
          .setProtectedHeader({ alg, kid: String(extra['kid']), typ: 'JWT' })
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(priv);
        const res = await app.app.inject({ method: 'GET', url: DISCOVERY_PATH, headers: { authorization: `Bearer ${token}` } });
        expect(res.statusCode, alg).toBe(200);
      }
    } finally {
      await app.close();
    }
  });
});

describe('npm start (node dist/server.js) with a bad inline key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tnp-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const { settingsFile, run } = serverProcess(dir);

  it('stops with exit 1, the key and the fault named', async () => {
    for (const [key, why] of [
      [noKid, 'has no "kid"'],
      [{ ...good, kid: 'abc', x: 'abc', y: 'def' }, '(kid "abc") is not a valid public key'],
      [publicJwk(ec384.privateKey, { kid: 'private' }), 'never put a private key in the settings'],
    ] as const) {
      const r = run(settingsFile({ ...withKey(key), storage: { kind: 'sqlite', path: join(dir, 'never.sqlite') } }));
      expect(await r.exited).toBe(1);
      expect(r.output()).toContain('cannot start');
      expect(r.output()).toContain('cdsClients[0].jwks.keys[1]');
      expect(r.output()).toContain(why);
      // The private key's secret is never echoed.
      expect(r.output()).not.toContain(String((publicJwk(ec384.privateKey, {}) as { d: string }).d));
    }
  });
});
