/**
 * The structured JSON logger (pino). Tokens and patient data never reach the logs: the request
 * serializer keeps method, route URL without its query string, and the client's address only; the
 * redaction paths below censor anything else that might carry them if it is ever logged.
 *
 * CDS Hooks 2.0 ("Trusting CDS Clients"): never log or store JWTs or `fhirAuthorization.access_token`;
 * `iss`, `tenant` and `jti` may be logged.
 */
import cluster from 'node:cluster';
import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

/** Paths censored wherever they appear in a log object. */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'token',
  'accessToken',
  'access_token',
  '*.access_token',
  '*.accessToken',
  '*.token',
  'fhirAuthorization',
  '*.fhirAuthorization',
  'body.fhirAuthorization',
  'body.prefetch',
  'body.context.patientId',
  'body.context.encounterId',
  'prefetch',
  '*.prefetch',
  'patientId',
  '*.patientId',
  'encounterId',
  '*.encounterId',
  'resources',
  '*.resources',
];

export interface RequestLike {
  readonly method?: string;
  readonly url?: string;
  readonly ip?: string;
  readonly id?: unknown;
  readonly routeOptions?: { readonly url?: string };
}

/** The request as logged: method, path without query (a query may carry a patient id), route pattern. */
export function serializeRequest(req: RequestLike): Record<string, unknown> {
  const url = typeof req.url === 'string' ? req.url.split('?')[0] : undefined;
  return { method: req.method, url, route: req.routeOptions?.url, remoteAddress: req.ip };
}

export function loggerOptions(level: LoggerOptions['level']): LoggerOptions {
  return {
    level,
    // In cluster mode (src/cluster.ts) every line names the worker that wrote it.
    base: { service: 'hs-troponin-cds', ...(cluster.isWorker && cluster.worker !== undefined ? { worker: cluster.worker.id, pid: process.pid } : {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    serializers: {
      req: serializeRequest,
    },
  };
}

/** A JSON logger to stdout (or to `destination`, e.g. a test's capture stream). */
export function createLogger(level: LoggerOptions['level'], destination?: DestinationStream): Logger {
  return destination === undefined ? pino(loggerOptions(level)) : pino(loggerOptions(level), destination);
}
