/**
 * `npm run bench:report`: the adoption report over a realistic synthetic audit trail of about one million
 * records (a busy department's three years), on SQLite and on PostgreSQL.
 *
 * 1. A seeded generator (bench/trail) makes the department's episodes; each evaluation is decided by the
 *    real engine on FHIR resources (each distinct case once, repeats reused with their times shifted and
 *    one in 50 decided again and compared: bench/trail/decisions.ts) and written through the real audit
 *    store's bulk append (the rows and hash chain `append` writes; tests/integration/audit-bulk.test.ts,
 *    tests/integration/trail-bulk.test.ts), with the service's record bodies
 *    (tests/integration/adoption-trail-shape.test.ts), to both stores at once (each entry serialised once;
 *    the same ids, so the two chains are identical), one buffer written while the next is made.
 * 2. At each checkpoint (BENCH_CHECKPOINTS: 250 000, 500 000 and 750 000 records) and at the end, the
 *    roll-up catches up (timed) and the report is timed: JSON, CSV and MeasureReport, each by month and by
 *    week over the whole range, and one pathway by week, each run BENCH_RUNS times (median and max); a row
 *    is printed at once. Then 1 000 more records are appended and the report timed with its catch-up
 *    included, as a request finds it between two background catch-ups.
 *
 * Goal (issue 11): every report under 2 s on both stores. Options (environment): BENCH_RECORDS (1000000),
 * BENCH_SEED (20260101), BENCH_STORES (sqlite,postgres), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/test),
 * BENCH_RUNS (3), BENCH_CHECK_EVERY (50: one reused decision in this many is decided again and compared),
 * BENCH_TRAIL_WORKERS (2: worker threads making the trail's records, bench/trail/parallel.ts).
 * Stops by itself; the PostgreSQL schema and the SQLite file are removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openAuditStore, type AuditRecordInput, type AuditStore, type AuditStoreSettings } from '../src/audit/store.js';
import { AdoptionReports, openAdoptionBackend } from '../src/adoption/service.js';
import { loadRuntime } from '../src/pathways/load.js';
import { loadSettings } from '../src/settings.js';
import { loadAverage as load, measureReports, ROW_HEAD, WHOLE } from './report-measure.js';
import { randomEpisodes } from './trail/episodes.js';
import { writeTrailParallel } from './trail/parallel.js';
import { bulkWriter, SITE_SETTINGS, storeWriter, writeTrail } from './trail/records.js';

const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 1_000_000);
const SEED = Number(process.env['BENCH_SEED'] ?? 20260101);
const STORES = (process.env['BENCH_STORES'] ?? 'sqlite,postgres').split(',');
const PG_URL = process.env['BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const CHECK_EVERY = Number(process.env['BENCH_CHECK_EVERY'] ?? 50);
const TRAIL_WORKERS = Number(process.env['BENCH_TRAIL_WORKERS'] ?? 2);
const CHECKPOINTS = (process.env['BENCH_CHECKPOINTS'] ?? '250000,500000,750000').split(',').map(Number);
const START = Date.parse('2023-01-01T00:00:00Z');
const DAYS = 3 * 365;
/** Records per episode of the generator's mix (measured: about 2.37). */
const PER_EPISODE = 2.37;

const ms = (t0: number): number => Math.round(performance.now() - t0);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tnp-bench-report-'));
  const schema = `tnp_bench_report_${process.pid}`;
  const targets: { name: string; storage: AuditStoreSettings; store: AuditStore }[] = [];
  for (const name of STORES) {
    const storage: AuditStoreSettings = name === 'sqlite' ? { kind: 'sqlite', path: join(dir, 'audit.sqlite') } : { kind: 'postgres', url: PG_URL, schema };
    // A shared, loaded machine: statements of a 1 000-record chunk may take seconds (statement timeout = busy + 3 x connect).
    const store = await openAuditStore(storage, { newId: randomUUID, now: () => new Date() }, { connectTimeoutMs: 20_000 });
    targets.push({ name, storage, store });
  }
  try {
    console.log(`bench:report ${new Date().toISOString()}; node ${process.version}; ${cpus().length} x ${cpus()[0]?.model ?? '?'}; load average ${load()}`);
    const rt = await loadRuntime(loadSettings({ object: SITE_SETTINGS }));
    const episodes = Math.round(RECORDS / PER_EPISODE);
    const rows: string[] = [...ROW_HEAD];
    const opened = await Promise.all(targets.map(async (t) => ({ ...t, reports: new AdoptionReports(await openAdoptionBackend(t.storage, { readOnly: false }), { now: () => new Date(), lateRetestMinutes: 30, batchSize: 5000 }) })));
    const measure = async (): Promise<void> => {
      for (const t of opened) rows.push(await measureReports(t.name, t.reports, RUNS));
    };
    let t0 = performance.now();
    const bulk = bulkWriter(targets.map((t) => t.store), 10_000, 5000);
    const checkpoints = CHECKPOINTS.filter((c) => c < RECORDS);
    let appended = 0;
    const progress = { append: async (input: AuditRecordInput, id: string) => {
      await bulk.append(input, id);
      if (++appended % 100_000 === 0) console.error(`  ${appended} records written (${ms(t0) / 1000} s; load average ${load()})`);
      if (appended === checkpoints[0]) {
        checkpoints.shift();
        await bulk.flush();
        await measure();
      }
    }, flush: () => bulk.flush() };
    const d = await writeTrailParallel(progress, { seed: SEED, episodes, startMs: START, days: DAYS, engineVersion: '0.1.0', checkEvery: CHECK_EVERY }, TRAIL_WORKERS);
    const written = d.records;
    const writeMs = ms(t0);
    console.log(`trail: ${written} records, ${episodes} episodes over ${DAYS} days, written to ${STORES.join(' and ')} in ${(writeMs / 1000).toFixed(0)} s including the measures on the way, ${Math.round(written / (writeMs / 1000))} records/s (seed ${SEED}; ${TRAIL_WORKERS} worker threads; ${d.decided} cases decided by the engine, ${d.reused} reused, ${d.checked} decided again and identical; load average ${load()})`);
    await measure();
    for (const t of opened) {
      const more = randomEpisodes(SEED + 1, Math.round(1000 / PER_EPISODE), Date.parse('2025-12-30T00:00:00Z'), 1);
      const w = storeWriter(512);
      const extraStore = await openAuditStore(t.storage, { newId: w.newId, now: () => new Date() });
      const before = (await t.reports.report(WHOLE)).context.throughSeq;
      await writeTrail(w.bind(extraStore), more, rt, SEED + 1);
      await extraStore.close();
      t0 = performance.now();
      const m = await t.reports.report(WHOLE);
      console.log(`${t.name}: +${m.context.throughSeq - before} records, then JSON by month with its catch-up: ${ms(t0)} ms`);
      await t.reports.close();
    }
    console.log(`\n${rows.join('\n')}\n`);
  } finally {
    for (const t of targets) await t.store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    if (STORES.includes('postgres')) {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    }
  }
}

await main();
