/**
 * The evaluation time of a development call. A CDS call is evaluated when it is received; the fixtures
 * of `fhir-fixtures/` hold fixed clinical times, so `npx hs-troponin-cds call` asks for the fixture's
 * `now` in a request extension:
 *
 * ```json
 * "extension": { "hs-troponin-cds-dev": { "evaluationTime": "2026-03-06T15:20:00Z" } }
 * ```
 *
 * It is honoured only by a service started with `npx hs-troponin-cds dev`, and only for the local
 * development client (whose tokens are accepted from this machine only, src/dev/local-peer.ts). Any other
 * caller, or any service started with `npm start`, refuses the request with 400
 * (`TNP_ERR_EVALUATION_TIME_REFUSED`): an EHR can never have a patient evaluated at a time of its choosing
 * (hazard I-02). The audit record keeps both times: `at` (received) and `evaluatedAt` (asked for), with
 * `evaluationTimeGivenBy` naming the client.
 */
import { parseInstant } from '../engine/time.js';
import { TnpError } from '../errors.js';
import { DEV_CLIENT_ISS } from './local-peer.js';
import { isObject } from '../util/guards.js';

/** The key of the request extension (CDS Hooks 2.0 "Extensions"). */
export const DEV_EXTENSION_KEY = 'hs-troponin-cds-dev';

export interface EvaluationTime {
  /** Epoch milliseconds the decision is made for. */
  readonly atMs: number;
  /** True when the request set it (the local development client of `dev`). */
  readonly given: boolean;
}

/**
 * The time to evaluate a call for: when it was received, or the development extension's time.
 *
 * @throws TnpError `TNP_ERR_EVALUATION_TIME_REFUSED` (400) when the extension is sent by another client or
 *   to a service not started by `dev`, or its time is not an ISO 8601 date-time with a zone.
 */
export function evaluationTimeOf(body: unknown, iss: string, opts: { readonly allowed: boolean; readonly receivedAtMs: number }): EvaluationTime {
  const ext = isObject(body) && isObject(body['extension']) ? body['extension'][DEV_EXTENSION_KEY] : undefined;
  if (ext === undefined) return { atMs: opts.receivedAtMs, given: false };
  const where = [`extension.${DEV_EXTENSION_KEY}`];
  if (!opts.allowed) throw new TnpError('TNP_ERR_EVALUATION_TIME_REFUSED', `extension "${DEV_EXTENSION_KEY}" is honoured only by a service started with \`npx hs-troponin-cds dev\`; this service evaluates every call when it is received`, { expression: where });
  if (iss !== DEV_CLIENT_ISS) throw new TnpError('TNP_ERR_EVALUATION_TIME_REFUSED', `extension "${DEV_EXTENSION_KEY}" is honoured only for the local development client, not for this client`, { expression: where });
  const text = isObject(ext) ? ext['evaluationTime'] : undefined;
  const parsed = parseInstant(text);
  if (!parsed.ok) throw new TnpError('TNP_ERR_EVALUATION_TIME_REFUSED', `extension "${DEV_EXTENSION_KEY}".evaluationTime must be an ISO 8601 date-time with a time zone: ${parsed.problem}`, { expression: [`${where[0] ?? ''}.evaluationTime`] });
  return { atMs: Number(parsed.instant / 1_000_000n), given: true };
}
