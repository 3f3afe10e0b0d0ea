/**
 * Settings of the endpoints anyone can call (no authentication): per-client rate limits and the reverse
 * proxies whose X-Forwarded-For is believed, so that a client is its own address and not the proxy's.
 * Parsed with the rest of the settings (src/settings.ts); documented in the README settings table.
 */
import { isIP } from 'node:net';

/** A per-client budget: at most `max` requests in each window of `timeWindowMs`. */
export interface RateLimitRule {
  readonly max: number;
  readonly timeWindowMs: number;
}

/**
 * Per-client rate limits of the endpoints that need no authentication, by group. A group is a set of
 * routes sharing one budget per client address; new public endpoints get a group of their own here.
 */
export interface RateLimitSettings {
  /** `/console/api/*` except the map: evaluate, pathway, fixtures. */
  readonly consoleApi: RateLimitRule;
  /** `POST /console/api/map` (hundreds of engine evaluations when not cached). */
  readonly consoleMap: RateLimitRule;
  /** The console page, its scripts and styles, and the rules page. */
  readonly consolePages: RateLimitRule;
  /** `GET /fhir/metadata`, the CapabilityStatement of the laboratory intake (open, like every FHIR server's). */
  readonly fhirMetadata: RateLimitRule;
}

export const RATE_LIMIT_DEFAULTS: RateLimitSettings = {
  consoleApi: { max: 120, timeWindowMs: 60_000 },
  consoleMap: { max: 30, timeWindowMs: 60_000 },
  consolePages: { max: 600, timeWindowMs: 60_000 },
  fhirMetadata: { max: 60, timeWindowMs: 60_000 },
};

export const rateLimitRuleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['max', 'timeWindowMs'],
  properties: { max: { type: 'integer', minimum: 1, maximum: 1000000 }, timeWindowMs: { type: 'integer', minimum: 1000, maximum: 86400000 } },
} as const;

/** An address or CIDR range of a trusted proxy, as proxy-addr (fastify's trustProxy) reads it. */
export function isProxyAddress(x: string): boolean {
  const [addr = '', prefix, ...rest] = x.split('/');
  const kind = isIP(addr);
  if (kind === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (kind === 4 ? 32 : 128));
}

