/**
 * The pathway engine: facts and `now` in, a decision with its reasoning out.
 *
 * Pure: no IO, no clock, no environment. Deterministic to the byte (rule 15): the input is put in a
 * canonical order first, and every list in the output is built from that order.
 *
 * One evaluation is a sequence of pure parts, each deriving one fact with its own log (trace.ts):
 * the episode (episode.ts, rule 3), the troponin results (troponins.ts, rules 10 to 14 and 16) and the
 * series read against the pathway (series.ts, rules 4 to 9), the ECG (ecg.ts, rule 1), TIMI (timi.ts,
 * rule 2), then the chart's walk and the assembly (walk.ts, rule 0). The rule numbers are those of the
 * clinical contract (chart2-pathway.md, section 4); docs/pathway.md maps each to its code and tests.
 */
import { TEXT_BOUND, clip } from './bounds.js';
import type { PathwayRuntime } from './catalogue.js';
import { PathwayDefect } from './defect.js';
import { readEcg } from './ecg.js';
import { episodeOf } from './episode.js';
import { canonicalOrder, cmpStr } from './order.js';
import type { GraphFactName, Scalar } from './pathway.js';
import { type Reading, readingsOf } from './readings.js';
import { type SeriesReading, readSeries } from './series.js';
import { readSerialSeries } from './serial-facts.js';
import { rankOf } from './severity.js';
import { readTimi } from './timi.js';
import { formatInstant } from './time.js';
import { Log, type LogView, assemble } from './trace.js';
import { troponinResults } from './troponins.js';
import type { Decision, Facts, Instant, TraceStep } from './types.js';
import { type WalkFacts, walk } from './walk.js';

/** One reading's facts, and its retest time (rule 6), for the readings with the non-final results (rule 12). */
interface ReadingFacts extends WalkFacts {
  readonly retestDue: Instant | null;
}

export interface EvaluateOptions {
  /** The evaluation time: when the service received the request (rule 0). */
  readonly now: Instant;
  /** The encounter the request names, if any (rule 3). */
  readonly encounterId?: string | null;
}

/**
 * Evaluate the pathway for these facts at this time. Rejects only on a defect of the pathway itself
 * (PathwayDefect; src/decide.ts reports it as TNP_ERR_PATHWAY_NOT_TOTAL); every input, however bad,
 * gets a decision.
 */
export async function evaluate(rt: PathwayRuntime, facts: Facts, opts: EvaluateOptions): Promise<Decision> {
  // Rule 12: every reading of the data is evaluated and the most serious outcome counts; on a tie, the
  // first reading (the one without non-final results) gives the decision's derived facts.
  const readings = readingsOf([...facts.observations].sort(canonicalOrder));
  let best: Decision | null = null;
  const outcomes: string[] = [];
  // What the readings without the non-final results found (they come first): a non-final result never
  // stands for an item missing without it (rule 12), so a reading with them needs what those needed.
  const withoutNonFinal: ReadingFacts[] = [];
  for (const reading of readings) {
    const { decision: d, walkFacts } = await evaluateReading(rt, facts, reading, opts.now, opts.encounterId ?? null, reading.withNonFinal ? withoutNonFinal : []);
    if (!reading.withNonFinal) withoutNonFinal.push(walkFacts);
    outcomes.push(`${reading.label}: ${d.outcome}`);
    if (best === null || rankOf(rt.pathway, d.outcome) < rankOf(rt.pathway, best.outcome)) best = d;
  }
  if (best === null) throw new PathwayDefect('no reading of the data was evaluated');
  if (readings.length === 1) return best;
  const step: TraceStep = { rule: '12', text: clip(`${readings.length} readings of the data (${outcomes.join('; ')}): the most serious counts, ${best.outcome}.`, 2 * TEXT_BOUND), result: best.outcome };
  return { ...best, trace: [...best.trace, step] };
}

async function evaluateReading(rt: PathwayRuntime, facts: Facts, reading: Reading, now: Instant, encounterId: string | null, withoutNonFinal: readonly ReadingFacts[]): Promise<{ decision: Decision; walkFacts: ReadingFacts }> {
  const p = rt.pathway;
  // The resources the mapping set aside, and the patient (rule 14).
  const given = new Log();
  for (const ig of [...facts.ignored].sort((a, b) => cmpStr(a.ref, b.ref) || cmpStr(a.reason, b.reason))) given.use(ig.ref, ig.kind ?? 'other', 'ignored', ig.reason);
  if (facts.sex !== null) given.use('Patient', 'patient', rt.needsPatient ? 'used' : 'not-used', `sex: ${facts.sex}`);
  // Rule 12: versions, and this reading's choice among them (readings.ts).
  const versions = new Log();
  for (const u of reading.uses) versions.use(u.ref, u.kind, u.use, u.reason);
  for (const st of reading.steps) versions.step(st, { key: 'versions' });

  const episode = episodeOf(p, reading, now, encounterId);
  const results = troponinResults(rt, facts.sex, episode, reading.conflicted);
  // Chart 2 reads a baseline and a retest (series.ts); a pathway with sample windows reads its own series.
  const serial = p.serial === null ? null : readSerialSeries(p, { now, results, onsets: episode.onsets, episodeStart: episode.start, sex: facts.sex });
  const series = serial ?? readSeries(p, now, results);
  const ecg = readEcg(episode.ecgs, episode.start, episode.end, episode.escalating);
  const timi = p.file.inputs.timi === undefined ? noTimi() : readTimi(episode.timis, episode.start, episode.end, results.usable);

  const graphFacts: Record<GraphFactName, Scalar> = {
    ecgFinding: ecg.finding,
    raisedMarker: timi.raisedMarker,
    timiScore: timi.score,
    baselinePosition: serial === null ? (series as SeriesReading).baselinePosition : null,
    baselineAssay: serial?.baselineAssay ?? null,
    troponinReading: series.troponinReading,
    incomparableResult: serial === null ? (series as SeriesReading).incomparableResult : null,
  };
  const missingDetails = [...ecg.missing, ...timi.missing];
  const walked = await walk(p, { graphFacts, missingDetails, retestDue: series.retestDue === null ? undefined : formatInstant(series.retestDue), retestOverdue: series.retestDue !== null && now > series.retestDue, baselineAboveLimit: serial === null && (series as SeriesReading).baselineAboveLimit, withoutNonFinal });
  // Rule 12: where the non-final results stood for an item missing without them, they give no retest time
  // either: the retest is due only from a baseline the reading without them has.
  const due = walked.standIns.length > 0 ? (withoutNonFinal[0]?.retestDue ?? null) : series.retestDue;
  const retestDue = due === null ? undefined : formatInstant(due);
  const retestOverdue = due !== null && now > due;
  const { trace, inputs, reasons } = assemble(p.file.settings.maxTroponinResults, [given, versions, episode.log, results.log, series.log, ecg.log, timi.log, walked.log]);
  // Keys in the order the audit record and the golden files have always had them.
  const decision: Decision = {
    outcome: walked.outcome,
    indicator: walked.indicator,
    summary: walked.summary,
    reasons,
    missing: walked.missing,
    missingDetails: walked.missingDetails,
    ...(due === null ? {} : { retestDue, retestOverdue }),
    evaluatedAt: formatInstant(now),
    assays: results.assays,
    troponin: { baseline: series.baseline, later: series.later, summary: results.summary },
    // One entry per resource (the first use recorded stands), bounded (rule 16).
    inputs,
    trace,
    pathway: rt.identity,
    path: walked.path,
    ...(serial === null ? {} : { onset: serial.onset, cutoffs: serial.cutoffs, ...(serial.threshold === null ? {} : { threshold: serial.threshold }) }),
  };
  return { decision, walkFacts: { graphFacts, missingDetails, retestDue: series.retestDue } };
}

/** A pathway that declares no TIMI input reads none (its TIMI observations are not mapped). */
function noTimi(): { raisedMarker: boolean; score: null; missing: []; log: LogView } {
  const log = new Log();
  log.step({ rule: '2', text: 'This pathway uses no TIMI score: TIMI observations are not read.' });
  return { raisedMarker: false, score: null, missing: [], log };
}
