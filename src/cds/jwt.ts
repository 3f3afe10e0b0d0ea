/**
 * Verification of the JWT a CDS client (the EHR) sends with every CDS Hooks call.
 *
 * Implements {@link https://cds-hooks.hl7.org/2.0/#trusting-cds-clients | CDS Hooks 2.0, "Trusting CDS Clients"}
 * and the checks of the CDS Hooks "Implementation Best Practices" (validate `iss`, `aud`, `exp`,
 * `tenant`, the signature with the `kid` of the client's JWKS, and refuse a replayed `jti`).
 *
 * Every refusal is one {@link CdsUnauthorizedError} (`TNP_ERR_UNAUTHORIZED`, HTTP 401). Its message is
 * the registry's generic title; the reason (for logs only, never for the client, which gets 401 with
 * no detail) is in `reason`. Reasons never contain the token.
 */
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type ProtectedHeaderParameters,
} from 'jose';
import { TnpError } from '../errors.js';
import type { CdsClientSettings, Settings } from '../settings.js';

/** A CDS client whose JWT was verified; the fields are safe to log (never the token itself). */
export interface VerifiedClient {
  readonly iss: string;
  readonly tenant: string | null;
  readonly jti: string;
  readonly kid: string;
  /** The token's `exp`, in epoch seconds. */
  readonly exp: number;
}

export interface JwtVerifierDeps {
  /**
   * Records `jti` for `iss` until `expiresAt`; resolves `false` when it was already recorded (a replay).
   * It must be shared by every process that serves the same clients. Its own failures (store down)
   * propagate unchanged: they are not authentication failures.
   */
  readonly rememberJti: (iss: string, jti: string, expiresAt: Date) => Promise<boolean>;
  /** The clock: every time check (and the JWKS refetch rate limit) uses it. */
  readonly now: () => Date;
  /**
   * Fetches a client's JWKS document from its configured `jwksUrl` (injectable for tests). The default
   * uses the global `fetch` with a {@link JWKS_FETCH_TIMEOUT_MS} timeout and no redirects.
   */
  readonly fetchJwks?: (url: string) => Promise<unknown>;
}

export type JwtVerifierSettings = Pick<Settings, 'cdsClients' | 'publicBaseUrl' | 'jwtClockToleranceSeconds' | 'jwtMaxLifetimeSeconds'>;

export interface JwtVerifier {
  /**
   * Verifies the `Authorization` header of a CDS Hooks call made to `endpointPath`.
   *
   * @param authorizationHeader - The raw header value (`Bearer <JWT>`), or `undefined` when absent.
   * @param endpointPath - The path called, e.g. `/cds-services/hs-troponin-chest-pain`; the expected
   *   `aud` is `publicBaseUrl + endpointPath` (never derived from the request's Host header).
   * @returns The verified client.
   * @throws {@link CdsUnauthorizedError} on any refusal.
   */
  verify(authorizationHeader: string | undefined, endpointPath: string, opts?: { readonly deferReplayGuard?: boolean }): Promise<VerifiedClient>;
}

/**
 * Until when the replay guard must hold a verified token's `jti`: as long as the token itself would be
 * accepted (`exp` plus the clock tolerance).
 */
export function replayGuardExpiry(client: VerifiedClient, clockToleranceSeconds: number): Date {
  return new Date((client.exp + clockToleranceSeconds) * 1000);
}

/**
 * Signature algorithms trusted. CDS Hooks 2.0 forbids `none` and symmetric algorithms, and recommends
 * ES384 and RS384.
 */
export const ALLOWED_JWT_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'] as const;

/** A client's `jwksUrl` is fetched again (on an unknown `kid` or a stale cache) at most this often. */
export const JWKS_REFETCH_MIN_INTERVAL_MS = 30_000;
/** A cached remote JWKS older than this is refreshed (so a key the client withdrew stops verifying). */
export const JWKS_MAX_AGE_MS = 60 * 60_000;
/** The default JWKS fetch gives up after this long. */
export const JWKS_FETCH_TIMEOUT_MS = 3_000;
/** The default JWKS fetch refuses a larger document. */
const JWKS_MAX_BYTES = 256 * 1024;
/** A longer Authorization header is refused without parsing. */
const MAX_AUTHORIZATION_LENGTH = 16 * 1024;
/**
 * `iat` may lie this far in the future at least, whatever the configured tolerance: claims are whole
 * seconds and the CDS Hooks sandbox sends `iat` up to 0.5 s early.
 */
const MIN_IAT_FUTURE_SLACK_SECONDS = 1;

const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;

/** `TNP_ERR_UNAUTHORIZED` with the reason for the logs. The message is generic on purpose. */
export class CdsUnauthorizedError extends TnpError {
  /** Why the token was refused: for logs only, never returned to the client. */
  readonly reason: string;

  constructor(reason: string, cause?: unknown) {
    super('TNP_ERR_UNAUTHORIZED', undefined, cause === undefined ? {} : { cause });
    this.name = 'CdsUnauthorizedError';
    this.reason = reason;
  }
}

function refuse(reason: string, cause?: unknown): never {
  throw new CdsUnauthorizedError(reason, cause);
}

/** Quotes an attacker-controlled value for a log line: JSON-escaped and cut short. */
function quote(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;

/**
 * Keeps the usable public signature keys of a JWKS document: drops symmetric (`oct`) keys and private
 * members, which do not belong in a client's published key set.
 */
function publicKeySet(doc: unknown): JSONWebKeySet {
  if (!isRecord(doc) || !Array.isArray(doc['keys'])) throw new Error('not a JWKS document (no "keys" array)');
  const keys: JWK[] = [];
  for (const k of doc['keys'] as unknown[]) {
    if (!isRecord(k) || typeof k['kty'] !== 'string' || k['kty'] === 'oct') continue;
    const copy: Record<string, unknown> = { ...k };
    for (const m of PRIVATE_JWK_MEMBERS) delete copy[m];
    keys.push(copy);
  }
  return { keys };
}

function hasKid(set: JSONWebKeySet, kid: string): boolean {
  return set.keys.some((k) => k.kid === kid);
}

/** The default JWKS fetch: the configured URL only, no redirects, bounded in time and size. */
async function defaultFetchJwks(url: string): Promise<unknown> {
  const res = await fetch(url, {
    headers: { accept: 'application/jwk-set+json, application/json' },
    redirect: 'error',
    signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`JWKS fetch answered HTTP ${res.status}`);
  const text = await res.text();
  if (text.length > JWKS_MAX_BYTES) throw new Error('JWKS document too large');
  return JSON.parse(text) as unknown;
}

interface KeySource {
  /** The key set to verify a token whose header names `kid`; refuses when `kid` is unknown. */
  keysFor(kid: string, nowMs: number): Promise<JWTVerifyGetKey>;
}

function inlineKeySource(client: CdsClientSettings & { jwks: NonNullable<CdsClientSettings['jwks']> }): KeySource {
  const set = publicKeySet(client.jwks);
  let getKey: JWTVerifyGetKey | null = null;
  return {
    keysFor(kid) {
      if (!hasKid(set, kid)) refuse(`unknown kid ${quote(kid)} for iss ${quote(client.iss)} (inline jwks)`);
      getKey ??= createLocalJWKSet(set);
      return Promise.resolve(getKey);
    },
  };
}

/**
 * A client's remote JWKS: fetched on first use from the configured URL only, cached, and fetched
 * again on an unknown `kid` or when older than {@link JWKS_MAX_AGE_MS}, at most once per
 * {@link JWKS_REFETCH_MIN_INTERVAL_MS}. Concurrent verifications share one fetch. A failed refresh keeps
 * the keys already held.
 */
function remoteKeySource(iss: string, url: string, fetchJwks: (url: string) => Promise<unknown>): KeySource {
  let set: JSONWebKeySet | null = null;
  let getKey: JWTVerifyGetKey | null = null;
  let loadedAtMs = 0;
  let lastAttemptMs: number | null = null;
  let lastError: string | null = null;
  let inflight: Promise<void> | null = null;

  const refresh = (nowMs: number): Promise<void> => {
    if (inflight !== null) return inflight;
    lastAttemptMs = nowMs;
    inflight = (async () => {
      try {
        const doc = await fetchJwks(url);
        const next = publicKeySet(doc);
        const nextGetKey = createLocalJWKSet(next);
        set = next;
        getKey = nextGetKey;
        loadedAtMs = nowMs;
        lastError = null;
      } catch (e) {
        lastError = e instanceof Error ? e.message : 'JWKS fetch failed';
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  };

  return {
    async keysFor(kid, nowMs) {
      const stale = set === null || !hasKid(set, kid) || nowMs - loadedAtMs > JWKS_MAX_AGE_MS;
      if (stale && (inflight !== null || lastAttemptMs === null || nowMs - lastAttemptMs >= JWKS_REFETCH_MIN_INTERVAL_MS)) {
        await refresh(nowMs);
      }
      // Read after the await: `refresh` may have replaced them.
      const current = set;
      const currentGetKey = getKey;
      if (current === null || currentGetKey === null) {
        return refuse(`no JWKS for iss ${quote(iss)} from its jwksUrl${lastError !== null ? ` (${quote(lastError)})` : ''}`);
      }
      if (!hasKid(current, kid)) {
        return refuse(`unknown kid ${quote(kid)} for iss ${quote(iss)} (jwksUrl; refetch at most every ${JWKS_REFETCH_MIN_INTERVAL_MS / 1000} s${lastError !== null ? `; last fetch failed: ${quote(lastError)}` : ''})`);
      }
      return currentGetKey;
    },
  };
}

interface Trusted {
  readonly client: CdsClientSettings;
  readonly keys: KeySource;
}

function parseBearer(header: string | undefined): string {
  if (header === undefined) return refuse('no Authorization header');
  if (typeof header !== 'string') return refuse('Authorization header is not a string');
  if (header.length > MAX_AUTHORIZATION_LENGTH) return refuse('Authorization header too long');
  const m = BEARER.exec(header.trim());
  if (m === null || m[1] === undefined) return refuse('Authorization header is not "Bearer <compact JWS>"');
  return m[1];
}

function checkHeader(token: string): ProtectedHeaderParameters & { alg: (typeof ALLOWED_JWT_ALGORITHMS)[number]; kid: string } {
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch (cause) {
    return refuse('JWT header is not base64url JSON', cause);
  }
  const { alg, kid, typ } = header;
  if (typeof alg !== 'string') return refuse('JWT header has no alg');
  if (alg.toLowerCase() === 'none') return refuse('JWT alg is none');
  if (/^HS/i.test(alg)) return refuse(`JWT alg ${quote(alg)} is symmetric`);
  if (!(ALLOWED_JWT_ALGORITHMS as readonly string[]).includes(alg)) return refuse(`JWT alg ${quote(alg)} is not allowed`);
  if (typeof kid !== 'string' || kid === '') return refuse('JWT header has no kid');
  if (typeof typ !== 'string' || typ.toUpperCase() !== 'JWT') return refuse(`JWT typ is ${quote(typ)}, not "JWT"`);
  return { ...header, alg: alg as (typeof ALLOWED_JWT_ALGORITHMS)[number], kid };
}

function unverifiedIssuer(token: string): string {
  let payload: JWTPayload;
  try {
    payload = decodeJwt(token);
  } catch (cause) {
    return refuse('JWT payload is not base64url JSON', cause);
  }
  if (typeof payload.iss !== 'string' || payload.iss === '') return refuse('JWT has no iss');
  return payload.iss;
}

function describeJoseError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${typeof code === 'string' ? `${code}: ` : ''}${e.message}`;
  }
  return 'verification failed';
}

/**
 * Creates the verifier of CDS client JWTs.
 *
 * Checks, in order (each refusal is a {@link CdsUnauthorizedError}): a `Bearer` compact JWS; `alg` in
 * {@link ALLOWED_JWT_ALGORITHMS} (never `none` nor `HS*`); `kid` present; `typ` `JWT`; `iss` configured;
 * a `jku` header, when present, exactly the client's configured `jwksUrl` (a token-supplied `jku` is
 * never fetched); `kid` in the client's JWKS (a remote JWKS is fetched again once, rate limited, on an
 * unknown `kid`); the signature; `aud` (string or array) containing exactly `publicBaseUrl + endpointPath`;
 * `exp`, `iat` and `jti` present; `exp` not past and `iat` not in the future (both with
 * `jwtClockToleranceSeconds`, and at least 1 s of slack for `iat`); `exp - iat` at most
 * `jwtMaxLifetimeSeconds`; `tenant` equal to the client's when its entry names one; and last the `jti`
 * not seen before (remembered until `exp` plus the tolerance). `sub` is not required: it is not in the
 * CDS Hooks 1.0/2.0 payload.
 *
 * @see {@link https://cds-hooks.hl7.org/2.0/#trusting-cds-clients | CDS Hooks 2.0, Trusting CDS Clients}
 * @throws TnpError `TNP_ERR_SETTINGS_INVALID` when two `cdsClients` entries share an `iss` or one has
 *   neither `jwks` nor `jwksUrl`.
 */
export function createJwtVerifier(settings: JwtVerifierSettings, deps: JwtVerifierDeps): JwtVerifier {
  const fetchJwks = deps.fetchJwks ?? defaultFetchJwks;
  const base = settings.publicBaseUrl.replace(/\/+$/, '');
  const tolerance = settings.jwtClockToleranceSeconds;
  const iatSlack = Math.max(tolerance, MIN_IAT_FUTURE_SLACK_SECONDS);

  const trusted = new Map<string, Trusted>();
  for (const [i, client] of settings.cdsClients.entries()) {
    if (trusted.has(client.iss)) {
      throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "cdsClients[${i}].iss" repeats ${JSON.stringify(client.iss)}`);
    }
    let keys: KeySource;
    if (client.jwks !== undefined) keys = inlineKeySource({ ...client, jwks: client.jwks });
    else if (client.jwksUrl !== undefined) keys = remoteKeySource(client.iss, client.jwksUrl, fetchJwks);
    else throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "cdsClients[${i}]" needs "jwks" or "jwksUrl"`);
    trusted.set(client.iss, { client, keys });
  }

  return {
    async verify(authorizationHeader, endpointPath, opts = {}) {
      const token = parseBearer(authorizationHeader);
      const header = checkHeader(token);
      const iss = unverifiedIssuer(token);
      const entry = trusted.get(iss);
      if (entry === undefined) return refuse(`unknown iss ${quote(iss)}`);
      const { client, keys } = entry;
      if (header.jku !== undefined && (client.jwksUrl === undefined || header.jku !== client.jwksUrl)) {
        return refuse(`jku ${quote(header.jku)} is not the jwksUrl configured for iss ${quote(iss)}`);
      }

      const now = deps.now();
      const nowMs = now.getTime();
      const getKey = await keys.keysFor(header.kid, nowMs);
      const audience = `${base}${endpointPath.startsWith('/') ? '' : '/'}${endpointPath}`;

      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          algorithms: [...ALLOWED_JWT_ALGORITHMS],
          audience,
          issuer: client.iss,
          clockTolerance: tolerance,
          currentDate: now,
          requiredClaims: ['iat', 'exp', 'jti'],
          typ: 'JWT',
        }));
      } catch (cause) {
        return refuse(`JWT refused for iss ${quote(iss)} kid ${quote(header.kid)}: ${describeJoseError(cause)}`, cause);
      }

      // jose has checked that iat and exp are finite numbers, exp not past, aud and iss.
      const { iat, exp, jti } = payload as JWTPayload & { iat: number; exp: number };
      if (typeof jti !== 'string' || jti === '') return refuse(`JWT jti is not a non-empty string (iss ${quote(iss)})`);
      if (iat > nowMs / 1000 + iatSlack) return refuse(`JWT iat is ${Math.round(iat - nowMs / 1000)} s in the future (iss ${quote(iss)})`);
      if (exp - iat > settings.jwtMaxLifetimeSeconds) {
        return refuse(`JWT lifetime exp - iat = ${exp - iat} s exceeds jwtMaxLifetimeSeconds ${settings.jwtMaxLifetimeSeconds} (iss ${quote(iss)})`);
      }
      const tenantClaim = payload['tenant'];
      if (tenantClaim !== undefined && typeof tenantClaim !== 'string') return refuse(`JWT tenant is not a string (iss ${quote(iss)})`);
      if (client.tenant !== undefined && tenantClaim !== client.tenant) {
        return refuse(`JWT tenant ${quote(tenantClaim)} is not the tenant configured for iss ${quote(iss)}`);
      }

      const verified: VerifiedClient = { iss, tenant: tenantClaim ?? null, jti, kid: header.kid, exp };
      // deferReplayGuard: the caller commits the jti itself (with its audit record, in one transaction)
      // before it answers anything, and refuses the call when the pair turns out to be taken.
      if (opts.deferReplayGuard === true) return verified;
      // Remember the jti for as long as the token itself would be accepted.
      const fresh = await deps.rememberJti(iss, jti, replayGuardExpiry(verified, tolerance));
      if (!fresh) return refuse(`JWT jti ${quote(jti)} replayed (iss ${quote(iss)})`);
      return verified;
    },
  };
}
