/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * What one evaluation reads of a stored result is bounded whatever the number of its versions (the
 * project's rule: every cost that grows with input has a bound, tested at 10x and 1,000x normal size).
 *
 * The store reads a result's newest `EVALUATION_VERSIONS` versions and the newest used version before
 * them (src/episodes/versions.ts), in SQL on both databases. Shown here:
 * - the same decision as the full history gives: for every history of up to four versions over every
 *   status, with and without a version arriving on top (what the intake adds), the resources the pathway
 *   sees are those the full history gives (C2 rule 12: a later non-final version never supersedes a used
 *   one; a void current version stands alone);
 * - a result corrected 3 (normal), 30 (10x) and 3,000 (1,000x) times, its latest versions not usable:
 *   one more version through real HTTP reads at most `EVALUATION_VERSIONS` + 1 versions per result
 *   (counted on every lab read of the store, never timed), and its audited decision is exactly the one
 *   the full history gives (the old used version still counts);
 * - the database's own work: SQLite's plan takes only primary-key and index ranges, PostgreSQL's
 *   EXPLAIN ANALYZE counts the rows it touched.
 */
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numbered } from '../../src/audit/lab/postgres.js';
import { labStatements } from '../../src/audit/lab/sql.js';
import { openAuditStore, type AuditStore, type AuditStoreSettings, type LabEvent, type ResultVersionRow, type StoredResult } from '../../src/audit/store.js';
import { decideEpisode, resourcesFor, type ResultVersions } from '../../src/episodes/evaluate.js';
import { EVALUATION_VERSIONS } from '../../src/episodes/versions.js';
import { versionsOf } from '../../src/intake/cds-merge.js';
import { OBSERVATION_STATUSES } from '../../src/intake/validate.js';
import { loadRuntime } from '../../src/pathways/load.js';
import { ADMIN_TOKEN, harnessFor, startApp, type RunningApp } from '../support/cds-app.js';
import { ecg, http, LAB_TOKEN, manualClock, timi, troponin, WORKLIST_TOKEN } from '../support/lab.js';
import { addVersions, countingReads, type CountingReads } from '../support/lab-versions.js';
import { PG_URL, pgAvailable, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const AT = '2026-03-06T10:00:00.000Z';
/** A result normally has about three versions (preliminary, final, a correction). */
const NORMAL_VERSIONS = 3;
/** Versions of one result any lab read may return: the newest few and the newest used one before them. */
const PER_RESULT = EVALUATION_VERSIONS + 1;

const asVersions = (r: StoredResult): ResultVersions => versionsOf(r);
const texts = (rs: readonly Record<string, unknown>[]): string[] => rs.map((r) => JSON.stringify(r));

/** Every sequence of statuses of length 1..n, oldest first. */
function histories(n: number): string[][] {
  const out: string[][] = [];
  let level: string[][] = [[]];
  for (let len = 1; len <= n; len++) {
    level = level.flatMap((h) => OBSERVATION_STATUSES.map((s) => [...h, s]));
    out.push(...level);
  }
  return out;
}

/** Rows of lab_result_versions a PostgreSQL plan touched (returned, or read and filtered out), from EXPLAIN ANALYZE. */
function versionRowsTouched(plan: any): number {
  let n = 0;
  const walk = (node: any): void => {
    if (node['Relation Name'] === 'lab_result_versions') n += ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * (node['Actual Loops'] ?? 1);
    for (const child of node['Plans'] ?? []) walk(child);
  };
  walk(plan);
  return n;
}

async function explain(settings: AuditStoreSettings, sql: string, args: unknown[]): Promise<{ sqlitePlan?: string[]; pgTouched?: number }> {
  if (settings.kind === 'sqlite') {
    const db = new Database(settings.path, { readonly: true });
    try {
      return { sqlitePlan: (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail) };
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    const schema = settings.schema ?? 'public';
    await c.query(`ANALYZE "${schema}".lab_result_versions`);
    await c.query(`ANALYZE "${schema}".lab_results`);
    // This test's table holds one result's whole history, so the planner may rightly prefer a sequential
    // scan here that it would never choose in a department's table of many results. What is measured is
    // that the statement has a plan bounded by index ranges; the rows the service reads are counted above.
    await c.query('SET enable_seqscan = off');
    const res = await c.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${numbered(sql)}`, args);
    const plan = (res.rows[0] as Record<string, any>)['QUERY PLAN'][0]['Plan'];
    return { pgTouched: versionRowsTouched(plan) };
  } finally {
    await c.end();
  }
}

/** Runs `statements` on the store's database directly (as an older version of the service left it), then lists its indexes. */
async function rawIndexes(settings: AuditStoreSettings, statements: readonly string[]): Promise<string[]> {
  if (settings.kind === 'sqlite') {
    const db = new Database(settings.path);
    try {
      for (const sql of statements) db.exec(sql);
      return (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as { name: string }[]).map((r) => r.name);
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    for (const sql of statements) await c.query(sql);
    return (await c.query('SELECT indexname FROM pg_indexes WHERE schemaname = $1', [settings.schema ?? 'public'])).rows.map((r: any) => String(r.indexname));
  } finally {
    await c.end();
  }
}

function suite(kind: 'sqlite' | 'postgres'): void {
  describe(`an evaluation reads a bounded number of each result's versions, on ${kind}`, () => {
    const harness = harnessFor(kind);
    afterAll(() => harness.cleanup());
    /** The store's own statements, named as the store names its tables (a schema on PostgreSQL). */
    const statements = (s: AuditStoreSettings): ReturnType<typeof labStatements> => labStatements(s.kind === 'postgres' ? `"${s.schema ?? 'public'}".` : '');

    it('every history of up to four versions over every status: the bounded read gives the pathway what the full history gives, with or without a version arriving on top', async () => {
      const store = await openAuditStore(harness.fresh(), { newId: randomUUID, now: () => new Date(AT) });
      try {
        const all = histories(4);
        const auditId = randomUUID();
        const versions: ResultVersionRow[] = [];
        const results = all.map((h, i) => {
          const id = `h-${i}`;
          h.forEach((status, j) => {
            const resource = { resourceType: 'Observation', id, status, meta: { versionId: String(j + 1) }, note: [{ text: `version ${j + 1}` }] };
            versions.push({ resultId: id, version: j + 1, lastUpdated: new Date(Date.parse(AT) + j).toISOString(), status, contentSha: `${i}-${j}`, resource: JSON.stringify(resource), flags: '[]', source: '{}', auditId });
          });
          return { id, patientKey: null, client: 'lab', episodeId: null, currentVersion: h.length, timeMs: 0, createdAt: AT, flagged: false };
        });
        const ev: LabEvent = { patients: [], newKeys: results.map((r) => ({ key: `k|${r.id}`, resultId: r.id })), results, versions, patientLinks: [], episodes: [], evaluations: [], alerts: [], changes: [] };
        expect((await store.commitEvent(ev, [{ id: auditId, input: { kind: 'lab-intake', at: AT, patientId: null, body: { trigger: 'lab-result' } } }])).ok).toBe(true);

        const snap = await store.lab.snapshot({ keys: results.map((r) => `k|${r.id}`), patientKeys: [] });
        expect(snap.results.size).toBe(all.length);
        for (const [i, h] of all.entries()) {
          const id = `h-${i}`;
          const full = await store.lab.result(id);
          const bounded = snap.results.get(id);
          if (full === null || bounded === undefined) throw new Error(`${id} not read`);
          const label = `${id}: ${h.join(' > ')}`;
          expect(full.versions, label).toHaveLength(h.length);
          expect(bounded.versions.length, label).toBeLessThanOrEqual(PER_RESULT);
          // The newest versions are all there, newest first (what stands, and what the record names).
          expect(bounded.versions.slice(0, EVALUATION_VERSIONS).map((v) => v.version), label).toEqual(full.versions.slice(0, EVALUATION_VERSIONS).map((v) => v.version));
          expect(texts(resourcesFor([asVersions(bounded)])), label).toEqual(texts(resourcesFor([asVersions(full)])));
          for (const status of OBSERVATION_STATUSES) {
            const arriving = { status, resource: { resourceType: 'Observation', id, status, note: [{ text: 'arriving' }] } };
            const onTop = (r: StoredResult): ResultVersions => ({ ...asVersions(r), versions: [arriving, ...asVersions(r).versions] });
            expect(texts(resourcesFor([onTop(bounded)])), `${label} > ${status}`).toEqual(texts(resourcesFor([onTop(full)])));
          }
        }
      } finally {
        await store.close();
      }
    }, 300_000);

    it('a store made before these indexes gets them at its next start (and loses the unmatched list\'s old ones)', async () => {
      const settings = harness.fresh();
      await (await openAuditStore(settings, { newId: randomUUID, now: () => new Date(AT) })).close();
      const schema = settings.kind === 'postgres' ? `"${settings.schema ?? 'public'}".` : '';
      const before = [
        `DROP INDEX ${schema}lab_result_versions_used`,
        `DROP INDEX ${schema}lab_results_no_episode_page`,
        `CREATE INDEX lab_results_unmatched ON ${schema}lab_results (created_at) WHERE patient_key IS NULL`,
        `CREATE INDEX lab_results_unmatched_page ON ${schema}lab_results (created_at, id) WHERE patient_key IS NULL`,
      ];
      const indexes = await rawIndexes(settings, before);
      expect(indexes).toContain('lab_results_unmatched');
      expect(indexes).not.toContain('lab_result_versions_used');
      await (await openAuditStore(settings, { newId: randomUUID, now: () => new Date(AT) })).close();
      const after = await rawIndexes(settings, []);
      expect(after).toEqual(expect.arrayContaining(['lab_result_versions_used', 'lab_results_no_episode_page']));
      expect(after).not.toContain('lab_results_unmatched');
      expect(after).not.toContain('lab_results_unmatched_page');
    });

    describe('one result corrected normal, 10x and 1,000x times', () => {
      const clock = manualClock('2026-03-06T13:00:00Z');
      const settings = harness.fresh();
      let app: RunningApp;
      let store: AuditStore;
      let counter: CountingReads;
      beforeAll(async () => {
        store = await openAuditStore(settings, { newId: randomUUID, now: clock.now });
        counter = countingReads(store);
        app = await startApp({ store: counter.store, now: clock.now, settings: { labClients: [{ name: 'main-lab', token: LAB_TOKEN }], worklistTokens: [WORKLIST_TOKEN] } });
      });
      afterAll(async () => {
        await app.close();
        await store.close();
      });

      it('a transaction holding two versions of one result (preliminary, then final) stores both, in order, each once', async () => {
        const nhs = '9200000009';
        const entry = (status: string, value: number): Record<string, unknown> => ({ resource: troponin({ nhs, at: '2026-03-06T10:00:00Z', value, id: `twice-${nhs}`, status }), request: { method: 'POST', url: 'Observation' } });
        const res = await http(app.url, 'POST', '/fhir', LAB_TOKEN, { resourceType: 'Bundle', type: 'transaction', entry: [entry('preliminary', 20), entry('final', 30)] });
        expect(res.status, res.text.slice(0, 300)).toBe(200);
        expect(res.json.entry.map((e: any) => e.response.status)).toEqual(['201 Created', '201 Created']);
        const [first, second] = res.json.entry.map((e: any) => /\/fhir\/Observation\/([^/]+)\/_history\/(\d+)$/.exec(e.response.location)?.slice(1));
        expect(second).toEqual([first[0], '2']);
        expect(first[1]).toBe('1');
        const id = first[0];
        const history = await Promise.all([1, 2].map((v) => http(app.url, 'GET', `/fhir/Observation/${id}/_history/${v}`, LAB_TOKEN)));
        expect(history.map((h) => [h.status, h.json.status, h.json.valueQuantity.value])).toEqual([
          [200, 'preliminary', 20],
          [200, 'final', 30],
        ]);
        expect((await store.lab.result(id))?.row.currentVersion).toBe(2);
      });

      it.each([
        ['normal', NORMAL_VERSIONS, '9200000001'],
        ['10x', 10 * NORMAL_VERSIONS, '9200000002'],
        ['1,000x', 1000 * NORMAL_VERSIONS, '9200000003'],
      ])('%s (%i versions): one more version reads at most the bound, and its decision is the full history\'s', async (label, size, nhs) => {
        // An ECG, a TIMI score and a final baseline above the URL; then its versions, none usable since.
        for (const r of [ecg(nhs, '2026-03-06T09:55:00Z', `ecg-${nhs}`), timi(nhs, '2026-03-06T09:55:00Z', 2, `timi-${nhs}`), troponin({ nhs, at: '2026-03-06T10:00:00Z', value: 60, id: `corrected-${nhs}` })]) {
          const res = await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, r);
          expect(res.status, res.text.slice(0, 300)).toBe(201);
        }
        const first = await http(app.url, 'GET', '/episodes?status=all&limit=100', WORKLIST_TOKEN);
        const episodeId = first.json.episodes.find((e: any) => e.patient.value === nhs).id;
        const resultId = (await http(app.url, 'GET', `/episodes/${episodeId}`, WORKLIST_TOKEN)).json.results.find((r: any) => r.versions[0].resource.identifier[0].value === `corrected-${nhs}`).id;
        const unusable = ['preliminary', 'registered', 'entered-in-error', 'cancelled', 'unknown'];
        await addVersions(store, resultId, size - 1, (i) => troponin({ nhs, at: '2026-03-06T10:00:00Z', value: 5 + (i % 7), id: `corrected-${nhs}`, status: unusable[i % unusable.length] ?? 'preliminary' }));

        // One more version through real HTTP (preliminary, lower): what the evaluation reads is counted.
        counter.reset();
        const probe = await http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, troponin({ nhs, at: '2026-03-06T10:00:00Z', value: 4, id: `corrected-${nhs}`, status: 'preliminary' }));
        expect(probe.status, probe.text.slice(0, 300)).toBe(201);
        expect(probe.json.meta.versionId).toBe(String(size + 1));
        // The snapshot (the keyed result) and the episode's read (its three results), each result at most PER_RESULT versions.
        expect(counter.maxPerResult(), label).toBeLessThanOrEqual(PER_RESULT);
        expect(counter.read(), label).toBeLessThanOrEqual(4 * PER_RESULT);

        // The decision recorded is exactly the one the full history gives (every version read back).
        const row = (await http(app.url, 'GET', '/episodes?status=all&limit=100', WORKLIST_TOKEN)).json.episodes.find((e: any) => e.id === episodeId);
        const audit = await http(app.url, 'GET', `/audit/${row.auditId}`, ADMIN_TOKEN);
        expect(audit.status).toBe(200);
        const body = audit.json.body;
        const detail = await http(app.url, 'GET', `/episodes/${episodeId}`, WORKLIST_TOKEN);
        // In the order the intake holds them: the keyed result, then the episode's latest by time then id.
        const stored = await Promise.all(detail.json.results.map(async (r: any) => (await store.lab.result(r.id)) as StoredResult));
        const others = stored.filter((r) => r.row.id !== resultId).sort((a, b) => b.row.timeMs - a.row.timeMs || (a.row.id < b.row.id ? 1 : -1));
        const fulls = [...stored.filter((r) => r.row.id === resultId), ...others];
        expect(fulls[0]?.versions).toHaveLength(size + 1);
        const runtime = await loadRuntime(app.settings);
        const evalMs = Date.parse(body.evaluatedAt);
        const expected = await decideEpisode(runtime, fulls.map(asVersions), evalMs, null);
        const pick = (d: any): unknown => ({ outcome: d.outcome, indicator: d.indicator, summary: d.summary, reasons: d.reasons, missing: d.missing, troponin: d.troponin, inputs: d.inputs, trace: d.trace });
        expect(pick(JSON.parse(JSON.stringify(body)))).toEqual(pick(JSON.parse(JSON.stringify(expected))));
        // A CDS call's stored results (src/intake/cds-merge.ts) are read the same bounded way, to the same resources.
        const patientKey = fulls[0]?.row.patientKey ?? '';
        const forCds = await store.lab.resultsOfPatients([patientKey], 0, 500);
        expect(Math.max(...forCds.map((r) => r.versions.length))).toBeLessThanOrEqual(PER_RESULT);
        const byId = (rs: readonly StoredResult[]): StoredResult[] => [...rs].sort((a, b) => (a.row.id < b.row.id ? -1 : 1));
        expect(texts(resourcesFor(byId(forCds).map(asVersions)))).toEqual(texts(resourcesFor(byId(fulls).map(asVersions))));
        // And the old final version matters: without it (the latest version alone) the decision differs.
        const latestOnly = await decideEpisode(runtime, fulls.map((r) => ({ ...asVersions(r), versions: asVersions(r).versions.slice(0, 1) })), evalMs, null);
        expect(latestOnly.outcome).not.toBe(expected.outcome);

        // Reading the result back (FHIR read and _history) reads the one version asked for, never the history.
        counter.reset();
        const current = await http(app.url, 'GET', `/fhir/Observation/${resultId}`, LAB_TOKEN);
        const oldest = await http(app.url, 'GET', `/fhir/Observation/${resultId}/_history/1`, LAB_TOKEN);
        const missing = await http(app.url, 'GET', `/fhir/Observation/${resultId}/_history/${size + 2}`, LAB_TOKEN);
        expect([current.json.meta.versionId, oldest.json.meta.versionId, oldest.json.status, missing.status]).toEqual([String(size + 1), '1', 'final', 404]);
        expect(counter.read()).toBe(2);

        // The database's own work is bounded too: index ranges, never the result's whole history.
        const args = [EVALUATION_VERSIONS, resultId, EVALUATION_VERSIONS, resultId];
        const plan = await explain(settings, statements(settings).evaluationVersionsOf(1), args);
        if (plan.sqlitePlan !== undefined) {
          expect(plan.sqlitePlan.some((d) => d.includes('lab_result_versions_used')), plan.sqlitePlan.join('\n')).toBe(true);
          expect(plan.sqlitePlan.filter((d) => /^SCAN (v|u)\b/.test(d)), plan.sqlitePlan.join('\n')).toEqual([]);
        }
        if (plan.pgTouched !== undefined && size > 100) {
          expect(plan.pgTouched).toBeLessThanOrEqual(2 * PER_RESULT);
          // The measure sees a read that grows: the whole history is every version.
          const whole = await explain(settings, statements(settings).versionsOf(1), [resultId]);
          expect(whole.pgTouched).toBeGreaterThanOrEqual(size + 1);
        }
      }, 300_000);
    });
  });
}

suite('sqlite');
describe.runIf(runPg)('PostgreSQL', () => suite('postgres'));
