/**
 * The adoption report's model: from count rows to cells (one per period of each series, a total per
 * series, and one over everything), their entries with suppression applied, and the statistics that are
 * not counts (medians, quartiles, rates), each published only when what it is computed from may be.
 * The JSON, CSV and FHIR MeasureReport exports are views of this one model.
 */
import { cellEntries, codeSetsOf, keyPath, quantile, type CellEntries, type CodeSets, type Raw, type TimingRule } from './entries.js';
import { periodEnd, periodsCovering, type Granularity } from './periods.js';
import type { CountRow, Vocabularies } from './rollup.js';
import { MIN_COUNT, primary, secondary, type Entry, type SumConstraint } from './suppress.js';
import type { PathwayVocabulary } from './vocabulary.js';

export interface ReportQuery {
  /** First day, `YYYY-MM-DD` (UTC), inclusive. */
  readonly from: string;
  /** Last day, inclusive. */
  readonly to: string;
  readonly granularity: Granularity;
  readonly pathwayId?: string | undefined;
}

export interface ReportContext {
  readonly generatedAt: string;
  /** The last audit record counted. */
  readonly throughSeq: number;
  /** A retest drawn more than this many minutes after its due time is late (pathways without windows). */
  readonly lateRetestMinutes: number;
}

export type Stats = Readonly<Record<string, number | null>>;

export interface CellModel {
  /** First day of the period (or of the whole range for totals). */
  readonly start: string;
  /** The day after its last day. */
  readonly end: string;
  readonly entries: ReadonlyMap<string, Entry>;
  /** Fewer than 5 episodes started in it: every count hidden. */
  readonly suppressed: boolean;
  readonly stats: Stats;
}

export interface SeriesModel {
  readonly pathway: PathwayVocabulary;
  readonly settingsHash: string;
  readonly singleSample: boolean;
  readonly periods: readonly CellModel[];
  readonly total: CellModel;
}

export interface ReportModel {
  readonly query: ReportQuery;
  readonly context: ReportContext;
  readonly periods: readonly string[];
  readonly coverage: { readonly start: string; readonly end: string };
  readonly series: readonly SeriesModel[];
  readonly overall: CellModel;
}

function addRaw(into: Map<string, number>, from: Raw): void {
  for (const [k, n] of from) into.set(k, (into.get(k) ?? 0) + n);
}

function mergeCodes(sets: readonly CodeSets[]): CodeSets {
  const u = (f: (c: CodeSets) => readonly string[]): string[] => [...new Set(sets.flatMap(f))];
  return { outcomes: u((c) => c.outcomes), triggers: u((c) => c.triggers), missing: u((c) => c.missing), overrideReasons: u((c) => c.overrideReasons), uninterpretable: u((c) => c.uninterpretable), failures: u((c) => c.failures), feedbackOutcomes: u((c) => c.feedbackOutcomes) };
}

interface Draft {
  readonly start: string;
  readonly end: string;
  readonly cell: CellEntries;
  suppressed: boolean;
}

function draft(start: string, end: string, raw: Raw, codes: CodeSets, timing: TimingRule): Draft {
  const cell = cellEntries(raw, codes, timing);
  const episodes = cell.entries.get('episodes')?.value ?? 0;
  const anything = [...cell.entries.values()].some((e) => e.value !== 0);
  const suppressed = episodes < MIN_COUNT && anything;
  if (suppressed) for (const e of cell.entries.values()) e.suppressed = true;
  primary(cell.entries.values());
  return { start, end, cell, suppressed };
}

const shown = (d: Draft, ...path: string[]): number | null => {
  const e = d.cell.entries.get(path.join('\u0000'));
  return e === undefined || e.suppressed ? null : e.value;
};
const rate = (num: number | null, den: number | null): number | null => (num === null || den === null || den === 0 ? null : Math.round((num / den) * 10000) / 10000);

function finish(d: Draft): CellModel {
  const ttdN = shown(d, 'timeToDecision', 'measured');
  const ttdOk = !d.suppressed && ttdN !== null && ttdN >= MIN_COUNT;
  const drawn = shown(d, 'retestTiming', 'drawn');
  const devOk = !d.suppressed && drawn !== null && drawn >= MIN_COUNT;
  const evaluations = shown(d, 'evaluations');
  return {
    start: d.start,
    end: d.end,
    entries: d.cell.entries,
    suppressed: d.suppressed,
    stats: {
      timeToDecisionMedianMinutes: ttdOk ? quantile(d.cell.ttd, 0.5) : null,
      timeToDecisionP25Minutes: ttdOk ? quantile(d.cell.ttd, 0.25) : null,
      timeToDecisionP75Minutes: ttdOk ? quantile(d.cell.ttd, 0.75) : null,
      retestDeviationMedianMinutes: devOk ? quantile(d.cell.retestDeviation, 0.5) : null,
      indeterminateRate: rate(shown(d, 'evaluationOutcome', 'indeterminate'), evaluations),
      needsInputRate: rate(shown(d, 'evaluationOutcome', 'needs-input'), evaluations),
      overdueAtEvaluationRate: rate(shown(d, 'overdueAtEvaluation', 'overdue'), shown(d, 'overdueAtEvaluation', 'retestDue')),
      retestOnTimeRate: rate(shown(d, 'retestTiming', 'onTime'), shown(d, 'retestTiming', 'due')),
      singleSampleRuleOutRate: rate(shown(d, 'ruleOut', 'singleSample'), shown(d, 'episodes')),
      feedbackAcceptedRate: rate(shown(d, 'feedback', 'accepted'), shown(d, 'feedback', 'total')),
    },
  };
}

/** Column sums: for every entry of `total`, total = the sum of the same entry over `parts` (absent = 0). */
function columnSums(total: Draft, parts: readonly Draft[]): SumConstraint[] {
  const zero: Entry = { value: 0, suppressed: false };
  return [...total.cell.entries].map(([k, e]) => ({ total: e, parts: parts.map((p) => p.cell.entries.get(k) ?? zero) }));
}

function rowSums(d: Draft): SumConstraint[] {
  const get = (k: string): Entry => d.cell.entries.get(k) ?? { value: 0, suppressed: false };
  return d.cell.sums.map((s) => ({ total: get(s.total), parts: s.parts.map(get) }));
}

/** Builds the report from count rows of `query.granularity` (every period of the query, any pathway). */
export function buildReport(rows: readonly CountRow[], vocab: Vocabularies, query: ReportQuery, context: ReportContext): ReportModel {
  const g = query.granularity;
  const periods = periodsCovering(query.from, query.to, g);
  const inRange = new Set(periods);
  const bySeries = new Map<string, Map<string, Map<string, number>>>();
  for (const r of rows) {
    if (r.granularity !== g || !inRange.has(r.period) || (query.pathwayId !== undefined && r.pathwayId !== query.pathwayId)) continue;
    const sk = `${r.pathwayId}\u0000${r.settingsHash}`;
    const series = bySeries.get(sk) ?? new Map<string, Map<string, number>>();
    bySeries.set(sk, series);
    const cell = series.get(r.period) ?? new Map<string, number>();
    series.set(r.period, cell);
    cell.set(r.measure, (cell.get(r.measure) ?? 0) + r.n);
  }
  const first = periods[0] ?? query.from;
  const end = periods.length === 0 ? query.to : periodEnd(periods[periods.length - 1] ?? first, g);
  const drafts: { v: PathwayVocabulary; hash: string; timing: TimingRule; periods: Draft[]; total: Draft; codes: CodeSets }[] = [];
  const overallRaw = new Map<string, number>();
  for (const sk of [...bySeries.keys()].sort()) {
    const [pathwayId = '', hash = ''] = sk.split('\u0000');
    const v = vocab(pathwayId);
    const cells = bySeries.get(sk) ?? new Map<string, Map<string, number>>();
    const totalRaw = new Map<string, number>();
    for (const c of cells.values()) addRaw(totalRaw, c);
    addRaw(overallRaw, totalRaw);
    const codes = codeSetsOf(totalRaw, v);
    const timing: TimingRule = { earlyToleranceMinutes: v.retestEarlyToleranceMinutes, lateAfterMinutes: context.lateRetestMinutes, windows: v.windows, singleSample: v.singleSampleRuleOut };
    drafts.push({
      v,
      hash,
      timing,
      codes,
      periods: periods.map((p) => draft(p, periodEnd(p, g), cells.get(p) ?? new Map<string, number>(), codes, timing)),
      total: draft(first, end, totalRaw, codes, timing),
    });
  }
  const allSingle = drafts.length > 0 && drafts.every((d) => d.timing.singleSample);
  const overall = draft(first, end, overallRaw, mergeCodes(drafts.map((d) => d.codes)), {
    earlyToleranceMinutes: 0,
    lateAfterMinutes: context.lateRetestMinutes,
    windows: [],
    singleSample: allSingle,
  });
  // Retest timing of the overall cell is the sum of each series' own judgement, not a judgement of its own.
  for (const k of ['early', 'onTime', 'late']) {
    const key = `retestTiming\u0000${k}`;
    const sum = drafts.reduce((a, d) => a + (d.total.cell.entries.get(key)?.value ?? 0), 0);
    const e = overall.cell.entries.get(key);
    if (e !== undefined) overall.cell.entries.set(key, { value: sum, suppressed: overall.suppressed || (sum > 0 && sum < MIN_COUNT) });
  }
  const constraints: SumConstraint[] = [...rowSums(overall), ...columnSums(overall, drafts.map((d) => d.total))];
  for (const d of drafts) constraints.push(...rowSums(d.total), ...d.periods.flatMap(rowSums), ...columnSums(d.total, d.periods));
  secondary(constraints);
  return {
    query,
    context,
    periods,
    coverage: { start: first, end },
    series: drafts.map((d) => ({ pathway: d.v, settingsHash: d.hash, singleSample: d.timing.singleSample, periods: d.periods.map(finish), total: finish(d.total) })),
    overall: finish(overall),
  };
}

/** Every entry of a cell as (path, value or null when suppressed), in a stable order. */
export function entryList(c: CellModel): { path: string[]; value: number | null }[] {
  return [...c.entries].map(([k, e]) => ({ path: keyPath(k), value: e.suppressed ? null : e.value }));
}
