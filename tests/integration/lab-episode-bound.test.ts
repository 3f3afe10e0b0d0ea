/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * The cost of one laboratory result is bounded whatever the size of its episode (C2 rule 16; the
 * project's rule: every path whose cost grows with input has a bound, tested at 10x and 1,000x normal).
 *
 * A normal episode is about five results (an ECG, a TIMI score, a few troponins). One patient's episode
 * is filled to 10x and 1,000x that over real HTTP (transaction Bundles), then one more result is posted:
 * its evaluation reads at most the bound (counted in its audit record's inputs, never timed), nothing
 * stored is lost, and the outcome is never less serious than a full reading gives (an ECG with
 * ST-elevation drawn first, long out of the latest results, still gives `acute-mi-pathway`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, harnessFor, startApp, type RunningApp } from '../support/cds-app.js';
import { pgAvailable, requireService } from '../support/services.js';
import { http, LAB_TOKEN, manualClock, NHS, PRODUCT, RESULTS, timi, troponin, WORKLIST_TOKEN } from '../support/lab.js';
import { episodeReadBound } from '../../src/episodes/evaluate.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const T0 = Date.parse('2026-03-06T10:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
/** chart2.json maxTroponinResults. */
const MAX_TROPONIN_RESULTS = 50;
const NORMAL = 5;

function stemiEcg(nhs: string, at: string): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    identifier: [{ system: RESULTS, value: `ecg-${nhs}` }],
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8601-7' }] },
    subject: { identifier: { system: NHS, value: nhs } },
    effectiveDateTime: at,
    valueCodeableConcept: { coding: [{ system: PRODUCT, code: 'stemi-or-new-lbbb' }] },
  };
}

function transaction(resources: readonly Record<string, unknown>[]): Record<string, unknown> {
  return { resourceType: 'Bundle', type: 'transaction', entry: resources.map((resource) => ({ resource, request: { method: 'POST', url: 'Observation' } })) };
}

function suite(kind: 'sqlite' | 'postgres'): void {
  describe(`one result's cost is bounded by its episode's size, on ${kind}`, () => {
    const harness = harnessFor(kind);
    const clock = manualClock('2026-03-06T13:00:00Z');
    let app: RunningApp;
    beforeAll(async () => {
      app = await startApp({ storage: harness.fresh(), now: clock.now, settings: { labClients: [{ name: 'main-lab', token: LAB_TOKEN }], worklistTokens: [WORKLIST_TOKEN] } });
    });
    afterAll(async () => {
      await app.close();
      await harness.cleanup();
    });

    it('the read bound is twice rule 16 bound (an episode within it is read whole)', () => {
      expect(episodeReadBound(MAX_TROPONIN_RESULTS)).toBe(2 * MAX_TROPONIN_RESULTS);
    });

    it.each([
      ['normal', NORMAL, '9100000001'],
      ['10x', 10 * NORMAL, '9100000002'],
      ['1,000x', 1000 * NORMAL, '9100000003'],
    ])('%s episode (%i results): one more result reads at most the bound; nothing stored is lost; the outcome stays acute-mi-pathway', async (_label, size, nhs) => {
      // The ECG with ST-elevation first, then a TIMI score and troponins, one second apart.
      const seed: Record<string, unknown>[] = [stemiEcg(nhs, iso(T0)), timi(nhs, iso(T0), 2, `timi-${nhs}`)];
      for (let i = seed.length; i < size; i++) seed.push(troponin({ nhs, at: iso(T0 + 60_000 + i * 1000), value: 10, id: `t-${nhs}-${i}` }));
      for (let i = 0; i < seed.length; i += 500) {
        const res = await http(app.url, 'POST', '/fhir', LAB_TOKEN, transaction(seed.slice(i, i + 500)));
        expect(res.status, res.text.slice(0, 300)).toBe(200);
      }
      const probe = await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, troponin({ nhs, at: iso(T0 + 60_000 + size * 1000), value: 11, id: `probe-${nhs}` }));
      expect(probe.status).toBe(201);

      const list = await http(app.url, 'GET', '/episodes?status=all&limit=100', WORKLIST_TOKEN);
      const row = list.json.episodes.find((e: any) => e.patient.value === nhs);
      expect(row.outcome).toBe('acute-mi-pathway');
      const audit = await http(app.url, 'GET', `/audit/${row.auditId}`, ADMIN_TOKEN);
      expect(audit.status).toBe(200);
      const read = new Set(audit.json.body.inputResources.map((i: any) => i.ref));
      const bound = episodeReadBound(MAX_TROPONIN_RESULTS);
      // The count read back from the store: the whole episode within the bound, else the bound + 1 (which
      // says the episode is past it); then the result just posted.
      expect(read.size).toBe(Math.min(size, bound + 1) + 1);
      expect(audit.json.body.outcome).toBe('acute-mi-pathway');
      expect(audit.json.body.episodeRead).toEqual({ results: read.size, complete: size <= bound });

      // Nothing stored is lost: every result is in the episode, and the first one posted is still readable.
      const detail = await http(app.url, 'GET', `/episodes/${row.id}`, WORKLIST_TOKEN);
      expect(detail.json.results).toHaveLength(size + 1);
      const first = detail.json.results.find((r: any) => r.versions[0]?.resource?.identifier?.[0]?.value === `ecg-${nhs}`);
      expect(first).toBeDefined();
    }, 300_000);
  });
}

suite('sqlite');
describe.runIf(runPg)('PostgreSQL', () => suite('postgres'));
