/**
 * The report as a FHIR R4 MeasureReport (type `summary`), for a regional system to collect: one group per
 * measure, each naming its own Measure by canonical URL, with population counts and a score; stratified
 * by cell (pathway, settings hash, period) and, for the mixes, by category. A suppressed count is given
 * without `count` and with the data-absent-reason `masked`.
 */
import type { CellModel, ReportModel } from './report.js';
import { dayOf } from './periods.js';

export const BASE = 'http://hs-troponin-cds.example/fhir';
export const MEASURE_URL = `${BASE}/Measure/adoption`;
export const MEASURE_CODES = `${BASE}/CodeSystem/adoption-measure`;
export const CATEGORY_SYSTEM = `${BASE}/CodeSystem/adoption-category`;
export const GROUP_MEASURE_EXT = `${BASE}/StructureDefinition/adoption-group-measure`;
export const QUARTILE_EXT = `${BASE}/StructureDefinition/adoption-quartile`;
const POP = 'http://terminology.hl7.org/CodeSystem/measure-population';
const DAR = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';

type Path = readonly string[];

interface GroupDef {
  readonly id: string;
  readonly display: string;
  readonly populations: readonly { readonly code: 'initial-population' | 'denominator' | 'numerator' | 'measure-population'; readonly path: Path }[];
  /** `count`: the initial population; `proportion`: numerator / denominator; `median`: a statistic in minutes. */
  readonly score: 'count' | 'proportion' | 'median';
  readonly stat?: string;
  /** Categories: the entries under this path. */
  readonly categories?: Path;
  readonly only?: 'single-sample';
}

export const GROUPS: readonly GroupDef[] = [
  { id: 'episodes', display: 'Episodes', populations: [{ code: 'initial-population', path: ['episodes'] }], score: 'count' },
  { id: 'evaluations', display: 'Evaluations', populations: [{ code: 'initial-population', path: ['evaluations'] }], score: 'count', categories: ['evaluationsByTrigger'] },
  { id: 'first-outcome', display: 'First outcome of each episode', populations: [{ code: 'initial-population', path: ['episodes'] }], score: 'count', categories: ['firstOutcome'] },
  { id: 'final-outcome', display: 'Final outcome of each episode', populations: [{ code: 'initial-population', path: ['episodes'] }], score: 'count', categories: ['finalOutcome'] },
  {
    id: 'time-to-decision',
    display: 'Minutes from the baseline troponin draw to the first final outcome (median; quartiles in extensions)',
    populations: [{ code: 'initial-population', path: ['episodes'] }, { code: 'measure-population', path: ['timeToDecision', 'measured'] }],
    score: 'median',
    stat: 'timeToDecision',
    categories: ['timeToDecision', 'bins'],
  },
  {
    id: 'retest-on-time',
    display: 'Retests drawn on time, of the retests due',
    populations: [{ code: 'initial-population', path: ['episodes'] }, { code: 'denominator', path: ['retestTiming', 'due'] }, { code: 'numerator', path: ['retestTiming', 'onTime'] }],
    score: 'proportion',
    categories: ['retestTiming'],
  },
  {
    id: 'overdue-at-evaluation',
    display: 'Evaluations at which the retest was overdue, of those with a retest due',
    populations: [{ code: 'initial-population', path: ['evaluations'] }, { code: 'denominator', path: ['overdueAtEvaluation', 'retestDue'] }, { code: 'numerator', path: ['overdueAtEvaluation', 'overdue'] }],
    score: 'proportion',
  },
  {
    id: 'single-sample-rule-out',
    display: 'Episodes ruled out on a single sample',
    populations: [{ code: 'initial-population', path: ['episodes'] }, { code: 'denominator', path: ['episodes'] }, { code: 'numerator', path: ['ruleOut', 'singleSample'] }],
    score: 'proportion',
    only: 'single-sample',
  },
  {
    id: 'indeterminate',
    display: 'Evaluations with the outcome indeterminate',
    populations: [{ code: 'initial-population', path: ['evaluations'] }, { code: 'denominator', path: ['evaluations'] }, { code: 'numerator', path: ['evaluationOutcome', 'indeterminate'] }],
    score: 'proportion',
  },
  {
    id: 'needs-input',
    display: 'Evaluations with the outcome needs-input (categories: what was missing, over all evaluations)',
    populations: [{ code: 'initial-population', path: ['evaluations'] }, { code: 'denominator', path: ['evaluations'] }, { code: 'numerator', path: ['evaluationOutcome', 'needs-input'] }],
    score: 'proportion',
    categories: ['missing'],
  },
  {
    id: 'feedback-accepted',
    display: 'Card feedback: accepted, of all feedback (categories: override reasons)',
    populations: [{ code: 'initial-population', path: ['feedback', 'total'] }, { code: 'denominator', path: ['feedback', 'total'] }, { code: 'numerator', path: ['feedback', 'accepted'] }],
    score: 'proportion',
    categories: ['overrideReasons'],
  },
  { id: 'uninterpretable-results', display: 'Uninterpretable results, by the rule that made them so', populations: [{ code: 'initial-population', path: ['dataQuality', 'uninterpretableResults'] }], score: 'count', categories: ['dataQuality', 'uninterpretableByRule'] },
  { id: 'unmapped-codes', display: "Results whose laboratory code is not mapped by the site (the catalogue's default assumed)", populations: [{ code: 'initial-population', path: ['dataQuality', 'unmappedCodes'] }], score: 'count' },
  { id: 'evaluation-failures', display: 'CDS calls that could not be evaluated (412), by error code', populations: [{ code: 'initial-population', path: ['dataQuality', 'evaluationFailures'] }], score: 'count', categories: ['dataQuality', 'failuresByCode'] },
];

const get = (c: CellModel, path: Path): { value: number; suppressed: boolean } | null => c.entries.get(path.join('\u0000')) ?? null;

function population(code: string, e: { value: number; suppressed: boolean } | null) {
  const coding = { code: { coding: [{ system: POP, code }] } };
  if (e === null) return { ...coding, count: 0 };
  return e.suppressed ? { ...coding, extension: [{ url: DAR, valueCode: 'masked' }] } : { ...coding, count: e.value };
}

function score(c: CellModel, g: GroupDef): Record<string, unknown> {
  if (g.score === 'median') {
    const s = g.stat ?? '';
    const median = c.stats[`${s}MedianMinutes`] ?? null;
    if (median === null) return {};
    const q = (v: number | null | undefined, which: string) => (v === null || v === undefined ? [] : [{ url: QUARTILE_EXT, extension: [{ url: 'quartile', valueString: which }, { url: 'value', valueQuantity: minutes(v) }] }]);
    return { measureScore: { ...minutes(median), extension: [...q(c.stats[`${s}P25Minutes`], 'p25'), ...q(c.stats[`${s}P75Minutes`], 'p75')] } };
  }
  if (g.score === 'count') {
    const e = get(c, g.populations[0]?.path ?? []);
    return e === null || e.suppressed ? {} : { measureScore: { value: e.value } };
  }
  const num = get(c, g.populations.find((p) => p.code === 'numerator')?.path ?? []);
  const den = get(c, g.populations.find((p) => p.code === 'denominator')?.path ?? []);
  if (num === null || den === null || num.suppressed || den.suppressed || den.value === 0) return {};
  return { measureScore: { value: Math.round((num.value / den.value) * 10000) / 10000, unit: '1', system: 'http://unitsofmeasure.org', code: '1' } };
}

const minutes = (v: number) => ({ value: v, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' });

type Category = { code: string; e: { value: number; suppressed: boolean } };
/** Each cell's entries by the path above them (made once per cell: every group with categories asks). */
const byParent = new WeakMap<CellModel, Map<string, Category[]>>();

/** The entries directly under `g.categories` in the cell, in the cell's order. */
function categories(c: CellModel, g: GroupDef): Category[] {
  if (g.categories === undefined) return [];
  let index = byParent.get(c);
  if (index === undefined) {
    index = new Map();
    for (const [k, e] of c.entries) {
      const at = k.lastIndexOf('\u0000');
      if (at < 0) continue;
      const parent = k.slice(0, at);
      const list = index.get(parent) ?? [];
      if (list.length === 0) index.set(parent, list);
      list.push({ code: k.slice(at + 1), e });
    }
    byParent.set(c, index);
  }
  return index.get(g.categories.join('\u0000')) ?? [];
}

const component = (code: string, value: string) => ({ code: { coding: [{ system: CATEGORY_SYSTEM, code }] }, value: { text: value } });

export function toMeasureReport(m: ReportModel) {
  const lastDay = dayOf(Date.parse(`${m.coverage.end}T00:00:00Z`) - 86_400_000);
  const cells = m.series.flatMap((s) => [...s.periods.map((p) => ({ s, c: p, period: p.start })), { s, c: s.total, period: 'all' }]);
  const group = GROUPS.filter((g) => g.only !== 'single-sample' || m.series.some((s) => s.singleSample)).map((g) => {
    const cellStrata = cells
      .filter(({ s }) => g.only !== 'single-sample' || s.singleSample)
      .map(({ s, c, period }) => ({
        component: [component('pathway', s.pathway.id), component('settings-sha256', s.settingsHash), component('period-start', period)],
        population: g.populations.map((p) => population(p.code, get(c, p.path))),
        ...score(c, g),
      }));
    const stratifier: Record<string, unknown>[] = [{ code: [{ coding: [{ system: CATEGORY_SYSTEM, code: 'cell' }], text: 'pathway, settings hash and period' }], stratum: cellStrata }];
    if (g.categories !== undefined) {
      stratifier.push({
        code: [{ coding: [{ system: CATEGORY_SYSTEM, code: 'category' }], text: g.categories.join('.') }],
        stratum: [
          ...categories(m.overall, g).map(({ code, e }) => ({ value: { text: code }, population: [population('initial-population', e)] })),
          ...cells.flatMap(({ s, c, period }) =>
            categories(c, g).map(({ code, e }) => ({
              component: [component('pathway', s.pathway.id), component('settings-sha256', s.settingsHash), component('period-start', period), component('category', code)],
              population: [population('initial-population', e)],
            })),
          ),
        ],
      });
    }
    return {
      id: g.id,
      extension: [{ url: GROUP_MEASURE_EXT, valueCanonical: `${MEASURE_URL}-${g.id}` }],
      code: { coding: [{ system: MEASURE_CODES, code: g.id, display: g.display }], text: g.display },
      population: g.populations.map((p) => population(p.code, get(m.overall, p.path))),
      ...score(m.overall, g),
      stratifier,
    };
  });
  return {
    resourceType: 'MeasureReport' as const,
    status: 'complete' as const,
    type: 'summary' as const,
    measure: MEASURE_URL,
    date: m.context.generatedAt,
    period: { start: m.coverage.start, end: lastDay },
    group,
  };
}
