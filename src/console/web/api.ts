/** Calls to the console API. Errors come back as FHIR OperationOutcomes; they are turned into ApiError. */
import type { EvaluateResponse, FixtureResponse, FixturesResponse, MapRequest, MapResponse, OperationOutcomeView, PathwayResponse } from './api-types.js';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly details: readonly string[],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function isOutcome(x: unknown): x is OperationOutcomeView {
  return typeof x === 'object' && x !== null && (x as { resourceType?: unknown }).resourceType === 'OperationOutcome';
}

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { accept: 'application/json', 'content-type': 'application/json' };
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text === '' ? null : (JSON.parse(text) as unknown);
  } catch {
    throw new ApiError(`${method} ${path}: the answer is not JSON (HTTP ${res.status})`, res.status, []);
  }
  if (!res.ok) {
    if (isOutcome(json)) {
      const first = json.issue[0];
      const details = json.issue.slice(1).map((i) => i.diagnostics ?? i.details?.text ?? '').filter((x) => x !== '');
      throw new ApiError(first?.details?.text ?? first?.diagnostics ?? `HTTP ${res.status}`, res.status, [...(first?.diagnostics === undefined ? [] : [first.diagnostics]), ...details]);
    }
    throw new ApiError(`${method} ${path}: HTTP ${res.status}`, res.status, []);
  }
  return json as T;
}

export interface EvaluateRequest {
  readonly bundle?: unknown;
  readonly resources?: readonly unknown[];
  readonly case?: string;
  readonly now?: string;
  readonly encounter?: string;
  readonly settings?: { readonly sexSpecificUrls?: boolean };
}

export const api = {
  pathway: (): Promise<PathwayResponse> => call('GET', '/console/api/pathway'),
  evaluate: (body: EvaluateRequest): Promise<EvaluateResponse> => call('POST', '/console/api/evaluate', body),
  fixtures: (): Promise<FixturesResponse> => call('GET', '/console/api/fixtures'),
  fixture: (name: string): Promise<FixtureResponse & { evaluation: EvaluateResponse }> => call('GET', `/console/api/fixtures/${encodeURIComponent(name)}`),
  map: (body: MapRequest): Promise<MapResponse> => call('POST', '/console/api/map', body),
};
