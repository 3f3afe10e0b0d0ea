/**
 * The key of the local development client (`npx hs-troponin-cds dev`, `npx hs-troponin-cds call`): an
 * ES384 key pair made once and kept in the data directory (`dev-client-key.json`, mode 0600, never
 * overwritten). The service trusts its public half inline (no JWKS is fetched), for calls from this
 * machine only (src/dev/local-peer.ts). `call` signs with the private half the way an EHR, or the CDS
 * Hooks sandbox, signs: `alg`, `kid`, `typ: JWT`; `iss`, `aud` (the exact URL called), `iat`, `exp`, `jti`.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { TnpError } from '../errors.js';
import { DEV_CLIENT_ISS } from './local-peer.js';

export const DEV_KEY_FILE = 'dev-client-key.json';
const ALG = 'ES384';
/** Lifetime of a token `call` signs (a CDS call takes well under a second). */
const TOKEN_LIFETIME_SECONDS = 60;

export interface DevKey {
  readonly file: string;
  readonly kid: string;
  readonly privateJwk: JWK;
  /** The public half, as the service's `cdsClients[].jwks` holds it. */
  readonly publicJwk: JWK;
}

function publicOf(jwk: JWK, kid: string): JWK {
  const { kty, crv, x, y } = jwk;
  return { kty, crv, x, y, kid, alg: ALG, use: 'sig' };
}

function parse(file: string, text: string): DevKey {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new TnpError('TNP_ERR_DEV_CLIENT_KEY', `the local client key ${file} is not JSON`, { cause });
  }
  const jwk = (doc as { privateJwk?: JWK } | null)?.privateJwk;
  const kid = jwk?.kid;
  if (jwk === undefined || jwk.kty !== 'EC' || jwk.crv !== 'P-384' || typeof jwk.d !== 'string' || typeof kid !== 'string' || kid === '') {
    throw new TnpError('TNP_ERR_DEV_CLIENT_KEY', `the local client key ${file} is not an ES384 private key with a kid`);
  }
  return { file, kid, privateJwk: jwk, publicJwk: publicOf(jwk, kid) };
}

/** The key in `dataDir`, made (mode 0600) when there is none. */
export async function loadOrCreateDevKey(dataDir: string): Promise<DevKey> {
  const file = join(dataDir, DEV_KEY_FILE);
  try {
    return parse(file, readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const { privateKey } = await generateKeyPair(ALG, { extractable: true });
  const kid = randomUUID();
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: ALG };
  const text = `${JSON.stringify({ note: 'Private key of the local development client of hs-troponin-cds (npx hs-troponin-cds dev). Trusted from this machine only. Never copy it elsewhere.', iss: DEV_CLIENT_ISS, privateJwk }, null, 2)}\n`;
  try {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // Another process made it first: use that one.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return parse(file, readFileSync(file, 'utf8'));
    throw new TnpError('TNP_ERR_DEV_CLIENT_KEY', `cannot write the local client key ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parse(file, text);
}

/** The key in `dataDir`; made by `dev` only. */
export function readDevKey(dataDir: string): DevKey {
  const file = join(dataDir, DEV_KEY_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new TnpError('TNP_ERR_DEV_CLIENT_KEY', `no local client key at ${file}`, { cause });
  }
  return parse(file, text);
}

/** A CDS client JWT for `aud`, signed with the local key. */
export async function signDevToken(key: DevKey, aud: string, nowMs: number): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  const privateKey = await importJWK(key.privateJwk, ALG);
  return new SignJWT({ iss: DEV_CLIENT_ISS, aud, iat, exp: iat + TOKEN_LIFETIME_SECONDS, jti: randomUUID() })
    .setProtectedHeader({ alg: ALG, kid: key.kid, typ: 'JWT' })
    .sign(privateKey);
}
