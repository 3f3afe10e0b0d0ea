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
 * 2. The roll-up catches up from seq 1 (timed: the one-off cost on an existing trail).
 * 3. The report is timed: JSON, CSV and MeasureReport, each by month and by week over the whole range, and
 *    one pathway by week, each run BENCH_RUNS times (median and max); then 1 000 more records are appended
 *    and the report timed with its catch-up included, as a request finds it between two background catch-ups.
 *
 * Goal (issue 11): every report under 2 s on both stores. Options (environment): BENCH_RECORDS (1000000),
 * BENCH_SEED (20260101), BENCH_STORES (sqlite,postgres), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/test),
 * BENCH_RUNS (3), BENCH_CHECK_EVERY (50: one reused decision in this many is decided again and compared).
 * Stops by itself; the PostgreSQL schema and the SQLite file are removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openAuditStore, type AuditRecordInput, type AuditStore, type AuditStoreSettings } from '../src/audit/store.js';
import { toMeasureReport } from '../src/adoption/measure-report.js';
import type { ReportQuery } from '../src/adoption/report.js';
import { AdoptionReports, openAdoptionBackend } from '../src/adoption/service.js';
import { toCsv, toJson } from '../src/adoption/views.js';
import { loadRuntime } from '../src/pathways/load.js';
import { loadSettings } from '../src/settings.js';
import { caseDecisions } from './trail/decisions.js';
import { randomEpisodes } from './trail/episodes.js';
import { bulkWriter, SITE_SETTINGS, storeWriter, writeTrail } from './trail/records.js';

const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 1_000_000);
const SEED = Number(process.env['BENCH_SEED'] ?? 20260101);
const STORES = (process.env['BENCH_STORES'] ?? 'sqlite,postgres').split(',');
const PG_URL = process.env['BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const CHECK_EVERY = Number(process.env['BENCH_CHECK_EVERY'] ?? 50);
const START = Date.parse('2023-01-01T00:00:00Z');
const DAYS = 3 * 365;
/** Records per episode of the generator's mix (measured: about 2.37). */
const PER_EPISODE = 2.37;

const ms = (t0: number): number => Math.round(performance.now() - t0);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const load = (): string => loadavg().map((x) => x.toFixed(1)).join(' ');

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
    const episodes = randomEpisodes(SEED, Math.round(RECORDS / PER_EPISODE), START, DAYS);
    let t0 = performance.now();
    const bulk = bulkWriter(targets.map((t) => t.store), 10_000, 5000);
    let appended = 0;
    const decisions = caseDecisions(rt, CHECK_EVERY);
    const progress = { append: async (input: AuditRecordInput, id: string) => {
      await bulk.append(input, id);
      if (++appended % 100_000 === 0) console.error(`  ${appended} records written (${ms(t0) / 1000} s; load average ${load()})`);
    }, flush: () => bulk.flush() };
    const written = await writeTrail(progress, episodes, rt, SEED, undefined, decisions);
    const writeMs = ms(t0);
    const d = decisions.stats;
    console.log(`trail: ${written} records, ${episodes.length} episodes over ${DAYS} days, written to ${STORES.join(' and ')} in ${(writeMs / 1000).toFixed(0)} s, ${Math.round(written / (writeMs / 1000))} records/s (seed ${SEED}; ${d.decided} cases decided by the engine, ${d.reused} reused, ${d.checked} decided again and identical; load average ${load()})`);
    const whole: ReportQuery = { from: '2023-01-01', to: '2025-12-31', granularity: 'month' };
    const week: ReportQuery = { ...whole, granularity: 'week' };
    const rows: string[] = [`| store | roll-up from seq 1 | JSON, month | JSON, week | CSV, month | CSV, week | MeasureReport, month | MeasureReport, week | one pathway, week | +1 000 records, catch-up included | load average |`, '|---|---|---|---|---|---|---|---|---|---|---|'];
    for (const t of targets) {
      const backend = await openAdoptionBackend(t.storage, { readOnly: false });
      const reports = new AdoptionReports(backend, { now: () => new Date(), lateRetestMinutes: 30, batchSize: 5000 });
      t0 = performance.now();
      const up = await reports.catchUp();
      const rollMs = ms(t0);
      console.log(`${t.name}: roll-up of ${up.applied} records in ${(rollMs / 1000).toFixed(1)} s (load average ${load()})`);
      const time = async (label: string, f: () => Promise<unknown>): Promise<string> => {
        const xs: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const s = performance.now();
          await f();
          xs.push(ms(s));
        }
        console.log(`${t.name}: ${label}: ${xs.join(', ')} ms`);
        return `${median(xs)} ms (max ${Math.max(...xs)})`;
      };
      const cells = [
        await time('JSON, month', async () => JSON.stringify(toJson(await reports.report(whole)))),
        await time('JSON, week', async () => JSON.stringify(toJson(await reports.report(week)))),
        await time('CSV, month', async () => toCsv(await reports.report(whole))),
        await time('CSV, week', async () => toCsv(await reports.report(week))),
        await time('MeasureReport, month', async () => JSON.stringify(toMeasureReport(await reports.report(whole)))),
        await time('MeasureReport, week', async () => JSON.stringify(toMeasureReport(await reports.report(week)))),
        await time('one pathway, week', async () => JSON.stringify(toJson(await reports.report({ ...week, pathwayId: 'chart2' })))),
      ];
      const more = randomEpisodes(SEED + 1, Math.round(1000 / PER_EPISODE), Date.parse('2025-12-30T00:00:00Z'), 1);
      const w = storeWriter(512);
      const extraStore = await openAuditStore(t.storage, { newId: w.newId, now: () => new Date() });
      await writeTrail(w.bind(extraStore), more, rt, SEED + 1);
      await extraStore.close();
      t0 = performance.now();
      const m = await reports.report(whole);
      const tail = `${ms(t0)} ms (${m.context.throughSeq - up.lastSeq} records rolled up)`;
      rows.push(`| ${t.name} | ${(rollMs / 1000).toFixed(1)} s (${up.applied} records, ${Math.round(up.applied / (rollMs / 1000))}/s) | ${cells.join(' | ')} | ${tail} | ${load()} |`);
      await reports.close();
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
