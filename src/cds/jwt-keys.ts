/**
 * Where a CDS client's public keys come from (inline in the settings, or its configured `jwksUrl`), and
 * which algorithm each key verifies: its own `alg` when it has one, and only that; a key without `alg`
 * only the site's `jwtAlgorithms` (default ES384 and RS384). Every refusal is a {@link CdsUnauthorizedError}.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';
import { JWKS_RETRY_MAX_MS, JWKS_RETRY_MIN_MS, type FetchJwks } from './jwks-fetch.js';
import type { JwtAlgorithm } from './jwt-algorithms.js';
import { quote, refuse } from './jwt-refusal.js';
import { isObject } from '../util/guards.js';

/** A client's `jwksUrl` is fetched again (on an unknown `kid` or a stale cache) at most this often once keys are held. */
export const JWKS_REFETCH_MIN_INTERVAL_MS = 30_000;
/** A cached remote JWKS older than this is refreshed (so a key the client withdrew stops verifying). */
export const JWKS_MAX_AGE_MS = 60 * 60_000;

export interface KeySource {
  /**
   * The keys that may verify a token whose header names `kid` and `alg`; refuses when no key has that
   * `kid`, or when none of them accepts `alg`.
   */
  keysFor(kid: string, alg: JwtAlgorithm, nowMs: number): Promise<JWTVerifyGetKey>;
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;

/**
 * Keeps the usable public signature keys of a JWKS document: drops symmetric (`oct`) keys and private
 * members, which do not belong in a client's published key set.
 */
export function publicKeySet(doc: unknown): JSONWebKeySet {
  if (!isObject(doc) || !Array.isArray(doc['keys'])) throw new Error('not a JWKS document (no "keys" array)');
  const keys: JWK[] = [];
  for (const k of doc['keys'] as unknown[]) {
    if (!isObject(k) || typeof k['kty'] !== 'string' || k['kty'] === 'oct') continue;
    const copy: Record<string, unknown> = { ...k };
    for (const m of PRIVATE_JWK_MEMBERS) delete copy[m];
    keys.push(copy);
  }
  return { keys };
}

function hasKid(set: JSONWebKeySet, kid: string): boolean {
  return set.keys.some((k) => k.kid === kid);
}

/**
 * One key set with the algorithm rule applied: for each (kid, alg) asked, the keys of that kid that accept
 * that alg, as a jose key set (kept, so each key is imported once). At most one entry per key and allowed
 * algorithm: only a kid present in the set gets one.
 */
class PolicedKeySet {
  private readonly byKidAlg = new Map<string, JWTVerifyGetKey>();

  constructor(
    readonly set: JSONWebKeySet,
    private readonly defaultAlgorithms: readonly JwtAlgorithm[],
  ) {}

  has(kid: string): boolean {
    return hasKid(this.set, kid);
  }

  /** The jose key set for (kid, alg), or a refusal naming what the key accepts. Call after `has(kid)`. */
  keysFor(kid: string, alg: JwtAlgorithm, iss: string): JWTVerifyGetKey {
    const cacheKey = `${alg}\u0000${kid}`;
    const cached = this.byKidAlg.get(cacheKey);
    if (cached !== undefined) return cached;
    const ofKid = this.set.keys.filter((k) => k.kid === kid);
    const accepting = ofKid.filter((k) => (typeof k.alg === 'string' ? k.alg === alg : this.defaultAlgorithms.includes(alg)));
    if (accepting.length === 0) {
      const accepts = [...new Set(ofKid.flatMap((k): readonly string[] => (typeof k.alg === 'string' ? [k.alg] : this.defaultAlgorithms)))].join(', ');
      return refuse(`alg ${quote(alg)} is not accepted for kid ${quote(kid)} of iss ${quote(iss)} (it accepts: ${accepts}; a key without "alg" accepts jwtAlgorithms)`);
    }
    const getKey = createLocalJWKSet({ keys: accepting });
    this.byKidAlg.set(cacheKey, getKey);
    return getKey;
  }
}

/** A client's keys given inline in the settings: nothing is ever fetched. */
export function inlineKeySource(iss: string, jwks: unknown, defaultAlgorithms: readonly JwtAlgorithm[]): KeySource {
  const keys = new PolicedKeySet(publicKeySet(jwks), defaultAlgorithms);
  return {
    keysFor(kid, alg) {
      if (!keys.has(kid)) refuse(`unknown kid ${quote(kid)} for iss ${quote(iss)} (inline jwks)`);
      return Promise.resolve(keys.keysFor(kid, alg, iss));
    },
  };
}

/**
 * A client's remote JWKS: fetched on first use from the configured URL only, cached, and fetched again
 * on an unknown `kid` or when older than {@link JWKS_MAX_AGE_MS}. Concurrent verifications share one fetch.
 *
 * - While no key is held, a failed fetch is retried after a back-off of {@link JWKS_RETRY_MIN_MS}, doubling
 *   after each further failure up to {@link JWKS_RETRY_MAX_MS}: a passing fault costs a second, not 30.
 * - Once keys are held, it is fetched again at most once per {@link JWKS_REFETCH_MIN_INTERVAL_MS}, and a
 *   failed refresh keeps the keys already held.
 */
export function remoteKeySource(iss: string, url: string, fetchJwks: FetchJwks, defaultAlgorithms: readonly JwtAlgorithm[]): KeySource {
  let keys: PolicedKeySet | null = null;
  let loadedAtMs = 0;
  let lastAttemptMs: number | null = null;
  let failures = 0;
  let lastError: string | null = null;
  let inflight: Promise<void> | null = null;

  /** How long after the last attempt the next one may start. */
  const waitMs = (): number => (keys === null ? Math.min(JWKS_RETRY_MIN_MS * 2 ** Math.max(0, failures - 1), JWKS_RETRY_MAX_MS) : JWKS_REFETCH_MIN_INTERVAL_MS);

  const refresh = (nowMs: number): Promise<void> => {
    if (inflight !== null) return inflight;
    lastAttemptMs = nowMs;
    inflight = (async () => {
      try {
        keys = new PolicedKeySet(publicKeySet(await fetchJwks(url)), defaultAlgorithms);
        loadedAtMs = nowMs;
        failures = 0;
        lastError = null;
      } catch (e) {
        failures += 1;
        lastError = e instanceof Error ? e.message : 'JWKS fetch failed';
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  };

  return {
    async keysFor(kid, alg, nowMs) {
      const stale = keys === null || !keys.has(kid) || nowMs - loadedAtMs > JWKS_MAX_AGE_MS;
      if (stale && (inflight !== null || lastAttemptMs === null || nowMs - lastAttemptMs >= waitMs())) {
        await refresh(nowMs);
      }
      // Read after the await: `refresh` may have replaced them.
      const current = keys;
      if (current === null) {
        const retryS = lastAttemptMs === null ? 0 : Math.max(0, Math.ceil((lastAttemptMs + waitMs() - nowMs) / 1000));
        return refuse(`no JWKS for iss ${quote(iss)} from its jwksUrl${lastError !== null ? ` (${quote(lastError)})` : ''}; retry in ${retryS} s`);
      }
      if (!current.has(kid)) {
        return refuse(`unknown kid ${quote(kid)} for iss ${quote(iss)} (jwksUrl; refetch at most every ${JWKS_REFETCH_MIN_INTERVAL_MS / 1000} s${lastError !== null ? `; last fetch failed: ${quote(lastError)}` : ''})`);
      }
      return current.keysFor(kid, alg, iss);
    },
  };
}
