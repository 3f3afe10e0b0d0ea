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
import { DETAIL_PAGE, DETAIL_VERSIONS, MAX_DETAIL_PAGE } from '../../src/episodes/routes.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const T0 = Date.parse('2026-03-06T10:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
/** chart2.json maxTroponinResults. */
const MAX_TROPONIN_RESULTS = 50;
const NORMAL = 5;
/** Results per page when the test pages through an episode, and the most bytes such a page may take. */
const PAGE = 100;
const PAGE_BYTES = 1_000_000;

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

      // Nothing stored is lost, and the detail is paged (L-30): every page holds at most its _count
      // results (the default page, then the cap), so its size is bounded whatever the episode's; paging
      // by `next` reaches every result exactly once, by draw time then id; `total` counts them all.
      const first = await http(app.url, 'GET', `/episodes/${row.id}`, WORKLIST_TOKEN);
      expect(first.status).toBe(200);
      expect(first.json.total).toBe(size + 1);
      expect(first.json.results).toHaveLength(Math.min(size + 1, DETAIL_PAGE));
      // The ECG and the TIMI score share the first draw time (then the order is by id): both lead.
      expect(first.json.results.slice(0, 2).map((r: any) => r.versions[0].resource.identifier[0].value).sort()).toEqual([`ecg-${nhs}`, `timi-${nhs}`]);
      const capped = await http(app.url, 'GET', `/episodes/${row.id}?_count=999999`, WORKLIST_TOKEN);
      expect(capped.json.results).toHaveLength(Math.min(size + 1, MAX_DETAIL_PAGE));
      const seen: string[] = [];
      const order: [number, string][] = [];
      let next: string | null = `/episodes/${row.id}?_count=${PAGE}`;
      let pages = 0;
      while (next !== null) {
        const page = await http(app.url, 'GET', next, WORKLIST_TOKEN);
        expect(page.status, page.text.slice(0, 300)).toBe(200);
        expect(page.json.results.length).toBeLessThanOrEqual(PAGE);
        expect(page.text.length).toBeLessThan(PAGE_BYTES);
        for (const r of page.json.results) {
          seen.push(r.id);
          order.push([Date.parse(r.versions[0].resource.effectiveDateTime), r.id]);
        }
        next = page.json.next;
        pages++;
      }
      expect(pages).toBe(Math.ceil((size + 1) / PAGE));
      expect(seen).toHaveLength(size + 1);
      expect(new Set(seen).size).toBe(size + 1);
      const sorted = [...order].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
      expect(order).toEqual(sorted);
    }, 300_000);

    it.each([
      ['normal', 3, '9100000011'],
      ['10x', 30, '9100000012'],
    ])('%s amendments (%i versions): the detail shows the latest versions and counts the rest; the result endpoint keeps every version', async (_label, amendments, nhs) => {
      for (let i = 0; i < amendments; i++) {
        const res = await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, troponin({ nhs, at: iso(T0), value: 10 + i, id: `amended-${nhs}` }));
        expect(res.status, res.text.slice(0, 300)).toBeLessThan(300);
      }
      const list = await http(app.url, 'GET', '/episodes?status=all&limit=100', WORKLIST_TOKEN);
      const row = list.json.episodes.find((e: any) => e.patient.value === nhs);
      const detail = await http(app.url, 'GET', `/episodes/${row.id}`, WORKLIST_TOKEN);
      const [r] = detail.json.results;
      expect(r.versionCount).toBe(amendments);
      expect(r.versions).toHaveLength(Math.min(amendments, DETAIL_VERSIONS));
      expect(r.olderVersions).toBe(amendments - Math.min(amendments, DETAIL_VERSIONS));
      expect(r.versions.map((v: any) => v.version)).toEqual(Array.from({ length: Math.min(amendments, DETAIL_VERSIONS) }, (_, i) => amendments - i));
      const oldest = await http(app.url, 'GET', `/fhir/Observation/${r.id}/_history/1`, LAB_TOKEN);
      expect(oldest.status).toBe(200);
    }, 300_000);

    it('a malformed cursor or page size is a 4xx, never a 500', async () => {
      for (const q of ['?_after=nope', '?_count=0', '?_count=-1', '?_other=1']) {
        const res = await http(app.url, 'GET', `/episodes/no-such${q}`, WORKLIST_TOKEN);
        expect(res.status, q).toBe(400);
      }
    });
  });
}

suite('sqlite');
describe.runIf(runPg)('PostgreSQL', () => suite('postgres'));
