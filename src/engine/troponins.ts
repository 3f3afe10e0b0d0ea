/**
 * The troponin results of an episode (rules 3, 10 to 14, 16): which were drawn in the episode, which
 * count once (exact duplicates), which are usable (used status, readable value, draw time, known assay:
 * taken in ng/L after the LoD, with the URL that applies) and which are uninterpretable (named with why,
 * never dropped). Pure: the episode's troponins in, the results and their log out.
 */
import { count, listTextOf } from './bounds.js';
import { type PathwayRuntime, urlFor } from './catalogue.js';
import { boundedAssumptions, summariseEpisode } from './episode-summary.js';
import { mergeExactDuplicates } from './episode-size.js';
import type { UsableTroponin } from './later-results.js';
import { describeTime } from './order.js';
import { applyLod, intervalText, isEmpty, isPoint } from './ranges.js';
import { formatInstant } from './time.js';
import { Log, type LogView } from './trace.js';
import type { AssayAssumption, Instant, ObservationFact, Sex, TroponinFact, TroponinSummary } from './types.js';

export interface TroponinResults {
  readonly usable: readonly UsableTroponin[];
  /** Non-final results not read in this reading (pending, with or without a value): listed, not used. */
  readonly pending: readonly TroponinFact[];
  readonly uninterpretable: readonly { readonly ref: string; readonly why: string }[];
  readonly assays: AssayAssumption[];
  readonly summary: TroponinSummary;
  /** False over rule 16's bound: results are summarised, not listed one by one. */
  readonly listEach: boolean;
  readonly log: LogView;
}

export function troponinResults(
  rt: PathwayRuntime,
  sex: Sex | null,
  episode: { readonly troponins: readonly TroponinFact[]; readonly start: Instant; readonly end: Instant },
  conflicted: ReadonlySet<ObservationFact>,
): TroponinResults {
  const p = rt.pathway;
  // Rule 14's URL is used by a pathway that classifies against it or reads TIMI's raised marker (Chart 2); a
  // pathway with its own thresholds (ESC, High-STEACS) shows none.
  const usesUrl = p.file.classification !== undefined || p.file.inputs.timi !== undefined;
  const log = new Log();
  const { start, end } = episode;
  // Rule 3: the troponins of the episode.
  const inEpisode: TroponinFact[] = [];
  for (const o of episode.troponins) {
    const listed = o.drawTime !== null ? o.drawTime >= start : o.issued === null || o.issued >= start;
    if (listed) inEpisode.push(o);
    else log.use(o.ref, 'troponin', 'outside-episode', `drawn ${describeTime(o.drawTime ?? o.issued)}, before the episode began (rule 3)`);
  }
  // Rule 16: exact duplicates count once; more results than the pathway weighs are summarised.
  const { kept: troponins, duplicates } = mergeExactDuplicates(inEpisode, (t) => conflicted.has(t));
  for (const d of duplicates) log.use(d.dup.ref, 'troponin', 'superseded', `an exact duplicate of ${d.of.ref} (same assay, value, unit, comparator, draw time and status): counted once (rule 16)`);
  if (duplicates.length > 0) {
    log.step({ rule: '16', text: `${count(duplicates.length)} exact duplicate${duplicates.length > 1 ? 's' : ''} (same assay, value, unit, comparator, draw time and status) counted once: ${listTextOf(duplicates, (d) => `${d.dup.ref} = ${d.of.ref}`)}.`, facts: { duplicates: duplicates.length } });
  }
  const listEach = troponins.length <= p.file.settings.maxTroponinResults;
  const each = { key: 'troponin' };

  // Rules 4, 10, 11, 13, 14: which troponins are usable, which are uninterpretable.
  const usable: UsableTroponin[] = [];
  const pending: TroponinFact[] = [];
  const uninterpretable: { ref: string; why: string }[] = [];
  const assumptions: AssayAssumption[] = [];
  // Rule 13: never dropped; named in the trace with why (counted in the summary over rule 16's bound).
  const markUninterpretable = (t: TroponinFact, reason: string): void => {
    uninterpretable.push({ ref: t.ref, why: reason });
    log.use(t.ref, 'troponin', 'uninterpretable', reason);
    if (listEach) log.step({ rule: '13', text: `${t.ref} is uninterpretable: ${reason}. The outcome is at least indeterminate.`, result: 'indeterminate' }, each);
  };
  for (const t of troponins) {
    if (t.status === 'listed' && !conflicted.has(t)) {
      pending.push(t);
      log.use(t.ref, 'troponin', 'not-used', `status ${t.statusText ?? ''}: listed, not used (rule 12)`);
      if (listEach) log.step({ rule: '12', text: `${t.ref} has status ${t.statusText ?? ''}: it is listed and not used.` }, each);
      continue;
    }
    let why: string | null = null;
    if (conflicted.has(t)) why = 'its versions conflict and cannot be ordered (rule 12)';
    else if (t.status === 'invalid') why = t.statusText === null ? 'it has no status (rule 12)' : `its status "${t.statusText}" is not one the pathway can use (rule 12)`;
    else if (t.value.kind === 'absent') {
      log.use(t.ref, 'troponin', 'not-used', `${t.value.reason}: listed, not used (rule 13)`);
      if (listEach) log.step({ rule: '13', text: `${t.ref} states it has no value (${t.value.reason}): listed and not used.` }, each);
      continue;
    } else if (t.value.kind === 'unreadable') why = `${t.value.reason} (rule 10/11)`;
    else if (t.drawTime === null) why = `${t.drawTimeProblem ?? 'no draw time'} (rule 5)`;
    else if (t.drawTime > end) why = `drawn ${formatInstant(t.drawTime)}, more than ${p.file.settings.futureToleranceMinutes} min after the evaluation time (rule 3)`;
    else if (t.assayId === null) why = `${t.assayProblem ?? 'no assay'} (rule 9)`;
    const assay = t.assayId === null ? undefined : rt.assays.get(t.assayId);
    if (why === null && assay === undefined) why = `unknown assay ${t.assayId ?? ''} (rule 9)`;
    if (why !== null || assay === undefined || t.value.kind !== 'range' || t.drawTime === null) {
      markUninterpretable(t, why ?? 'unreadable');
      continue;
    }
    const clamped = applyLod(t.value, assay.lod);
    if (isEmpty(t.value) || isEmpty(clamped)) {
      markUninterpretable(t, `impossible value ${t.value.reported} (rule 11)`);
      continue;
    }
    const { url, basis } = urlFor(assay, rt.sexSpecificUrls, sex);
    usable.push({ fact: t, drawTime: t.drawTime, assay, url, urlBasis: usesUrl ? basis : null, value: clamped });
    assumptions.push({ result: t.ref, assay: assay.id, assayName: assay.name, source: t.assaySource ?? 'catalogue-default' });
    if (!listEach) continue;
    const lodNote = t.value.lo.lt(assay.lod) ? `; below the LoD ${assay.lod.toFixed()} ng/L, so taken as ${intervalText(clamped)} (rule 11)` : '';
    const censored = isPoint(clamped) ? '' : `; censored: every value ${intervalText(clamped)} ng/L is considered (rule 11)`;
    log.step(
      {
        rule: '10',
        text: `${t.ref}: ${assay.name}, ${t.value.reported} = ${intervalText(t.value)} ng/L${lodNote}${censored}; drawn ${formatInstant(t.drawTime)}${usesUrl ? `; URL ${url.toFixed()} ng/L (${basis}, rule 14)` : ''}.`,
        facts: { result: t.ref, assay: assay.id, reported: t.value.reported, valueNgL: intervalText(clamped), drawTime: formatInstant(t.drawTime), ...(usesUrl ? { url: url.toFixed() } : {}) },
      },
      each,
    );
  }
  const summary = summariseEpisode({ p, step: (s) => log.step(s), reason: (r) => log.reason(r) }, { results: troponins.length, usable, uninterpretable: uninterpretable.length, duplicates: duplicates.length });
  return { usable, pending, uninterpretable, assays: boundedAssumptions(assumptions), summary, listEach, log };
}
