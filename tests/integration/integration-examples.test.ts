/**
 * The examples of docs/integration.md, regenerated from the real service over real HTTP and compared
 * with the files under docs/examples/, so they cannot go stale: discovery, a signed request with its
 * prefetch (filled from the discovery document as an EHR fills it), the card, feedback, the FHIR pull
 * through an allow-listed `fhirServer`, and the error answers. The client signs as the CDS Hooks sandbox
 * does (ES384, `jku` naming its JWKS URL). Volatile values are normalised: UUIDs become `uuid-N` in the
 * order first met (the same UUID, the same name in every file), hashes, key material and the signed case
 * link become placeholders, and the test FHIR server's address becomes https://ehr.hospital.example/fhir.
 * The evaluation time is the fixture's, by the injected clock.
 *
 * `UPDATE_EXAMPLES=1 npx vitest run tests/integration/integration-examples.test.ts` rewrites the files.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entriesOf, fillPrefetch } from '../../src/dev/prefetch-fill.js';
import { extractResources } from '../../src/fhir/mapping.js';
import { ERRORS } from '../../src/error-registry.js';
import { loadSettings } from '../../src/settings.js';
import { call, DISCOVERY_PATH, FEEDBACK_PATH, PUBLIC_BASE_URL, SERVICE_PATH, startApp, type CallResult, type RunningApp } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { startFhirServer, type TestFhirServer } from '../support/fhir-server.js';
import { loadFixture } from '../support/fixtures.js';

const DIR = fileURLToPath(new URL('../../docs/examples/', import.meta.url));
const DOC = fileURLToPath(new URL('../../docs/integration.md', import.meta.url));
const UPDATE = process.env['UPDATE_EXAMPLES'] === '1';

const EHR_ISS = 'https://ehr.hospital.example';
const JKU = 'https://ehr.hospital.example/.well-known/jwks.json';
const KID = 'ehr-signing-key-2026';
const FHIR_BASE = 'https://ehr.hospital.example/fhir';
const FHIR_TOKEN = 'fhir-access-token-issued-by-the-ehr';
const fixture = loadFixture('below-url-rise-above-url-consistent');
const NOW = new Date(fixture.expected.now);
const context = { userId: 'Practitioner/dr-1', patientId: 'pt-1005', encounterId: 'enc-1005' };

let ehr: CdsTestClient;
let app: RunningApp;
let fhir: TestFhirServer;
const generated = new Map<string, unknown>();

/** Normalises what changes from run to run; UUIDs are numbered in the order met, across all files. */
const uuids = new Map<string, string>();
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
/** The fixture's own UUIDs (its fullUrls) are fixed: they stay as they are. */
const fixed = new Set(JSON.stringify(fixture.doc).match(UUID) ?? []);
function normalise(value: unknown, key = ''): unknown {
  if (typeof value === 'string') {
    let s = value.split(fhir.baseUrl).join(FHIR_BASE);
    s = s.replace(/#case=[A-Za-z0-9_\-.~%]+/g, '#case=<de-identified-case.signature>');
    s = s.replace(/\b[0-9a-f]{64}\b/g, '<sha256>');
    s = s.replace(UUID, (u) => {
      if (fixed.has(u)) return u;
      if (!uuids.has(u)) uuids.set(u, `uuid-${uuids.size + 1}`);
      return uuids.get(u) ?? u;
    });
    if (['n', 'x', 'y'].includes(key)) return `<${key}: base64url key material>`;
    if (key === 'authorization' && /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/.test(s)) return 'Bearer <JWT: header.payload.signature>';
    return s;
  }
  if (Array.isArray(value)) return value.map((v) => normalise(v));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v, k)]));
  return value;
}

function example(name: string, value: unknown): void {
  generated.set(name, normalise(value));
}

async function signed(path: string): Promise<string> {
  return ehr.sign({ aud: `${PUBLIC_BASE_URL}${path}`, header: { jku: JKU } });
}

/** An exchange as the docs show it: the request (method, path, headers, body) and the answer. */
function exchange(method: string, path: string, body: unknown, res: CallResult): { request: unknown; response: unknown } {
  const headers: Record<string, string> = { authorization: 'Bearer <JWT: header.payload.signature>', ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
  return {
    request: { method, url: `${PUBLIC_BASE_URL}${path}`, headers, ...(body === undefined ? {} : { body }) },
    response: { status: res.status, 'content-type': res.headers.get('content-type'), body: res.json },
  };
}

beforeAll(async () => {
  ehr = await createCdsClient({ iss: EHR_ISS, alg: 'ES384', kid: KID, now: () => NOW });
  fhir = await startFhirServer({ bearerToken: FHIR_TOKEN });
  await fhir.seed(extractResources(fixture.doc) as never);
  app = await startApp({
    now: () => NOW,
    fetchJwks: (url) => Promise.resolve(url === JKU ? ehr.jwks : { keys: [] }),
    settings: { cdsClients: [{ iss: EHR_ISS, jwksUrl: JKU, fhirServers: [fhir.baseUrl] }] },
  });
});
afterAll(async () => {
  await app?.close();
  await fhir?.close();
});

describe('docs/examples: regenerated from the real service', () => {
  it('generates every example (discovery, signing, the call with prefetch, the card, feedback, the FHIR pull, errors)', async () => {
    // The settings that trust the EHR (docs/integration.md "Trusting the EHR"), as the app runs with them.
    example('settings-cds-client.json', { publicBaseUrl: PUBLIC_BASE_URL, cdsClients: [{ iss: EHR_ISS, jwksUrl: JKU, fhirServers: [FHIR_BASE] }] });
    example('ehr-jwks.json', ehr.jwks);

    const discovery = await call(app, null, 'GET', DISCOVERY_PATH, undefined, { token: await signed(DISCOVERY_PATH) });
    expect(discovery.status).toBe(200);
    example('discovery.json', exchange('GET', DISCOVERY_PATH, undefined, discovery));

    const token = await signed(SERVICE_PATH);
    example('jwt.json', { header: decodeProtectedHeader(token), payload: decodeJwt(token) });
    const service = discovery.json.services[0];
    const body = { hook: 'patient-view', hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea', context, prefetch: fillPrefetch(service.prefetch, context, entriesOf(fixture.doc)) };
    const answer = await call(app, null, 'POST', SERVICE_PATH, body, { token });
    expect(answer.status).toBe(200);
    expect(answer.json.cards[0].extension['hs-troponin-cds'].outcome).toBe(fixture.expected.outcome);
    example('service-call.json', exchange('POST', SERVICE_PATH, body, answer));

    const card = answer.json.cards[0];
    const feedback = { feedback: [{ card: card.uuid, outcome: 'overridden', overrideReason: { reason: card.overrideReasons[0], userComment: 'Chest pain resolved; troponin rise explained by a documented cause.' }, outcomeTimestamp: '2026-03-06T15:24:00Z' }] };
    const fb = await call(app, null, 'POST', FEEDBACK_PATH, feedback, { token: await signed(FEEDBACK_PATH) });
    expect(fb.status).toBe(200);
    example('feedback.json', exchange('POST', FEEDBACK_PATH, feedback, fb));

    // No prefetch: the service reads the EHR's FHIR server (allow-listed in fhirServers) with the token given.
    const before = fhir.requests.length;
    const pullBody = { hook: 'patient-view', hookInstance: '5c3a1a6e-8f0b-4d4e-9a57-2b1f0e6c7d21', fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer', expires_in: 300, scope: 'patient/Observation.read', subject: 'hs-troponin-cds' }, context };
    const pulled = await call(app, null, 'POST', SERVICE_PATH, pullBody, { token: await signed(SERVICE_PATH) });
    expect(pulled.status).toBe(200);
    expect(pulled.json.cards[0].summary).toBe(card.summary);
    const reads = fhir.requests.slice(before).map((r) => ({ method: r.method, url: `${fhir.origin}${r.url}`, authorization: r.authorization === `Bearer ${FHIR_TOKEN}` ? 'Bearer <fhirAuthorization.access_token>' : r.authorization }));
    example('fhir-pull.json', { ...exchange('POST', SERVICE_PATH, pullBody, pulled), fhirServerRequests: reads });

    // The error answers: each an OperationOutcome (401: no detail).
    const errors: Record<string, unknown> = {};
    errors['401 no or bad token'] = exchange('POST', SERVICE_PATH, body, await call(app, null, 'POST', SERVICE_PATH, { ...body, hookInstance: '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0' }, { token: null }));
    const noPatient = { hook: 'patient-view', hookInstance: '1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d', context: { userId: 'Practitioner/dr-1' } };
    errors['400 a required element missing'] = exchange('POST', SERVICE_PATH, noPatient, await call(app, null, 'POST', SERVICE_PATH, noPatient, { token: await signed(SERVICE_PATH) }));
    const noData = { hook: 'patient-view', hookInstance: '2b3c4d5e-6f7a-4b9c-8d1e-2f3a4b5c6d7e', context };
    errors['412 no prefetch and no fhirServer'] = exchange('POST', SERVICE_PATH, noData, await call(app, null, 'POST', SERVICE_PATH, noData, { token: await signed(SERVICE_PATH) }));
    const notAllowed = { ...pullBody, hookInstance: '3c4d5e6f-7a8b-4c0d-9e2f-3a4b5c6d7e8f', fhirServer: 'https://elsewhere.example/fhir' };
    errors['412 a fhirServer not in the allow-list'] = exchange('POST', SERVICE_PATH, notAllowed, await call(app, null, 'POST', SERVICE_PATH, notAllowed, { token: await signed(SERVICE_PATH) }));
    const failed = { ...body, hookInstance: '4d5e6f7a-8b9c-4d1e-8f3a-4b5c6d7e8f9a', prefetch: { observations: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'timeout', details: { text: 'The laboratory system did not answer' } }] } } };
    errors['412 a prefetch key holding an OperationOutcome, and no FHIR server'] = exchange('POST', SERVICE_PATH, failed, await call(app, null, 'POST', SERVICE_PATH, failed, { token: await signed(SERVICE_PATH) }));
    example('errors.json', errors);
    for (const [name, e] of Object.entries(errors)) expect((e as { response: { body: { resourceType: string } } }).response.body.resourceType, name).toBe('OperationOutcome');

    for (const [name, value] of generated) {
      const file = join(DIR, name);
      const text = `${JSON.stringify(value, null, 2)}\n`;
      if (UPDATE) writeFileSync(file, text);
      expect(existsSync(file), `${name} is missing: run UPDATE_EXAMPLES=1 npx vitest run tests/integration/integration-examples.test.ts`).toBe(true);
      expect(JSON.parse(readFileSync(file, 'utf8')), `${name} is stale: run UPDATE_EXAMPLES=1 npx vitest run tests/integration/integration-examples.test.ts and review the diff`).toEqual(value);
    }
  });

  it('docs/integration.md shows every example file, and there is none it does not', () => {
    const doc = readFileSync(DOC, 'utf8');
    const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
    const linked = [...doc.matchAll(/\(examples\/([a-z0-9-]+\.json)\)/g)].map((m) => m[1]);
    expect(new Set(linked)).toEqual(new Set(files));
  });

  it('every HTTP status the page gives an error code is the one the service answers with (docs/errors.md)', () => {
    const doc = readFileSync(DOC, 'utf8');
    const claims: [string, number][] = [];
    // "refused with 404 `TNP_ERR_X`" in the text, and each row of the error table: | 404 | when | `TNP_ERR_X`, ... |
    for (const m of doc.matchAll(/\b([1-5]\d\d)\s+`(TNP_ERR_[A-Z_]+)`/g)) claims.push([m[2] ?? '', Number(m[1])]);
    for (const row of doc.matchAll(/^\| (\d{3}) \|.*\|([^|]*)\|$/gm)) {
      for (const code of (row[2] ?? '').matchAll(/`(TNP_ERR_[A-Z_]+)`/g)) claims.push([code[1] ?? '', Number(row[1])]);
    }
    expect(claims.map(([code]) => code)).toContain('TNP_ERR_CARD_UNKNOWN');
    for (const [code, status] of claims) {
      expect(code in ERRORS, code).toBe(true);
      expect(`${code} ${ERRORS[code as keyof typeof ERRORS].status}`).toBe(`${code} ${status}`);
    }
  });

  it('the settings example is valid site settings', () => {
    const example = JSON.parse(readFileSync(join(DIR, 'settings-cds-client.json'), 'utf8')) as unknown;
    expect(() => loadSettings({ object: example })).not.toThrow();
  });
});
