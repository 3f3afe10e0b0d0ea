/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * Hostile input to the FHIR intake over real HTTP: malformed JSON, wrong types (the element named in
 * FHIRPath), unknown elements, deep nesting, huge bodies, Bundles at 10x and 1,000x normal size, and a
 * fuzzed body: always a 4xx OperationOutcome, never a 500, and nothing partial stored.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../support/cds-app.js';
import { http, LAB_TOKEN, manualClock, troponin, WORKLIST_TOKEN } from '../support/lab.js';

describe('FHIR intake: hostile input', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ now: manualClock('2026-03-06T10:05:00Z').now, settings: { labClients: [{ name: 'main-lab', token: LAB_TOKEN }], worklistTokens: [WORKLIST_TOKEN] } });
  });
  afterAll(() => app.close());
  const post = (body: unknown, path = '/fhir/Observation') => http(app.url, 'POST', path, LAB_TOKEN, body);
  const codeOf = (r: { json: any }): string => r.json?.issue?.[0]?.details?.coding?.[0]?.code;
  const stored = async (): Promise<number> => {
    const open = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.length;
    const loose = (await http(app.url, 'GET', '/episodes/unmatched', WORKLIST_TOKEN)).json.total;
    return open + loose;
  };

  it('wrong types and unknown elements: 400 naming the element (FHIRPath)', async () => {
    const cases: [unknown, string][] = [
      [{ ...troponin({ at: '2026-03-06T10:00:00Z', value: 1 }), valueQuantity: { value: '12' } }, 'Observation.valueQuantity.value'],
      [{ ...troponin({ at: '2026-03-06T10:00:00Z', value: 1 }), status: 'done' }, 'Observation.status'],
      [{ ...troponin({ at: '2026-03-06T10:00:00Z', value: 1 }), identifier: { system: 'x', value: 'y' } }, 'Observation.identifier'],
      [{ ...troponin({ at: '2026-03-06T10:00:00Z', value: 1 }), colour: 'red' }, 'Observation.colour'],
      [{ ...troponin({ at: '2026-03-06T10:00:00Z', value: 1 }), effectiveDateTime: 'yesterday' }, 'Observation.effectiveDateTime'],
      [{ ...troponin({ at: '2026-03-06T10:00:00Z', value: 1 }), valueString: 'x' }, 'Observation.valueString'],
      [{ resourceType: 'Patient' }, 'Observation.resourceType'],
      [{ resourceType: 'Observation', code: { text: 'x' } }, 'Observation.status'],
    ];
    for (const [body, where] of cases) {
      const r = await post(body);
      expect(r.status, where).toBe(400);
      expect(r.json.issue[0].expression).toEqual([where]);
      expect(codeOf(r)).toBe('TNP_ERR_FHIR_RESOURCE_INVALID');
    }
    expect(await stored()).toBe(0);
  });

  it('text no store can hold faithfully (NUL, a lone surrogate) anywhere in a result: 400 naming the element, nothing stored, and the same answer when sent again (never a 503 to retry)', async () => {
    const base = (): Record<string, unknown> => troponin({ nhs: '9000000451', at: '2026-03-06T10:00:00Z', value: 1, id: 'unstorable' });
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base(), identifier: [{ system: '\ud800', value: 'x' }] }, 'Observation.identifier[0].system'],
      [{ ...base(), identifier: [{ system: 'https://lab.example/r', value: 'v\udc00' }] }, 'Observation.identifier[0].value'],
      [{ ...base(), subject: { reference: 'Patient/\u0000' } }, 'Observation.subject.reference'],
      [{ ...base(), note: [{ text: 'a\u0000b' }] }, 'Observation.note[0].text'],
    ];
    for (const [body, where] of cases) {
      for (const path of ['/fhir/Observation', '/fhir']) {
        const sent = path === '/fhir' ? { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'Observation' }, resource: body }] } : body;
        for (let attempt = 0; attempt < 2; attempt++) {
          const r = await post(sent, path);
          expect(r.status, `${where} via ${path}`).toBe(400);
          expect(JSON.stringify(r.json), where).toContain(where.replace(/^Observation/, ''));
        }
      }
    }
    expect(await stored()).toBe(0);
  });

  it('malformed JSON, deep nesting, a body over 1 MiB: 400, 400, 413; nothing stored', async () => {
    expect((await post('{"resourceType": "Observation",')).status).toBe(400);
    const deep = `${'{"a":'.repeat(100)}1${'}'.repeat(100)}`;
    expect((await post(deep)).status).toBe(400);
    const huge = await post({ ...troponin({ at: '2026-03-06T10:00:00Z', value: 1 }), note: [{ text: 'x'.repeat(2 * 1024 * 1024) }] });
    expect(huge.status).toBe(413);
    expect(await stored()).toBe(0);
  });

  it('Bundles: 10x a normal batch (50 entries) is taken; 1,000x (5,000) is 413 with nothing stored; a bad entry refuses a transaction whole', async () => {
    const entry = (i: number, nhs = '9000000401') => ({ request: { method: 'POST', url: 'Observation' }, resource: troponin({ nhs, at: '2026-03-06T10:00:00Z', value: 10 + i, id: `h-${nhs}-${i}` }) });
    const ten = await post({ resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: 50 }, (_, i) => entry(i)) }, '/fhir');
    expect(ten.status).toBe(200);
    expect(ten.json.entry).toHaveLength(50);
    const before = await stored();
    const thousand = await post({ resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: 5000 }, (_, i) => entry(i, '9000000402')) }, '/fhir');
    expect(thousand.status).toBe(413);
    expect(codeOf(thousand)).toBe('TNP_ERR_PAYLOAD_TOO_LARGE');
    // Under the body bound, the entry bound (500) holds too.
    const many = await post({ resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: 501 }, () => ({ request: { method: 'POST', url: 'Observation' } })) }, '/fhir');
    expect(many.status).toBe(413);
    expect(codeOf(many)).toBe('TNP_ERR_FHIR_BUNDLE_TOO_LARGE');
    const bad = await post({ resourceType: 'Bundle', type: 'transaction', entry: [entry(0, '9000000403'), { request: { method: 'DELETE', url: 'Observation/1' } }] }, '/fhir');
    expect(bad.status).toBe(400);
    expect(bad.json.issue[0].expression).toEqual(['Bundle.entry[1].request']);
    expect(await stored()).toBe(before);
    const notBundle = await post({ resourceType: 'Bundle', type: 'collection', entry: [] }, '/fhir');
    expect(notBundle.status).toBe(400);
  });

  it('never a 500, whatever the body (fuzzed JSON)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), fc.record({ resourceType: fc.constant('Observation'), status: fc.constantFrom('final', 'x'), code: fc.jsonValue(), valueQuantity: fc.jsonValue(), subject: fc.jsonValue(), identifier: fc.jsonValue(), effectiveDateTime: fc.jsonValue() })), async (body) => {
        const r = await post(body);
        expect(r.status).toBeLessThan(500);
        if (r.status >= 400) expect(r.json.resourceType).toBe('OperationOutcome');
      }),
      { numRuns: 150, seed: 4242 },
    );
  });
});
