/**
 * The troponin series read against the pathway (rules 4 to 9, 13, 16): the baseline (the earliest
 * usable result, every candidate drawn at that time), each later result weighed against it
 * (later-results.ts), the retest time, and the troponin reading the chart's walk uses. Pure: the usable
 * results in, the reading and its log out.
 */
import { listTextOf } from './bounds.js';
import { type UsableTroponin, weighLater } from './later-results.js';
import { resultSummary } from './episode-size.js';
import type { CompiledPathway } from './pathway.js';
import { positionOf } from './ranges.js';
import { moreSerious, rankOf } from './severity.js';
import { Log, type LogView } from './trace.js';
import type { Instant, LaterResultSummary, OutcomeCode, ResultSummary } from './types.js';
import type { TroponinResults } from './troponins.js';

export type BaselinePosition = 'below' | 'above' | 'at-or-across' | 'missing';

export interface SeriesReading {
  /** What the troponins alone say (null: nothing to say, no baseline and nothing uninterpretable). */
  readonly troponinReading: OutcomeCode | null;
  readonly baselinePosition: BaselinePosition;
  readonly baseline: ResultSummary | null;
  readonly later: readonly LaterResultSummary[];
  /** When a retest is still awaited: the baseline draw plus the retest interval. */
  readonly retestDue: Instant | null;
  /** Some baseline is, or may be, above its URL. */
  readonly baselineAboveLimit: boolean;
  /** Some result cannot be weighed against the baseline: another assay (rule 9) or uninterpretable (rule 13). */
  readonly incomparableResult: boolean;
  readonly log: LogView;
}

export function readSeries(p: CompiledPathway, now: Instant, results: TroponinResults): SeriesReading {
  const log = new Log();
  const { usable, uninterpretable, listEach } = results;
  // Rule 4: the baseline: the earliest usable result, whatever its assay.
  const earliest = usable.reduce<Instant | null>((m, u) => (m === null || u.drawTime < m ? u.drawTime : m), null);
  const candidates: readonly UsableTroponin[] = earliest === null ? [] : usable.filter((u) => u.drawTime === earliest);

  let troponinReading: OutcomeCode | null = null;
  let baselinePosition: BaselinePosition = 'missing';
  let retestDue: Instant | null = null;
  const later: LaterResultSummary[] = [];
  let baselineAboveLimit = false;
  let incomparableResult = results.uninterpretable.length > 0;
  if (earliest === null) {
    log.step({ rule: '4', text: 'No usable troponin result in the episode: there is no baseline.', result: 'no baseline' });
  } else {
    const ctx = {
      p,
      now,
      listEach,
      moreSerious: (a: OutcomeCode, b: OutcomeCode) => moreSerious(p, a, b),
      rank: (o: OutcomeCode) => rankOf(p, o),
      step: log.step.bind(log),
      use: log.use.bind(log),
      reason: log.reason.bind(log),
    };
    const w = weighLater(ctx, candidates, usable, later);
    troponinReading = w.outcome;
    if (w.otherAssay) incomparableResult = true;
    const positions = new Set<string>();
    for (const base of candidates) {
      positions.add(positionOf(base.value, base.url));
      if (base.value.hi === null || base.value.hi.gt(base.url)) baselineAboveLimit = true;
    }
    if (w.awaiting) retestDue = earliest + p.retestInterval;
    baselinePosition = positions.size === 1 ? ([...positions][0] as BaselinePosition) : 'at-or-across';
  }
  if (uninterpretable.length > 0) {
    const text = `Uninterpretable troponin result${uninterpretable.length > 1 ? 's' : ''} in the episode (${listTextOf(uninterpretable, (u) => `${u.ref}: ${u.why}`, 5, '; ')}): at least indeterminate (rule 13).`;
    log.reason(text);
    troponinReading = troponinReading === null ? 'indeterminate' : moreSerious(p, troponinReading, 'indeterminate');
  }
  // Rule 16: more results than the pathway weighs: at least indeterminate.
  if (results.summary.overMax) troponinReading = troponinReading === null ? 'indeterminate' : moreSerious(p, troponinReading, 'indeterminate');
  const baseline = candidates[0] === undefined ? null : resultSummary(candidates[0]);
  return { troponinReading, baselinePosition, baseline, later, retestDue, baselineAboveLimit, incomparableResult, log };
}
