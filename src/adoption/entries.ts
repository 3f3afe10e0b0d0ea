/**
 * From the raw counts of one cell to the published entries and the sums that tie them (which the
 * suppression needs: every subset is published with its complement, so subtraction reveals nothing that
 * suppression does not cover). Each entry has a path: the JSON report nests by it, the CSV writes it as
 * `measure` and `key`, the MeasureReport names its populations after it.
 */
import type { Entry } from './suppress.js';
import type { PathwayVocabulary, RetestWindow } from './vocabulary.js';

export type Raw = ReadonlyMap<string, number>;

/** The codes a cell lists, fixed per series so that cells line up. */
export interface CodeSets {
  readonly outcomes: readonly string[];
  readonly triggers: readonly string[];
  readonly missing: readonly string[];
  readonly overrideReasons: readonly string[];
  readonly uninterpretable: readonly string[];
  readonly failures: readonly string[];
  readonly feedbackOutcomes: readonly string[];
}

/** How retest timing is judged for one pathway. */
export interface TimingRule {
  readonly earlyToleranceMinutes: number;
  readonly lateAfterMinutes: number;
  readonly windows: readonly RetestWindow[];
  /** Whether the pathway allows a rule-out on one sample (the measure is published only then). */
  readonly singleSample: boolean;
}

export const TTD_BIN_EDGES = [0, 60, 120, 180, 210, 240, 270, 300, 360, 480, 720] as const;
export const RETEST_BIN_EDGES = [-60, -30, -15, 0, 15, 30, 60, 120] as const;

/** `lo-hi` labels of bins (in minutes), with `<lo` and `>=hi` at the ends. */
export function binLabels(edges: readonly number[]): string[] {
  const out = [`<${edges[0]}`];
  for (let i = 0; i + 1 < edges.length; i++) out.push(`${edges[i]}-${edges[i + 1]}`);
  out.push(`>=${edges[edges.length - 1]}`);
  return out;
}

export function binOf(edges: readonly number[], v: number): string {
  const labels = binLabels(edges);
  let i = 0;
  while (i < edges.length && v >= (edges[i] ?? 0)) i++;
  return labels[i] ?? labels[labels.length - 1] ?? '';
}

export interface CellEntries {
  readonly entries: Map<string, Entry>;
  readonly sums: { readonly total: string; readonly parts: readonly string[] }[];
  /** Minutes from the baseline draw to the first final outcome: value -> episodes. */
  readonly ttd: ReadonlyMap<number, number>;
  /** Retest draw minus due time, in whole minutes: value -> episodes. */
  readonly retestDeviation: ReadonlyMap<number, number>;
}

export const pathKey = (path: readonly string[]): string => path.join('\u0000');
export const keyPath = (key: string): string[] => key.split('\u0000');

/** Union of the codes of `raw` under each prefix, after `first` (the vocabulary's order). */
export function codesIn(raw: Raw, prefix: string, first: readonly string[] = []): string[] {
  const seen = new Set(first);
  const extra: string[] = [];
  for (const k of raw.keys()) {
    if (!k.startsWith(`${prefix}|`)) continue;
    const code = k.slice(prefix.length + 1).split('|')[0] ?? '';
    if (!seen.has(code)) {
      seen.add(code);
      extra.push(code);
    }
  }
  return [...first, ...extra.sort()];
}

export function codeSetsOf(raw: Raw, v: PathwayVocabulary | null): CodeSets {
  return {
    outcomes: codesIn(raw, 'finalOutcome', codesIn(raw, 'firstOutcome', codesIn(raw, 'evalOutcome', v?.outcomes.map((o) => o.code) ?? []))),
    triggers: codesIn(raw, 'trigger'),
    missing: codesIn(raw, 'missing'),
    overrideReasons: codesIn(raw, 'overrideReason'),
    uninterpretable: codesIn(raw, 'dqUninterpretable'),
    failures: codesIn(raw, 'dqFailure'),
    feedbackOutcomes: codesIn(raw, 'feedback', ['accepted', 'overridden']),
  };
}

function timingOf(due: number, dev: number, t: TimingRule): 'early' | 'onTime' | 'late' {
  const w = t.windows.find((x) => x.nominalMinutes === due);
  const lo = w === undefined ? -t.earlyToleranceMinutes : w.fromMinutes - w.nominalMinutes;
  const lateFrom = w === undefined ? t.lateAfterMinutes + 1 : w.toMinutes - w.nominalMinutes + 1;
  return dev < lo ? 'early' : dev >= lateFrom ? 'late' : 'onTime';
}

export function cellEntries(raw: Raw, codes: CodeSets, timing: TimingRule): CellEntries {
  const entries = new Map<string, Entry>();
  const sums: { total: string; parts: string[] }[] = [];
  const r = (k: string): number => raw.get(k) ?? 0;
  const put = (path: string[], value: number): string => {
    const k = pathKey(path);
    entries.set(k, { value, suppressed: false });
    return k;
  };
  const sum = (total: string, parts: string[]): void => {
    sums.push({ total, parts });
  };

  const episodes = put(['episodes'], r('episodes'));
  for (const m of ['firstOutcome', 'finalOutcome']) sum(episodes, codes.outcomes.map((c) => put([m, c], r(`${m}|${c}`))));
  const decidedN = r('decided');
  const decided = put(['decided', 'yes'], decidedN);
  sum(episodes, [decided, put(['decided', 'no'], r('episodes') - decidedN)]);

  const ttd = new Map<number, number>();
  const retestDeviation = new Map<number, number>();
  const ttdBins = new Map<string, number>();
  const devBins = new Map<string, number>();
  const timingCounts = { early: 0, onTime: 0, late: 0 };
  for (const [k, n] of raw) {
    const parts = k.split('|');
    if (parts[0] === 'ttd') {
      const v = Number(parts[1]);
      ttd.set(v, (ttd.get(v) ?? 0) + n);
      const b = binOf(TTD_BIN_EDGES, v);
      ttdBins.set(b, (ttdBins.get(b) ?? 0) + n);
    } else if (parts[0] === 'retestDev') {
      const due = Number(parts[1]);
      const dev = Number(parts[2]);
      retestDeviation.set(dev, (retestDeviation.get(dev) ?? 0) + n);
      const b = binOf(RETEST_BIN_EDGES, dev);
      devBins.set(b, (devBins.get(b) ?? 0) + n);
      timingCounts[timingOf(due, dev, timing)] += n;
    }
  }
  const ttdN = [...ttd.values()].reduce((a, b) => a + b, 0);
  const withTime = put(['timeToDecision', 'measured'], ttdN);
  sum(decided, [withTime, put(['timeToDecision', 'noBaseline'], decidedN - ttdN)]);
  sum(withTime, binLabels(TTD_BIN_EDGES).map((b) => put(['timeToDecision', 'bins', b], ttdBins.get(b) ?? 0)));

  const dueN = r('retestDue');
  const due = put(['retestTiming', 'due'], dueN);
  sum(episodes, [due, put(['retestTiming', 'notDue'], r('episodes') - dueN)]);
  const drawn = put(['retestTiming', 'drawn'], dueN - r('retestNotDrawn'));
  sum(due, [drawn, put(['retestTiming', 'notDrawn'], r('retestNotDrawn'))]);
  sum(drawn, [put(['retestTiming', 'early'], timingCounts.early), put(['retestTiming', 'onTime'], timingCounts.onTime), put(['retestTiming', 'late'], timingCounts.late)]);
  sum(drawn, binLabels(RETEST_BIN_EDGES).map((b) => put(['retestTiming', 'bins', b], devBins.get(b) ?? 0)));

  const ruledOutN = r('ruledOut');
  const ruledOut = put(['ruleOut', 'ruledOut'], ruledOutN);
  sum(episodes, [ruledOut, put(['ruleOut', 'notRuledOut'], r('episodes') - ruledOutN)]);
  if (timing.singleSample) {
    sum(ruledOut, [put(['ruleOut', 'singleSample'], r('singleSampleRuleOut')), put(['ruleOut', 'moreSamples'], ruledOutN - r('singleSampleRuleOut'))]);
  }

  const evaluationsN = r('evaluations');
  const evaluations = put(['evaluations'], evaluationsN);
  sum(evaluations, codes.triggers.map((t) => put(['evaluationsByTrigger', t], r(`trigger|${t}`))));
  sum(evaluations, codes.outcomes.map((c) => put(['evaluationOutcome', c], r(`evalOutcome|${c}`))));
  for (const m of codes.missing) sum(evaluations, [put(['missing', m], r(`missing|${m}`)), put(['notMissing', m], evaluationsN - r(`missing|${m}`))]);
  const dueAtEval = put(['overdueAtEvaluation', 'retestDue'], r('dueAtEval'));
  sum(evaluations, [dueAtEval, put(['overdueAtEvaluation', 'noRetestDue'], evaluationsN - r('dueAtEval'))]);
  sum(dueAtEval, [put(['overdueAtEvaluation', 'overdue'], r('overdueAtEval')), put(['overdueAtEvaluation', 'notOverdue'], r('dueAtEval') - r('overdueAtEval'))]);

  const fb = codes.feedbackOutcomes.map((o) => put(['feedback', o], r(`feedback|${o}`)));
  sum(put(['feedback', 'total'], codes.feedbackOutcomes.reduce((a, o) => a + r(`feedback|${o}`), 0)), fb);
  sum(pathKey(['feedback', 'overridden']), codes.overrideReasons.map((c) => put(['overrideReasons', c], r(`overrideReason|${c}`))));

  const dqU = codes.uninterpretable.map((c) => put(['dataQuality', 'uninterpretableByRule', c], r(`dqUninterpretable|${c}`)));
  sum(put(['dataQuality', 'uninterpretableResults'], codes.uninterpretable.reduce((a, c) => a + r(`dqUninterpretable|${c}`), 0)), dqU);
  const dqF = codes.failures.map((c) => put(['dataQuality', 'failuresByCode', c], r(`dqFailure|${c}`)));
  sum(put(['dataQuality', 'evaluationFailures'], codes.failures.reduce((a, c) => a + r(`dqFailure|${c}`), 0)), dqF);
  put(['dataQuality', 'unmappedCodes'], r('dqUnmapped'));
  put(['dataQuality', 'unrecognisedResources'], r('dqUnrecognised'));
  put(['dataQuality', 'evaluationsWithoutPatient'], r('dqNoPatient'));
  return { entries, sums, ttd, retestDeviation };
}

/** The q-quantile (0..1) of the values of a histogram, interpolated between closest ranks, or null when empty. */
export function quantile(hist: ReadonlyMap<number, number>, q: number): number | null {
  const values = [...hist].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  const n = values.reduce((a, [, c]) => a + c, 0);
  if (n === 0) return null;
  const h = (n - 1) * q;
  const at = (rank: number): number => {
    let seen = 0;
    for (const [v, c] of values) {
      seen += c;
      if (rank < seen) return v;
    }
    return values[values.length - 1]?.[0] ?? 0;
  };
  const lo = at(Math.floor(h));
  const hi = at(Math.ceil(h));
  return Math.round((lo + (h - Math.floor(h)) * (hi - lo)) * 10) / 10;
}
