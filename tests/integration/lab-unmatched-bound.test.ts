/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * `GET /episodes/unmatched` (stored results that name no patient) is paged and bounded like the episode
 * detail (L-30): `_count` (default 50, at most 200), an `_after` cursor, `total` and `next`; each result
 * shows its latest 10 versions and counts the rest. Tested at a normal number of such results (5) and of
 * one result's versions (3), at 10x and at 1,000x, over real HTTP, on SQLite and PostgreSQL: by counting
 * results, versions and bytes per page, never by timing. Nothing stored is lost: paging by `next`
 * reaches every result exactly once, newest first, and every version stays readable.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DETAIL_PAGE, DETAIL_VERSIONS, MAX_DETAIL_PAGE } from '../../src/episodes/routes.js';
import { harnessFor, startApp, type RunningApp } from '../support/cds-app.js';
import { http, LAB_TOKEN, manualClock, troponin, WORKLIST_TOKEN } from '../support/lab.js';
import { addVersions } from '../support/lab-versions.js';
import { pgAvailable, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
/** A normal day's results that name no patient, and a normal result's versions. */
const NORMAL_RESULTS = 5;
const NORMAL_VERSIONS = 3;
/** Results per page when the test pages through, and the most bytes such a page may take. */
const PAGE = 200;
const PAGE_BYTES = 2_000_000;

function transaction(resources: readonly Record<string, unknown>[]): Record<string, unknown> {
  return { resourceType: 'Bundle', type: 'transaction', entry: resources.map((resource) => ({ resource, request: { method: 'POST', url: 'Observation' } })) };
}

/** Newest first: by creation time (version 1's lastUpdated), then id, both descending. */
function descending(a: [string, string], b: [string, string]): number {
  return a[0] !== b[0] ? (a[0] < b[0] ? 1 : -1) : a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0;
}

function suite(kind: 'sqlite' | 'postgres'): void {
  describe(`GET /episodes/unmatched is paged and bounded, on ${kind}`, () => {
    const harness = harnessFor(kind);
    afterAll(() => harness.cleanup());
    const start = (clock: ReturnType<typeof manualClock>): Promise<RunningApp> =>
      startApp({ storage: harness.fresh(), now: clock.now, settings: { labClients: [{ name: 'main-lab', token: LAB_TOKEN }], worklistTokens: [WORKLIST_TOKEN] } });

    it.each([
      ['normal', NORMAL_RESULTS],
      ['10x', 10 * NORMAL_RESULTS],
      ['1,000x', 1000 * NORMAL_RESULTS],
    ])('%s (%i results naming no patient): every page is bounded; paging by next reaches each result once, newest first; total counts them all', async (_label, size) => {
      const clock = manualClock('2026-03-06T10:05:00Z');
      const app = await start(clock);
      try {
        // Bundles of up to 500, a second apart: results share a creation time within a bundle (then the order is by id).
        for (let i = 0; i < size; i += 500) {
          const batch = Array.from({ length: Math.min(500, size - i) }, (_, j) => troponin({ nhs: null, at: '2026-03-06T10:00:00Z', value: 10, id: `loose-${i + j}` }));
          const res = await http(app.url, 'POST', '/fhir', LAB_TOKEN, transaction(batch));
          expect(res.status, res.text.slice(0, 300)).toBe(200);
          clock.advance(1000);
        }
        const first = await http(app.url, 'GET', '/episodes/unmatched', WORKLIST_TOKEN);
        expect(first.status).toBe(200);
        expect(first.json.total).toBe(size);
        expect(first.json.results).toHaveLength(Math.min(size, DETAIL_PAGE));
        expect(first.json.next === null).toBe(size <= DETAIL_PAGE);
        const capped = await http(app.url, 'GET', '/episodes/unmatched?_count=999999', WORKLIST_TOKEN);
        expect(capped.json.results).toHaveLength(Math.min(size, MAX_DETAIL_PAGE));

        const seen: string[] = [];
        const order: [string, string][] = [];
        let next: string | null = `/episodes/unmatched?_count=${PAGE}`;
        let pages = 0;
        while (next !== null) {
          const page = await http(app.url, 'GET', next, WORKLIST_TOKEN);
          expect(page.status, page.text.slice(0, 300)).toBe(200);
          expect(page.json.results.length).toBeLessThanOrEqual(PAGE);
          expect(page.text.length).toBeLessThan(PAGE_BYTES);
          expect(page.json.total).toBe(size);
          for (const r of page.json.results) {
            seen.push(r.versions[0].resource.identifier[0].value);
            order.push([r.versions[r.versions.length - 1].lastUpdated, r.id]);
          }
          next = page.json.next;
          pages++;
        }
        expect(pages).toBe(Math.ceil(size / PAGE));
        expect(new Set(seen).size).toBe(size);
        expect([...seen].sort()).toEqual(Array.from({ length: size }, (_, i) => `loose-${i}`).sort());
        expect(order).toEqual([...order].sort(descending));
      } finally {
        await app.close();
      }
    }, 300_000);

    it.each([
      ['normal', NORMAL_VERSIONS],
      ['10x', 10 * NORMAL_VERSIONS],
      ['1,000x', 1000 * NORMAL_VERSIONS],
    ])('%s (%i versions of one result naming no patient): the list shows its latest versions and counts the rest; every version stays readable', async (_label, size) => {
      const clock = manualClock('2026-03-06T10:05:00Z');
      const app = await start(clock);
      try {
        const created = await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, troponin({ nhs: null, at: '2026-03-06T10:00:00Z', value: 10, id: 'loose-many' }));
        expect(created.status).toBe(201);
        await addVersions(app.store, created.json.id, size - 1, (i) => troponin({ nhs: null, at: '2026-03-06T10:00:00Z', value: 11 + i, id: 'loose-many', status: 'corrected' }));
        const list = await http(app.url, 'GET', '/episodes/unmatched', WORKLIST_TOKEN);
        expect(list.status).toBe(200);
        expect(list.text.length).toBeLessThan(PAGE_BYTES);
        const [r] = list.json.results;
        expect(r.versionCount).toBe(size);
        expect(r.versions.map((v: any) => v.version)).toEqual(Array.from({ length: Math.min(size, DETAIL_VERSIONS) }, (_, i) => size - i));
        expect(r.olderVersions).toBe(size - Math.min(size, DETAIL_VERSIONS));
        for (const v of [1, size]) expect((await http(app.url, 'GET', `/fhir/Observation/${created.json.id}/_history/${v}`, LAB_TOKEN)).status).toBe(200);
      } finally {
        await app.close();
      }
    }, 300_000);

    it('a malformed cursor or page size is a 400, never a 500, and so is the old unpaged `limit`', async () => {
      const app = await start(manualClock('2026-03-06T10:05:00Z'));
      try {
        for (const q of ['?_after=nope', '?_after=123~abc', '?_count=0', '?_count=-1', '?_other=1', '?limit=10']) {
          const res = await http(app.url, 'GET', `/episodes/unmatched${q}`, WORKLIST_TOKEN);
          expect(res.status, q).toBe(400);
        }
        const ok = await http(app.url, 'GET', `/episodes/unmatched?_after=${encodeURIComponent('2026-03-06T10:05:00.000Z~0f0e')}`, WORKLIST_TOKEN);
        expect(ok.status).toBe(200);
        expect(ok.json).toEqual({ total: 0, next: null, results: [] });
      } finally {
        await app.close();
      }
    });
  });
}

suite('sqlite');
describe.runIf(runPg)('PostgreSQL', () => suite('postgres'));
