/**
 * The JSON and CSV views of the report model. Neither carries anything but counts, codes, periods,
 * pathway identities and settings hashes: no patient, encounter, request or record identifier exists in
 * the model to begin with.
 */
import { entryList, type CellModel, type ReportModel } from './report.js';
import { MIN_COUNT } from './suppress.js';

export const SUPPRESSION_RULE =
  `Counts of 1 to ${MIN_COUNT - 1} are suppressed, and every count of a period in which fewer than ${MIN_COUNT} episodes started; ` +
  'where a total and its parts are published, a second count is suppressed so that no suppressed count can be recovered by subtraction ' +
  '(across outcomes, periods, settings and pathways). Medians and quartiles are published from 5 values up. Suppressed counts are null.';

export interface JsonCount {
  readonly n: number | null;
  readonly suppressed?: true;
}

type Nested = { [k: string]: Nested | JsonCount };
const isCount = (x: Nested | JsonCount | undefined): x is JsonCount => x !== undefined && 'n' in x && (typeof x.n === 'number' || x.n === null);

function nest(c: CellModel): Nested {
  const out: Nested = {};
  for (const { path, value } of entryList(c)) {
    let at: Nested = out;
    for (const seg of path.slice(0, -1)) {
      const next = at[seg];
      if (next === undefined || isCount(next)) at[seg] = {};
      at = at[seg] as Nested;
    }
    at[path[path.length - 1] ?? ''] = value === null ? { n: null, suppressed: true } : { n: value };
  }
  return out;
}

function cellJson(c: CellModel) {
  return { start: c.start, end: c.end, suppressed: c.suppressed, measures: nest(c), statistics: c.stats };
}

export function toJson(m: ReportModel) {
  return {
    report: 'hs-troponin-cds adoption',
    generatedAt: m.context.generatedAt,
    throughSeq: m.context.throughSeq,
    query: { from: m.query.from, to: m.query.to, granularity: m.query.granularity, pathway: m.query.pathwayId ?? null },
    coverage: m.coverage,
    periods: m.periods,
    suppression: { minCount: MIN_COUNT, rule: SUPPRESSION_RULE },
    series: m.series.map((s) => ({
      pathway: { id: s.pathway.id, title: s.pathway.title, outcomes: s.pathway.outcomes, singleSampleRuleOut: s.singleSample, knownPathwayFile: !s.pathway.unknown },
      settingsSha256: s.settingsHash,
      periods: s.periods.map(cellJson),
      total: cellJson(s.total),
    })),
    overall: cellJson(m.overall),
  };
}

export type AdoptionJson = ReturnType<typeof toJson>;

/** RFC 4180 field: quoted when it holds a comma, quote or line break; a leading =, +, - or @ is defused. */
function field(v: string | number | null): string {
  if (v === null) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CSV_HEADER = ['period_start', 'period_end', 'scope', 'pathway', 'settings_sha256', 'measure', 'key', 'value', 'suppressed'] as const;

/**
 * Long format: one row per count or statistic of every cell. A cell's first five fields are written once
 * per cell and each measure name once per report (a weekly report over three years has about 150 000
 * rows); numbers need no quoting.
 */
export function toCsv(m: ReportModel): string {
  const lines: string[] = [CSV_HEADER.join(',')];
  const names = new Map<string, string>();
  const name = (s: string): string => {
    let t = names.get(s);
    if (t === undefined) {
      t = field(s);
      names.set(s, t);
    }
    return t;
  };
  const valueAndFlag = (v: number | null): string => (v === null ? ',true' : `${field(v)},false`);
  const emit = (c: CellModel, scope: string, pathway: string, hash: string): void => {
    const head = `${[c.start, c.end, scope, pathway, hash].map(field).join(',')},`;
    for (const { path, value } of entryList(c)) lines.push(`${head}${name(path[0] ?? '')},${name(path.slice(1).join('/'))},${valueAndFlag(value)}`);
    const stats = `${head}${name('statistics')},`;
    for (const [k, v] of Object.entries(c.stats)) lines.push(`${stats}${name(k)},${valueAndFlag(v)}`);
  };
  for (const s of m.series) {
    for (const p of s.periods) emit(p, 'period', s.pathway.id, s.settingsHash);
    emit(s.total, 'series-total', s.pathway.id, s.settingsHash);
  }
  emit(m.overall, 'overall', m.query.pathwayId ?? '*', '*');
  return `${lines.join('\r\n')}\r\n`;
}
