/**
 * Property-based fuzzing of the CDS service over real HTTP (fast-check): no request body, header or
 * prefetch content produces a 500, and garbage never produces a reassuring card
 * (`not-consistent-with-mi` or `low-risk-pathway`). Every answer is an allowed status with JSON.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { call, EHR_ISS, FEEDBACK_PATH, searchset, SERVICE_PATH, startApp, type CallResult, type RunningApp } from '../support/cds-app.js';

const REASSURING = new Set(['not-consistent-with-mi', 'low-risk-pathway']);
const ALLOWED = new Set([200, 400, 404, 412, 413, 415]);
const RUNS = Number(process.env['CDS_FUZZ_RUNS'] ?? 150);

let app: RunningApp;
let ehr: CdsTestClient;

beforeAll(async () => {
  ehr = await createCdsClient({ iss: EHR_ISS, alg: 'ES384' });
  app = await startApp({ clients: [ehr], settings: { logLevel: 'warn' } });
});

afterAll(async () => {
  await app?.close();
});

function check(res: CallResult, what: string): void {
  expect(ALLOWED.has(res.status), `${what}: status ${res.status}: ${res.text.slice(0, 500)}`).toBe(true);
  expect(res.json, `${what}: the body is JSON`).toBeDefined();
  if (res.status === 200 && Array.isArray(res.json.cards)) {
    for (const card of res.json.cards) {
      const outcome = card.extension['hs-troponin-cds'].outcome as string;
      expect(REASSURING.has(outcome), `${what}: garbage gave a reassuring card (${outcome})`).toBe(false);
      expect(card.summary.length).toBeLessThan(140);
    }
  } else if (res.status !== 200) {
    expect(res.json.resourceType).toBe('OperationOutcome');
  }
}

const json = fc.jsonValue({ maxDepth: 5 });
const CODES = [
  { system: 'http://loinc.org', code: '67151-1' },
  { system: 'http://loinc.org', code: '89579-7' },
  { system: 'http://loinc.org', code: '8601-7' },
  { system: 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain', code: 'timi-risk-score' },
];
const times = fc.oneof(
  fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2026-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2026-04-17', '2026-04-17T10:00:00', '2026-04-17T25:00:00Z', '', 'now', '2026-02-30T10:00:00Z'),
  json,
);
/** Observations with the pathway's codes but garbage everywhere else (the ECG value is never a real coding). */
const garbageObservation = fc.record(
  {
    resourceType: fc.constant('Observation'),
    id: fc.oneof(fc.uuid(), json),
    status: fc.oneof(fc.constantFrom('final', 'amended', 'corrected', 'preliminary', 'registered', 'cancelled', 'entered-in-error', 'unknown'), json),
    code: fc.oneof(fc.constantFrom(...CODES).map((c) => ({ coding: [c] })), json),
    subject: fc.oneof(fc.constant({ reference: 'Patient/p-fuzz' }), json),
    encounter: json,
    effectiveDateTime: times,
    effectivePeriod: json,
    issued: times,
    meta: fc.oneof(fc.record({ lastUpdated: times, versionId: json }), json),
    identifier: json,
    valueQuantity: fc.oneof(
      fc.record({ value: fc.oneof(fc.double(), fc.integer(), json), unit: fc.oneof(fc.constantFrom('ng/L', 'ng/mL', 'pg/mL', 'µg/L', 'U/L'), json), system: fc.oneof(fc.constant('http://unitsofmeasure.org'), json), code: fc.oneof(fc.constantFrom('ng/L', 'ng/mL', 'ug/L'), json), comparator: fc.oneof(fc.constantFrom('<', '<=', '>', '>=', 'ad'), json) }, { requiredKeys: [] }),
      json,
    ),
    valueInteger: fc.oneof(fc.integer({ min: -3, max: 10 }), json),
    valueCodeableConcept: json,
    dataAbsentReason: json,
  },
  { requiredKeys: ['resourceType'] },
);

async function post(body: unknown, path = SERVICE_PATH): Promise<CallResult> {
  return call(app, ehr, 'POST', path, body);
}

const envelope = (extra: Record<string, unknown>): Record<string, unknown> => ({
  hook: 'patient-view',
  hookInstance: randomUUID(),
  context: { userId: 'Practitioner/fuzz', patientId: 'p-fuzz' },
  ...extra,
});

describe('fuzzing the CDS service over HTTP', () => {
  it('arbitrary JSON bodies: never a 500', async () => {
    await fc.assert(fc.asyncProperty(json, async (body) => check(await post(body), 'body')), { numRuns: RUNS });
  });

  it('arbitrary members in a valid envelope: never a 500, never reassuring', async () => {
    const member = fc.dictionary(fc.constantFrom('hook', 'hookInstance', 'context', 'prefetch', 'fhirServer', 'fhirAuthorization', 'extension', '__proto__', 'constructor'), json, { maxKeys: 4 });
    await fc.assert(
      fc.asyncProperty(member, async (extra) => {
        check(await post({ ...envelope({}), ...extra }), 'envelope');
      }),
      { numRuns: RUNS },
    );
  });

  it('arbitrary prefetch values (no fhirServer): never a 500, never reassuring', async () => {
    const prefetch = fc.dictionary(fc.oneof(fc.constantFrom('observations', 'patient'), fc.string()), json, { maxKeys: 3 });
    await fc.assert(fc.asyncProperty(prefetch, async (p) => check(await post(envelope({ prefetch: p })), 'prefetch')), { numRuns: RUNS });
  });

  it('garbage Observations with the pathway codes: never a 500, never reassuring', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(garbageObservation, { maxLength: 12 }), fc.option(fc.constantFrom('enc-1', 'enc-2'), { nil: undefined }), async (observations, encounterId) => {
        const body = envelope({ prefetch: { observations: searchset(observations) } });
        if (encounterId !== undefined) (body['context'] as Record<string, unknown>)['encounterId'] = encounterId;
        check(await post(body), 'observations');
      }),
      { numRuns: RUNS },
    );
  });

  it('a troponin whose unit is spelt like an inherited member of a JavaScript object: 200 and not reassuring (once a 500, found by the Bundle property below)', async () => {
    const trop = (id: string, q: Record<string, unknown>): Record<string, unknown> => ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] }, effectiveDateTime: '2026-03-14T09:00:00Z', valueQuantity: q });
    for (const unit of ['toString', 'constructor', '__proto__', 'valueOf']) {
      const shrunk = { resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Observation', code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] }, valueQuantity: { code: unit } } }] };
      const res1 = await post(envelope({ prefetch: { observations: shrunk } }));
      check(res1, `shrunk ${unit}`);
      expect(res1.status, unit).toBe(200);
      const res2 = await post(envelope({ prefetch: { observations: searchset([trop('t1', { value: 5, unit, system: 'http://unitsofmeasure.org', code: unit })]) } }));
      check(res2, `valued ${unit}`);
      expect(res2.status, unit).toBe(200);
    }
  });

  it('garbage Bundles: entries, links and totals of any shape', async () => {
    const bundle = fc.record({ resourceType: fc.constant('Bundle'), type: json, entry: fc.oneof(json, fc.array(fc.record({ resource: fc.oneof(garbageObservation, json), search: json }, { requiredKeys: [] }))), link: json, total: json }, { requiredKeys: ['resourceType'] });
    await fc.assert(fc.asyncProperty(bundle, async (b) => check(await post(envelope({ prefetch: { observations: b } })), 'bundle')), { numRuns: RUNS });
  });

  it('raw bodies and content types of any kind: never a 500', async () => {
    const contentType = fc.oneof(fc.constantFrom('application/json', 'application/fhir+json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', ''), fc.string({ maxLength: 40 }));
    const raw = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 100 }), json.map((j) => JSON.stringify(j)), fc.constantFrom('{"hook":"patient-view","hookInstance":"\\ud800","context":{"userId":"\\u0000","patientId":"p1"}}', '{"a":1e400}', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]', '{"constructor":{"prototype":{"x":1}}}', '\uFEFF{}'));
    await fc.assert(
      fc.asyncProperty(raw, contentType, async (body, type) => {
        let res: CallResult;
        try {
          res = await call(app, ehr, 'POST', SERVICE_PATH, undefined, { rawBody: body, contentType: type });
        } catch (e) {
          // fetch itself refuses some header values (e.g. a newline): nothing reached the service.
          if (e instanceof TypeError) return;
          throw e;
        }
        check(res, `raw ${JSON.stringify(type)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('arbitrary Authorization and other headers: 401 or a normal answer, never a 500', async () => {
    const header = fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom('Bearer', 'Bearer ', 'Bearer a.b.c', 'Bearer ..', `Bearer ${'a'.repeat(20_000)}.b.c`, 'bearer eyJhbGciOiJub25lIn0.e30.'));
    await fc.assert(
      fc.asyncProperty(header, fc.string({ maxLength: 50 }), async (authorization, other) => {
        let res: Response;
        try {
          res = await fetch(`${app.url}${SERVICE_PATH}`, { method: 'POST', headers: { authorization, 'content-type': 'application/json', 'x-forwarded-host': other, 'x-fuzz': other }, body: JSON.stringify(envelope({})) });
        } catch (e) {
          if (e instanceof TypeError) return;
          throw e;
        }
        expect([400, 401, 413, 431]).toContain(res.status);
      }),
      { numRuns: RUNS },
    );
  });

  it('arbitrary feedback: never a 500', async () => {
    const item = fc.record({ card: fc.oneof(fc.uuid(), json), outcome: fc.oneof(fc.constantFrom('accepted', 'overridden'), json), acceptedSuggestions: json, overrideReason: json, outcomeTimestamp: times }, { requiredKeys: [] });
    await fc.assert(fc.asyncProperty(fc.oneof(json, fc.record({ feedback: fc.array(item, { maxLength: 5 }) })), async (body) => check(await post(body, FEEDBACK_PATH), 'feedback')), { numRuns: RUNS });
  });

  it('the audit chain stays valid after all of it', async () => {
    const v = await app.store.verify();
    expect(v.ok).toBe(true);
  });
});
