/**
 * The JWT signature algorithms a CDS client may use (CDS Hooks 2.0, "Trusting CDS Clients": never `none`,
 * never a symmetric algorithm; ES384 and RS384 recommended). A leaf module: the settings schema uses it.
 */

/** Every algorithm a key may ever verify. `none` and `HS*` are not, and cannot be configured. */
export const ALLOWED_JWT_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'] as const;

export type JwtAlgorithm = (typeof ALLOWED_JWT_ALGORITHMS)[number];

/** What a key published without `alg` verifies unless the site sets `jwtAlgorithms`. */
export const DEFAULT_JWT_ALGORITHMS: readonly JwtAlgorithm[] = ['ES384', 'RS384'];

export function isAllowedJwtAlgorithm(alg: unknown): alg is JwtAlgorithm {
  return typeof alg === 'string' && (ALLOWED_JWT_ALGORITHMS as readonly string[]).includes(alg);
}
