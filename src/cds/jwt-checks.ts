/**
 * The checks of a CDS client JWT that need no key: the `Authorization` header, the protected header, the
 * unverified `iss` (to pick the client), and that every claim the service stores or logs is storable text.
 * Every refusal is a {@link CdsUnauthorizedError}.
 */
import { decodeJwt, decodeProtectedHeader, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { isStorableText } from '../audit/record.js';
import { isAllowedJwtAlgorithm, type JwtAlgorithm } from './jwt-algorithms.js';
import { quote, refuse } from './jwt-refusal.js';

/** A longer Authorization header is refused without parsing. */
const MAX_AUTHORIZATION_LENGTH = 16 * 1024;
/** Longest `jti`, `kid`, `tenant` or `sub` accepted (a UUID is 36; a key thumbprint 43). */
export const MAX_CLAIM_LENGTH = 256;
/** Longest `iss` accepted (a URL). */
export const MAX_ISS_LENGTH = 2048;

const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;
/** C0 and C1 controls and DEL: nothing a person reads in a log or an audit record. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A claim the service writes to the replay guard, the audit trail or the log must be text both audit
 * stores keep exactly (non-empty, no NUL, well-formed UTF-16: PostgreSQL refuses NUL, UTF-8 cannot carry a
 * lone surrogate), with no control character, and at most `max` UTF-16 units long.
 */
export function isStorableClaim(v: unknown, max: number): v is string {
  return isStorableText(v) && v.length <= max && !CONTROL.test(v);
}

function requireStorable(name: string, v: string, max: number, iss?: string): void {
  if (!isStorableClaim(v, max)) {
    refuse(`JWT ${name} is not storable text (empty, over ${max} characters, a NUL, a control character or a lone surrogate)${iss === undefined ? '' : ` (iss ${quote(iss)})`}`);
  }
}

export function parseBearer(header: string | undefined): string {
  if (header === undefined) return refuse('no Authorization header');
  if (typeof header !== 'string') return refuse('Authorization header is not a string');
  if (header.length > MAX_AUTHORIZATION_LENGTH) return refuse('Authorization header too long');
  const m = BEARER.exec(header.trim());
  if (m === null || m[1] === undefined) return refuse('Authorization header is not "Bearer <compact JWS>"');
  return m[1];
}

export type CheckedHeader = ProtectedHeaderParameters & { alg: JwtAlgorithm; kid: string };

/** `alg` allowed (never `none` nor `HS*`), `kid` storable text, `typ` JWT. */
export function checkHeader(token: string): CheckedHeader {
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
  if (!isAllowedJwtAlgorithm(alg)) return refuse(`JWT alg ${quote(alg)} is not allowed`);
  if (typeof kid !== 'string' || kid === '') return refuse('JWT header has no kid');
  requireStorable('kid', kid, MAX_CLAIM_LENGTH);
  if (typeof typ !== 'string' || typ.toUpperCase() !== 'JWT') return refuse(`JWT typ is ${quote(typ)}, not "JWT"`);
  return { ...header, alg, kid };
}

/** The `iss` of a token not yet verified: only to find the client whose keys verify it. */
export function unverifiedIssuer(token: string): string {
  let payload: JWTPayload;
  try {
    payload = decodeJwt(token);
  } catch (cause) {
    return refuse('JWT payload is not base64url JSON', cause);
  }
  if (typeof payload.iss !== 'string' || payload.iss === '') return refuse('JWT has no iss');
  requireStorable('iss', payload.iss, MAX_ISS_LENGTH);
  return payload.iss;
}

/**
 * The verified claims the service keeps: `jti` (replay guard, audit record, log), `tenant` (audit record)
 * and `sub` when present (not used today; checked so no later use can store what a store refuses).
 */
export function checkStoredClaims(payload: JWTPayload, iss: string): { jti: string; tenant: string | undefined } {
  const { jti, sub } = payload;
  if (typeof jti !== 'string' || jti === '') return refuse(`JWT jti is not a non-empty string (iss ${quote(iss)})`);
  requireStorable('jti', jti, MAX_CLAIM_LENGTH, iss);
  const tenant = payload['tenant'];
  if (tenant !== undefined && typeof tenant !== 'string') return refuse(`JWT tenant is not a string (iss ${quote(iss)})`);
  if (tenant !== undefined && tenant !== '') requireStorable('tenant', tenant, MAX_CLAIM_LENGTH, iss);
  if (sub !== undefined) {
    if (typeof sub !== 'string') return refuse(`JWT sub is not a string (iss ${quote(iss)})`);
    requireStorable('sub', sub, MAX_CLAIM_LENGTH, iss);
  }
  return { jti, tenant };
}

export function describeJoseError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${typeof code === 'string' ? `${code}: ` : ''}${e.message}`;
  }
  return 'verification failed';
}
