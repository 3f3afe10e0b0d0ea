/**
 * Rate limits no test reaches, for the suites that make many requests to one app; the limits have
 * their own tests (tests/security/console-api.test.ts). Give `rateLimit: {}` for the defaults.
 */
export const UNLIMITED = {
  consoleApi: { max: 1_000_000, timeWindowMs: 60_000 },
  consoleMap: { max: 1_000_000, timeWindowMs: 60_000 },
  consolePages: { max: 1_000_000, timeWindowMs: 60_000 },
  fhirMetadata: { max: 1_000_000, timeWindowMs: 60_000 },
} as const;
