/**
 * I-03: `npx hs-troponin-cds call` answers the discovery document's prefetch templates as an EHR would,
 * never with a guess: the service's own template (read from discovery, not written here) selects exactly
 * the patient's ECG, TIMI and troponin observations of a fixture; a read gives the resource or null; a
 * template naming a context field the call has not is left out; a search parameter `call` does not know
 * is refused by name.
 */
import { describe, expect, it } from 'vitest';
import { answerTemplate, entriesOf, fillPrefetch, fillTokens } from '../../src/dev/prefetch-fill.js';
import { prefetchTemplates } from '../../src/cds/prefetch.js';
import { isTnpError } from '../../src/errors.js';
import { runtime } from '../support/cases.js';
import { loadFixture } from '../support/fixtures.js';

const ctx = { userId: 'Practitioner/dr-1', patientId: 'pt-1005' };
type Json = Record<string, unknown>;

describe('I-03 prefetch filled as an EHR fills it', () => {
  it('the service\'s templates select exactly the patient\'s pathway observations of a fixture', async () => {
    const templates = prefetchTemplates(await runtime(), true);
    const entries = entriesOf(loadFixture('below-url-rise-above-url-consistent').doc);
    const other = { fullUrl: undefined, resource: { resourceType: 'Observation', id: 'x', subject: { reference: 'Patient/someone-else' }, code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] } } };
    const unrelated = { fullUrl: undefined, resource: { resourceType: 'Observation', id: 'bp', subject: { reference: 'Patient/pt-1005' }, code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] } } };
    const prefetch = fillPrefetch(templates, ctx, [...entries, other, unrelated]);
    const bundle = prefetch['observations'] as Json & { entry: { resource: Json }[] };
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 4 });
    expect(bundle.entry.map((e) => e.resource['id']).sort()).toEqual(entries.filter((e) => e.resource['resourceType'] === 'Observation').map((e) => e.resource['id']).sort());
    expect((prefetch['patient'] as Json)['id']).toBe('pt-1005');
  });

  it('grows with the file, no more: at 10x and 1,000x a fixture\'s observations every match is sent once, in order', async () => {
    const templates = prefetchTemplates(await runtime(), false);
    const base = entriesOf(loadFixture('below-url-rise-above-url-consistent').doc);
    for (const times of [10, 1000]) {
      const entries: { fullUrl: string | undefined; resource: Json }[] = Array.from({ length: times }, (_, k) => base.map((e) => ({ fullUrl: undefined, resource: { ...e.resource, id: `${String(e.resource['id'])}-${k}` } }))).flat();
      const bundle = fillPrefetch(templates, ctx, entries)['observations'] as Json & { entry: { resource: Json }[] };
      const observations = entries.filter((e) => e.resource['resourceType'] === 'Observation');
      expect(bundle['total']).toBe(observations.length);
      expect(bundle.entry.map((e) => e.resource['id'])).toEqual(observations.map((e) => e.resource['id']));
    }
  });

  it('a read of a resource the file has not is null; a system-less or code-less token matches as FHIR says', () => {
    const r = [{ fullUrl: undefined, resource: { resourceType: 'Observation', id: 'o1', subject: { reference: 'https://ehr.example/fhir/Patient/p1' }, code: { coding: [{ system: 'http://loinc.org', code: '8601-7' }] } } }];
    expect(answerTemplate('Patient/p1', r)).toBeNull();
    expect((answerTemplate('Observation?subject=Patient/p1&code=8601-7', r) as Json)['total']).toBe(1);
    expect((answerTemplate('Observation?patient=p1&code=http://loinc.org|', r) as Json)['total']).toBe(1);
    expect((answerTemplate('Observation?patient=p1&code=|8601-7', r) as Json)['total']).toBe(0);
    expect((answerTemplate('Observation?patient=p2', r) as Json)['total']).toBe(0);
  });

  it('a template naming a context field the call has not is left out, not answered empty', () => {
    expect(fillTokens('Encounter/{{context.encounterId}}', ctx)).toBeNull();
    expect(fillPrefetch({ enc: 'Encounter/{{context.encounterId}}', me: 'Practitioner/{{userPractitionerId}}' }, ctx, [])).toEqual({ me: null });
  });

  it('a search parameter it does not understand is refused by name, never guessed', () => {
    try {
      answerTemplate('Observation?patient=p1&date=ge2026-01-01', []);
      expect.unreachable();
    } catch (e) {
      expect(isTnpError(e) && e.message.includes('"date"')).toBe(true);
    }
  });
});
