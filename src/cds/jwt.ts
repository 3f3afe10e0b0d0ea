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
 *
 * The parts: src/cds/jwt-checks.ts (header, claims, storable text), src/cds/jwt-keys.ts (key sources and
 * the algorithm each key verifies), src/cds/jwks-fetch.ts (the bounded JWKS fetch).
 */
import { errors, jwtVerify, type JWTPayload } from 'jose';
import { TnpError } from '../errors.js';
import type { CdsClientSettings, Settings } from '../settings.js';
import { createJwksFetcher, type FetchJwks } from './jwks-fetch.js';
import { checkHeader, checkStoredClaims, describeJoseError, parseBearer, unverifiedIssuer } from './jwt-checks.js';
import { inlineKeySource, remoteKeySource, type KeySource } from './jwt-keys.js';
import { AUD_LOG_MAX, CdsUnauthorizedError, quote, refuse } from './jwt-refusal.js';

import { DEFAULT_JWT_ALGORITHMS } from './jwt-algorithms.js';
import { DEV_CLIENT_ISS, isLocalPeer, type Peer } from '../dev/local-peer.js';

export { ALLOWED_JWT_ALGORITHMS, DEFAULT_JWT_ALGORITHMS } from './jwt-algorithms.js';
export { JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES } from './jwks-fetch.js';
export { JWKS_MAX_AGE_MS, JWKS_REFETCH_MIN_INTERVAL_MS } from './jwt-keys.js';
export { CdsUnauthorizedError };

const { JWTClaimValidationFailed } = errors;
type JWTClaimValidationFailed = InstanceType<typeof JWTClaimValidationFailed>;

/** A CDS client whose JWT was verified; the fields are safe to log and to store (never the token itself). */
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
  /** The clock: every time check (and the JWKS retry and refetch limits) uses it. */
  readonly now: () => Date;
  /**
   * Fetches a client's JWKS document from its configured `jwksUrl` (injectable for tests). Default:
   * {@link createJwksFetcher} (no redirects, 64 kB, 3 s).
   */
  readonly fetchJwks?: FetchJwks;
  /** Debug lines (a `jku` ignored for a client with inline keys). Default: none. */
  readonly log?: { debug(obj: object, msg: string): void };
}

export type JwtVerifierSettings = Pick<Settings, 'cdsClients' | 'publicBaseUrl' | 'jwtClockToleranceSeconds' | 'jwtMaxLifetimeSeconds'> & Partial<Pick<Settings, 'jwtAlgorithms'>>;

export interface VerifyOptions {
  /** The caller commits the `jti` itself (with its audit record). */
  readonly deferReplayGuard?: boolean;
  /**
   * Who sent the request (its socket's peer, and whether it came through a proxy). The local development
   * client ({@link DEV_CLIENT_ISS}) is accepted only from this machine: without a peer it is refused.
   */
  readonly peer?: Peer;
}

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
  verify(authorizationHeader: string | undefined, endpointPath: string, opts?: VerifyOptions): Promise<VerifiedClient>;
}

/**
 * Until when the replay guard must hold a verified token's `jti`: as long as the token itself would be
 * accepted (`exp` plus the clock tolerance).
 */
export function replayGuardExpiry(client: VerifiedClient, clockToleranceSeconds: number): Date {
  return new Date((client.exp + clockToleranceSeconds) * 1000);
}

/**
 * `iat` may lie this far in the future at least, whatever the configured tolerance: claims are whole
 * seconds and the CDS Hooks sandbox sends `iat` up to 0.5 s early.
 */
const MIN_IAT_FUTURE_SLACK_SECONDS = 1;

/** jose's refusal of the `aud` claim (missing, or not the audience expected), with the token's claims. */
function isAudRefusal(e: unknown): e is JWTClaimValidationFailed & { payload: JWTPayload } {
  return e instanceof JWTClaimValidationFailed && e.claim === 'aud' && typeof e.payload === 'object' && e.payload !== null;
}

interface Trusted {
  readonly client: CdsClientSettings;
  readonly keys: KeySource;
}

/**
 * Creates the verifier of CDS client JWTs.
 *
 * Checks, in order (each refusal is a {@link CdsUnauthorizedError}): a `Bearer` compact JWS; `alg` in
 * {@link ALLOWED_JWT_ALGORITHMS} (never `none` nor `HS*`); `kid` present and storable text; `typ` `JWT`;
 * `iss` configured; for a client with a `jwksUrl`, a `jku` header, when present, exactly that URL (a
 * token-supplied `jku` is never fetched; for a client with inline keys nothing is fetched and a `jku` is
 * ignored); `kid` in the client's JWKS (a remote JWKS is fetched again on an unknown `kid`, rate limited);
 * `alg` accepted by that key (its own `alg`, else `jwtAlgorithms`); the signature; `aud` exactly
 * `publicBaseUrl + endpointPath` (a string, or an array naming that URL and no other audience); `exp`, `iat` and `jti` present; `exp` not past and
 * `iat` not in the future (both with `jwtClockToleranceSeconds`, and at least 1 s of slack for `iat`);
 * `exp - iat` at most `jwtMaxLifetimeSeconds`; `jti`, `tenant` and `sub` storable text; `tenant` equal to
 * the client's when its entry names one; the local development client only from this machine (`opts.peer`); and last the `jti` not seen before (remembered until `exp` plus
 * the tolerance). `sub` is not required: it is not in the CDS Hooks 1.0/2.0 payload.
 *
 * @see {@link https://cds-hooks.hl7.org/2.0/#trusting-cds-clients | CDS Hooks 2.0, Trusting CDS Clients}
 * @throws TnpError `TNP_ERR_SETTINGS_INVALID` when two `cdsClients` entries share an `iss` or one has
 *   neither `jwks` nor `jwksUrl`.
 */
export function createJwtVerifier(settings: JwtVerifierSettings, deps: JwtVerifierDeps): JwtVerifier {
  const fetchJwks = deps.fetchJwks ?? createJwksFetcher();
  const algorithms = settings.jwtAlgorithms ?? DEFAULT_JWT_ALGORITHMS;
  const base = settings.publicBaseUrl.replace(/\/+$/, '');
  const tolerance = settings.jwtClockToleranceSeconds;
  const iatSlack = Math.max(tolerance, MIN_IAT_FUTURE_SLACK_SECONDS);

  const trusted = new Map<string, Trusted>();
  for (const [i, client] of settings.cdsClients.entries()) {
    if (trusted.has(client.iss)) {
      throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "cdsClients[${i}].iss" repeats ${JSON.stringify(client.iss)}`);
    }
    let keys: KeySource;
    if (client.jwks !== undefined) keys = inlineKeySource(client.iss, client.jwks, algorithms);
    else if (client.jwksUrl !== undefined) keys = remoteKeySource(client.iss, client.jwksUrl, fetchJwks, algorithms);
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
      // The local development client's key lives on this machine and is trusted from it only (hazard I-01).
      if (iss === DEV_CLIENT_ISS && !isLocalPeer(opts.peer)) return refuse(`the local development client is trusted on loopback only (peer ${quote(opts.peer?.address ?? 'unknown')}${opts.peer?.forwarded === true ? ', forwarded by a proxy' : ''})`);
      const { client, keys } = entry;
      if (header.jku !== undefined) {
        // Inline keys: nothing is fetched, whatever the token names (the CDS Hooks sandbox and many EHRs
        // always send jku). A jwksUrl: the token may only name that URL.
        if (client.jwksUrl === undefined) deps.log?.debug({ event: 'jwt-jku-ignored', iss, jku: quote(header.jku) }, 'JWT jku ignored: the client\'s keys are configured inline');
        else if (header.jku !== client.jwksUrl) return refuse(`jku ${quote(header.jku)} is not the jwksUrl configured for iss ${quote(iss)}`);
      }

      const now = deps.now();
      const nowMs = now.getTime();
      const getKey = await keys.keysFor(header.kid, header.alg, nowMs);
      const audience = `${base}${endpointPath.startsWith('/') ? '' : '/'}${endpointPath}`;

      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          algorithms: [header.alg],
          audience,
          issuer: client.iss,
          clockTolerance: tolerance,
          currentDate: now,
          requiredClaims: ['iat', 'exp', 'jti'],
          typ: 'JWT',
        }));
      } catch (cause) {
        // A wrong aud is the commonest set-up fault (publicBaseUrl, or the path the EHR calls): the log
        // names the URL expected and, cut short, what the token holds. The 401 body says nothing.
        const audDetail = isAudRefusal(cause) ? ` (expected ${JSON.stringify(audience)}, received ${cause.payload.aud === undefined ? 'no aud' : quote(cause.payload.aud, AUD_LOG_MAX)})` : '';
        return refuse(`JWT refused for iss ${quote(iss)} kid ${quote(header.kid)}: ${describeJoseError(cause)}${audDetail}`, cause);
      }

      // jose has checked that iat and exp are finite numbers, exp not past, aud and iss.
      // CDS Hooks 2.0: aud (a string or an array, RFC 7519) MUST be the exact URL called. jose accepts an
      // array that merely contains it; an array naming any other audience is refused here: such a token
      // was made for another service too, which could replay it to this one.
      if (Array.isArray(payload.aud) && payload.aud.some((a) => a !== audience)) return refuse(`JWT aud names other audiences besides ${JSON.stringify(audience)} (iss ${quote(iss)}; received ${quote(payload.aud, AUD_LOG_MAX)})`);
      const { iat, exp } = payload as JWTPayload & { iat: number; exp: number };
      const { jti, tenant } = checkStoredClaims(payload, iss);
      if (iat > nowMs / 1000 + iatSlack) return refuse(`JWT iat is ${Math.round(iat - nowMs / 1000)} s in the future (iss ${quote(iss)})`);
      if (exp - iat > settings.jwtMaxLifetimeSeconds) {
        return refuse(`JWT lifetime exp - iat = ${exp - iat} s exceeds jwtMaxLifetimeSeconds ${settings.jwtMaxLifetimeSeconds} (iss ${quote(iss)})`);
      }
      if (client.tenant !== undefined && tenant !== client.tenant) {
        return refuse(`JWT tenant ${quote(tenant)} is not the tenant configured for iss ${quote(iss)}`);
      }

      const verified: VerifiedClient = { iss, tenant: tenant ?? null, jti, kid: header.kid, exp };
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
