/**
 * The timings of `npm run bench:report`: the roll-up's catch-up, then every report variant (JSON, CSV and
 * MeasureReport, each by month and by week over the trail's three years, and one pathway by week), each run
 * `runs` times; a table row per store with the median and the largest of the runs, and the load average.
 */
import { loadavg } from 'node:os';
import { toMeasureReport } from '../src/adoption/measure-report.js';
import type { ReportQuery } from '../src/adoption/report.js';
import type { AdoptionReports } from '../src/adoption/service.js';
import { toCsv, toJson } from '../src/adoption/views.js';

export const WHOLE: ReportQuery = { from: '2023-01-01', to: '2025-12-31', granularity: 'month' };
const WEEK: ReportQuery = { ...WHOLE, granularity: 'week' };

export const ROW_HEAD = ['| store | records | roll-up (catch-up since the last row) | JSON, month | JSON, week | CSV, month | CSV, week | MeasureReport, month | MeasureReport, week | one pathway, week | load average |', '|---|---|---|---|---|---|---|---|---|---|---|'];

export const loadAverage = (): string => loadavg().map((x) => x.toFixed(1)).join(' ');
const ms = (t0: number): number => Math.round(performance.now() - t0);
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** Catches `reports` up (timed) and times every variant; logs each run and returns the table row. */
export async function measureReports(name: string, reports: AdoptionReports, runs: number): Promise<string> {
  const t1 = performance.now();
  const up = await reports.catchUp();
  const rollMs = ms(t1);
  const time = async (label: string, f: () => Promise<unknown>): Promise<string> => {
    const xs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const s0 = performance.now();
      await f();
      xs.push(ms(s0));
    }
    console.log(`${name} at ${up.lastSeq} records: ${label}: ${xs.join(', ')} ms`);
    return `${median(xs)} ms (max ${Math.max(...xs)})`;
  };
  const cells = [
    await time('JSON, month', async () => JSON.stringify(toJson(await reports.report(WHOLE)))),
    await time('JSON, week', async () => JSON.stringify(toJson(await reports.report(WEEK)))),
    await time('CSV, month', async () => toCsv(await reports.report(WHOLE))),
    await time('CSV, week', async () => toCsv(await reports.report(WEEK))),
    await time('MeasureReport, month', async () => JSON.stringify(toMeasureReport(await reports.report(WHOLE)))),
    await time('MeasureReport, week', async () => JSON.stringify(toMeasureReport(await reports.report(WEEK)))),
    await time('one pathway, week', async () => JSON.stringify(toJson(await reports.report({ ...WEEK, pathwayId: 'chart2' })))),
  ];
  const row = `| ${name} | ${up.lastSeq} | ${(rollMs / 1000).toFixed(1)} s (${up.applied} records, ${Math.round(up.applied / Math.max(0.001, rollMs / 1000))}/s) | ${cells.join(' | ')} | ${loadAverage()} |`;
  console.log(row);
  return row;
}
