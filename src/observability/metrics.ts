/**
 * Prometheus metrics, one registry per app instance (so tests and several apps in one process never
 * share counters). Exposed at GET /metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  /** HTTP requests by route (the route pattern, never the raw URL), method and status. */
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpDuration: Histogram<'route' | 'method' | 'status'>;
  /** CDS decisions by outcome. */
  readonly outcomes: Counter<'outcome'>;
  /** CDS calls answered 412 because the data could not be had, by error code. */
  readonly dataUnavailable: Counter<'code'>;
  /** FHIR pull errors by error code (TNP_ERR_FHIR_*). */
  readonly fhirPullErrors: Counter<'code'>;
  readonly fhirPullDuration: Histogram<'outcome'>;
  /** Time to durably append an audit record (group commit included). */
  readonly auditWriteDuration: Histogram<'kind'>;
  readonly auditWriteFailures: Counter<'kind'>;
  /** JWTs refused (401), all reasons together (the reason is logged, never labelled). */
  readonly jwtRefusals: Counter;
  /** Requests refused 429 by a per-client rate limit, by group (settings `rateLimit`). */
  readonly rateLimited: Counter<'group'>;
  /** Engine evaluations made to draw console maps (cache hits make none). */
  readonly consoleMapEvaluations: Counter;
  /** Entries in the console map's caches (`grid`: heat maps, `sweep`: retest sweeps). */
  readonly consoleMapCacheEntries: Gauge<'cache'>;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'hs_troponin_cds_' });
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({ name: 'hs_troponin_cds_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers }),
    httpDuration: new Histogram({ name: 'hs_troponin_cds_http_request_duration_seconds', help: 'HTTP request latency by route, method and status', labelNames: ['route', 'method', 'status'], buckets: LATENCY_BUCKETS, registers }),
    outcomes: new Counter({ name: 'hs_troponin_cds_outcomes_total', help: 'CDS decisions by outcome', labelNames: ['outcome'], registers }),
    dataUnavailable: new Counter({ name: 'hs_troponin_cds_data_unavailable_total', help: 'CDS calls answered 412 (required data unobtainable), by error code', labelNames: ['code'], registers }),
    fhirPullErrors: new Counter({ name: 'hs_troponin_cds_fhir_pull_errors_total', help: 'FHIR pull failures by error code', labelNames: ['code'], registers }),
    fhirPullDuration: new Histogram({ name: 'hs_troponin_cds_fhir_pull_duration_seconds', help: 'FHIR pull duration by outcome (ok, error)', labelNames: ['outcome'], buckets: LATENCY_BUCKETS, registers }),
    auditWriteDuration: new Histogram({ name: 'hs_troponin_cds_audit_write_duration_seconds', help: 'Time to durably append an audit record', labelNames: ['kind'], buckets: LATENCY_BUCKETS, registers }),
    auditWriteFailures: new Counter({ name: 'hs_troponin_cds_audit_write_failures_total', help: 'Audit appends that failed (the caller got 503)', labelNames: ['kind'], registers }),
    jwtRefusals: new Counter({ name: 'hs_troponin_cds_jwt_refusals_total', help: 'CDS calls refused with 401', registers }),
    rateLimited: new Counter({ name: 'hs_troponin_cds_rate_limited_total', help: 'Requests refused 429 by a per-client rate limit, by group', labelNames: ['group'], registers }),
    consoleMapEvaluations: new Counter({ name: 'hs_troponin_cds_console_map_evaluations_total', help: 'Engine evaluations made to draw console maps', registers }),
    consoleMapCacheEntries: new Gauge({ name: 'hs_troponin_cds_console_map_cache_entries', help: 'Entries in the console map caches (grid, sweep)', labelNames: ['cache'], registers }),
  };
}
