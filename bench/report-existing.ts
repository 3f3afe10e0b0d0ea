/**
 * `npx tsx bench/report-existing.ts <sqlite file | postgres schema> ...`: the timings of bench:report
 * (bench/report-measure.ts) on audit stores that already hold a trail, for instance the trail a stopped
 * `npm run bench:report` left (a prefix of the seeded trail: every chunk is committed whole, so the chain
 * holds). BENCH_RUNS (3), BENCH_PG_URL. BENCH_VERIFY=1 also verifies the chain first (timed).
 */
import { randomUUID } from 'node:crypto';
import { openAuditStore, type AuditStoreSettings } from '../src/audit/store.js';
import { AdoptionReports, openAdoptionBackend } from '../src/adoption/service.js';
import { loadAverage, measureReports, ROW_HEAD } from './report-measure.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const PG_URL = process.env['BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

const rows = [...ROW_HEAD];
console.log(`bench:report on existing stores ${new Date().toISOString()}; node ${process.version}; load average ${loadAverage()}`);
for (const where of process.argv.slice(2)) {
  const storage: AuditStoreSettings = where.includes('/') ? { kind: 'sqlite', path: where } : { kind: 'postgres', url: PG_URL, schema: where };
  if (process.env['BENCH_VERIFY'] === '1') {
    const store = await openAuditStore(storage, { newId: randomUUID, now: () => new Date() }, { connectTimeoutMs: 20_000 });
    const t0 = performance.now();
    const v = await store.verify();
    console.log(`${storage.kind}: verify ${JSON.stringify(v)} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    await store.close();
  }
  const reports = new AdoptionReports(await openAdoptionBackend(storage, { readOnly: false }), { now: () => new Date(), lateRetestMinutes: 30, batchSize: 5000 });
  rows.push(await measureReports(storage.kind, reports, RUNS));
  await reports.close();
}
console.log(`\n${rows.join('\n')}\n`);
