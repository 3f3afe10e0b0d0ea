/**
 * The keys a CDS client's entry gives inline (`cdsClients[].jwks.keys`), checked when the settings are
 * loaded, so that a key no token could ever verify against stops the start, the key named, instead of
 * every call of that client being refused 401 ("unknown kid", "Invalid keyData") with the log pointing at
 * the token. Synchronous (node:crypto), so the settings stay parsed once, validated and frozen.
 *
 * The rules are those the verifier applies at each call (src/cds/jwt-keys.ts and jose's key set): a key is
 * found by its `kid`, verifies its own `alg` when it has one and else the site's `jwtAlgorithms`, and jose
 * takes an EC key for the ES algorithm of its curve only, an RSA key of 2048 bits or more, an OKP key on
 * Ed25519 for EdDSA, `use` "sig" and `key_ops` with "verify" when present.
 */
import { createPublicKey, type JsonWebKey as NodeJwk, type KeyObject } from 'node:crypto';
import { isAllowedJwtAlgorithm, type JwtAlgorithm } from './jwt-algorithms.js';
import { isStorableClaim, MAX_CLAIM_LENGTH } from './jwt-checks.js';
import { isObject } from '../util/guards.js';

/** The members only a private (or symmetric) JWK has (RFC 7518 section 6, RFC 8037; `priv`: AKP). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;

/** The algorithms a key of this type and curve can verify (jose 6: src/cds/jwt-algorithms.ts's list). */
function algorithmsFor(kty: string, crv: unknown): readonly JwtAlgorithm[] {
  if (kty === 'RSA') return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
  if (kty === 'EC') return crv === 'P-256' ? ['ES256'] : crv === 'P-384' ? ['ES384'] : crv === 'P-521' ? ['ES512'] : [];
  if (kty === 'OKP') return crv === 'Ed25519' ? ['EdDSA'] : [];
  return [];
}

/** What a key is, for a message: "an EC P-256 key", "an RSA key". */
function describe(kty: string, crv: unknown): string {
  return `${kty === 'EC' || kty === 'RSA' || kty === 'OKP' ? 'an' : 'a'} ${kty}${typeof crv === 'string' ? ` ${crv}` : ''} key`;
}

/** The problem with one inline JWK, or null when a token can be verified against it. */
function keyProblem(k: unknown, jwtAlgorithms: readonly JwtAlgorithm[]): string | null {
  if (!isObject(k)) return 'is not a JSON object (a JWK)';
  const privateMember = PRIVATE_MEMBERS.find((m) => m in k);
  if (k['kty'] === 'oct') return 'is a symmetric ("oct") key: a shared secret must never be in the settings, and CDS clients sign with an asymmetric key (give its public JWK)';
  if (privateMember !== undefined) return `is a private key (it has "${privateMember}"): never put a private key in the settings; give the client's public key only (the JWK without "${privateMember}" and the other private members)`;
  if (!('kid' in k)) return 'has no "kid": each key needs the key id the client\'s tokens name in their header';
  if (!isStorableClaim(k['kid'], MAX_CLAIM_LENGTH)) return `has a "kid" that is not text a token can name (a string of 1 to ${MAX_CLAIM_LENGTH} characters, no control character)`;
  const kty = k['kty'];
  if (typeof kty !== 'string') return 'has no "kty" (the key type: "EC", "RSA" or "OKP")';
  if (kty !== 'EC' && kty !== 'RSA' && kty !== 'OKP') return `has "kty" ${JSON.stringify(kty).slice(0, 40)}, which is not supported ("EC", "RSA" or "OKP")`;
  const crv = k['crv'];
  const fits = algorithmsFor(kty, crv);
  if (fits.length === 0) return `is ${describe(kty, crv)}, which no supported algorithm verifies (EC: P-256, P-384, P-521; OKP: Ed25519)`;
  if (k['use'] !== undefined && k['use'] !== 'sig') return `has "use" ${JSON.stringify(k['use']).slice(0, 40)}: a key that verifies tokens has "use": "sig" or none`;
  const ops = k['key_ops'];
  if (ops !== undefined && (!Array.isArray(ops) || !ops.includes('verify') || ops.some((o) => typeof o !== 'string') || new Set(ops).size !== ops.length)) {
    return 'has "key_ops" without "verify" (or not a list of distinct strings): it could not verify a token';
  }
  if (k['ext'] !== undefined && typeof k['ext'] !== 'boolean') return 'has "ext" that is not true or false';
  const alg = k['alg'];
  if (alg !== undefined) {
    if (!isAllowedJwtAlgorithm(alg)) return `has "alg" ${JSON.stringify(alg).slice(0, 40)}, which is not accepted (one of ${fits.join(', ')} for ${describe(kty, crv)}; never "none" or HS*)`;
    if (!fits.includes(alg)) return `has "alg" "${alg}", which ${describe(kty, crv)} cannot verify (it can: ${fits.join(', ')})`;
  } else if (!jwtAlgorithms.some((a) => fits.includes(a))) {
    return `has no "alg", so it verifies jwtAlgorithms (${jwtAlgorithms.join(', ')}), none of which ${describe(kty, crv)} can verify: give the key its "alg" (${fits.join(' or ')}), or add it to jwtAlgorithms`;
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: k as NodeJwk, format: 'jwk' });
  } catch (e) {
    return `is not a valid public key (${e instanceof Error ? e.message : 'it does not import'}): check its "x"/"y" (EC, OKP) or "n"/"e" (RSA) against the key the client published`;
  }
  if (kty === 'RSA') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) return `is an RSA key of ${bits} bits: RS* and PS* need 2048 bits or more`;
  }
  return null;
}

/**
 * Every problem of the inline keys of `cdsClients`, each naming the key as a person edits the file
 * (`"cdsClients[0].jwks.keys[1]" (kid "k1") has no "alg" ...`). Empty when every key is usable.
 */
export function inlineKeyProblems(clients: readonly { readonly jwks?: { readonly keys: readonly unknown[] } }[], jwtAlgorithms: readonly JwtAlgorithm[]): string[] {
  return clients.flatMap((c, i) =>
    (c.jwks?.keys ?? []).flatMap((k, j) => {
      const problem = keyProblem(k, jwtAlgorithms);
      if (problem === null) return [];
      const kid = isObject(k) && typeof k['kid'] === 'string' ? ` (kid ${JSON.stringify(k['kid']).slice(0, 60)})` : '';
      return [`"cdsClients[${i}].jwks.keys[${j}]"${kid} ${problem}`];
    }),
  );
}
