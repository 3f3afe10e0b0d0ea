/**
 * The series of a sample-window pathway, in place of series.ts (esc-0h1h-0h2h.md section 8; high-steacs.md
 * section 8): the facts `baselineAssay` and `troponinReading` for the walk, with the chest-pain onset, the
 * readings of every sample, the retest due time and the log that explains them. Pure: the usable results
 * and the onsets in, the reading and its log out.
 */
import type { CompiledSerial } from './serial-pathway.js';
import { type OnsetReading, readOnset } from './onset.js';
import { type Sample, type SerialResult, readSerial } from './serial-reading.js';
import { hull, intervalText } from './ranges.js';
import { formatInstant, minutesBetween } from './time.js';
import type { CutoffTableUse, Instant, LaterResultSummary, MeasuredRange, OnsetFact, OutcomeCode, ResultSummary, Sex, TroponinFact } from './types.js';
import type { UsableTroponin } from './later-results.js';
import { listText, listTextOf } from './bounds.js';
import type { CompiledPathway } from './pathway.js';
import { resultSummary } from './episode-size.js';
import { moreSerious } from './severity.js';
import { Log, type LogView } from './trace.js';
import type { TroponinResults } from './troponins.js';

interface SerialContext {
  readonly listEach: boolean;
  moreSerious(a: OutcomeCode, b: OutcomeCode): OutcomeCode;
  step: Log['step'];
  use: Log['use'];
  reason: Log['reason'];
}

interface SerialArgs {
  readonly serial: CompiledSerial;
  /** Usable troponins of the episode (after status, units, assay and time: rules 3, 10, 12, 13). */
  readonly usable: readonly UsableTroponin[];
  /** The candidates for the 0 h sample: every usable troponin at the earliest draw time. */
  readonly candidates: readonly UsableTroponin[];
  /** Non-final troponins not read in this evaluation. */
  readonly pending: readonly TroponinFact[];
  readonly onsets: readonly OnsetFact[];
  readonly episodeStart: Instant;
  readonly now: Instant;
  readonly futureTolerance: bigint;
  readonly sex: Sex | null;
}

export interface SerialFacts {
  readonly baselineAssay: 'supported' | 'unsupported' | 'missing';
  readonly troponinReading: OutcomeCode | null;
  readonly retestDue: Instant | null;
  readonly later: readonly LaterResultSummary[];
  readonly onset: { readonly time: string | null; readonly basis: 'recorded' | 'period-end' | 'unknown' };
  readonly cutoffs: readonly CutoffTableUse[];
  readonly threshold: { readonly url99: string; readonly basis: 'female' | 'male' | 'sex-unknown' } | null;
}

/** At most this many 0 h samples of one assay at one time are read one by one. */
export const MAX_ZERO_READINGS = 8;

function groupByAssay(us: readonly UsableTroponin[]): UsableTroponin[][] {
  const by = new Map<string, UsableTroponin[]>();
  for (const u of us) {
    const list = by.get(u.assay.id);
    if (list === undefined) by.set(u.assay.id, [u]);
    else list.push(u);
  }
  return [...by.values()];
}

const sampleOf = (u: UsableTroponin): Sample => ({ ref: u.fact.ref, drawTime: u.drawTime, assay: u.assay, value: u.fact.value as MeasuredRange });

function fill(text: string, values: Record<string, string>): string {
  return text.replace(/\{(\w+)\}/g, (m, k: string) => values[k] ?? m);
}

function onsetSteps(ctx: SerialContext, s: CompiledSerial, onset: OnsetReading, zeroDraw: Instant | null, result: SerialResult | null): void {
  const rule = s.section.rules.onset;
  for (const u of onset.uses) ctx.use(u.ref, 'onset', u.use, u.reason);
  const problems = onset.problems.length === 0 ? '' : ` Unusable onset records: ${listText([...onset.problems], 5, '; ')}.`;
  if (onset.time === null) {
    const matters = result !== null && result.onsetBand !== 'single-sample-eligible' && (result.zeroAlone?.reading === 'none' || result.why === 'early-presenter-waits');
    ctx.step({ rule, text: `${s.section.text.onsetUnknown}${matters ? ` ${s.section.text.onsetWouldMatter}` : ''}${problems}`, facts: { onset: null, onsetBand: result?.onsetBand ?? null } });
    ctx.reason(`${s.section.text.onsetUnknown}${matters ? ` ${s.section.text.onsetWouldMatter}` : ''}`);
    return;
  }
  const since = zeroDraw === null ? null : minutesBetween(onset.time, zeroDraw);
  ctx.step({
    rule,
    text: `Chest-pain onset ${formatInstant(onset.time)} (${onset.ref ?? ''}${onset.basis === 'period-end' ? ', the end of the recorded period' : ''}; the latest usable onset counts)${since === null ? '' : `: ${since} min before the 0 h draw`}, onset band ${result?.onsetBand ?? 'not read'}.${problems}`,
    facts: { onset: formatInstant(onset.time), onsetBasis: onset.basis, minutesSinceOnset: since, onsetBand: result?.onsetBand ?? null },
  });
}

/** Derive the serial pathway's facts; writes its trace steps, reasons and input uses to `ctx`. */
function serialFacts(ctx: SerialContext, a: SerialArgs): SerialFacts {
  const s = a.serial;
  const onset = readOnset(a.onsets, a.episodeStart, a.now, a.futureTolerance);
  const onsetOut = { time: onset.time === null ? null : formatInstant(onset.time), basis: onset.basis };
  if (a.candidates.length === 0) {
    onsetSteps(ctx, s, onset, null, null);
    return { baselineAssay: 'missing', troponinReading: null, retestDue: null, later: [], onset: onsetOut, cutoffs: [], threshold: null };
  }
  const samples = a.usable.map(sampleOf);
  const sampleFor = new Map(a.usable.map((u, i) => [u, samples[i] as Sample]));
  const pending = a.pending.map((t) => ({ assayId: t.assayId, drawTime: t.drawTime }));
  // C2 rule 4: two 0 h samples at the same earliest time are both readings; the most serious counts.
  // Over MAX_ZERO_READINGS of one assay (a hostile episode), they are read at once as the hull of their
  // values: every cell any of them allows is read, so the outcome is never less serious (C2 rule 16).
  const zeros: { z: UsableTroponin; zero: Sample }[] = [];
  for (const group of groupByAssay(a.candidates)) {
    const first = group[0] as UsableTroponin;
    const h = group.length > MAX_ZERO_READINGS ? hull(group.map((u) => u.fact.value as MeasuredRange)) : null;
    if (h === null) for (const z of group) zeros.push({ z, zero: sampleFor.get(z) as Sample });
    else {
      zeros.push({ z: first, zero: { ...(sampleFor.get(first) as Sample), value: h } });
      ctx.step({ rule: '3', text: `${group.length} 0 h samples of ${first.assay.name} at one time, more than ${MAX_ZERO_READINGS}: read at once, every value from ${intervalText(h)} ng/L (C2 rules 4 and 16).` });
    }
  }
  let best: { r: SerialResult; z: UsableTroponin; outcome: OutcomeCode } | null = null;
  for (const { z, zero } of zeros) {
    const r = readSerial({ serial: s, zero, usable: samples, pending, onset: onset.time, sex: a.sex, now: a.now });
    let outcome: OutcomeCode = r.reading;
    if (r.otherAssay.length > 0) outcome = ctx.moreSerious(outcome, 'indeterminate');
    if (best === null || ctx.moreSerious(best.outcome, outcome) !== best.outcome) best = { r, z, outcome };
  }
  const { r, z, outcome } = best as { r: SerialResult; z: UsableTroponin; outcome: OutcomeCode };
  onsetSteps(ctx, s, onset, z.drawTime, r);
  const rules = s.section.rules;
  if (!r.supported) {
    const text = fill(s.section.text.noCutoffs, { assay: z.assay.name });
    ctx.step({ rule: rules.assay, node: 'zero-hour', text: `${z.fact.ref}: ${text}`, facts: { assay: z.assay.id, table: s.section.zeroHourTable }, result: 'unsupported' });
    ctx.reason(text);
    return { baselineAssay: 'unsupported', troponinReading: 'indeterminate', retestDue: null, later: [], onset: onsetOut, cutoffs: [], threshold: null };
  }
  if (r.threshold !== null) {
    ctx.step({ rule: rules.sex ?? rules.readings, text: `Sex ${a.sex ?? 'not given'}: the ${r.threshold.basis} threshold ${r.threshold.url99.toFixed()} ng/L applies${r.threshold.basis === 'sex-unknown' ? ' (sex unknown: the lower)' : ''}.`, facts: { sex: a.sex, url99: r.threshold.url99.toFixed(), basis: r.threshold.basis } });
  }
  const zeroEntry = r.zeroAlone;
  if (zeroEntry !== null) {
    ctx.step({ rule: rules.readings, node: zeroEntry.id, text: `0 h sample ${z.fact.ref}, ${intervalText(z.fact.value as MeasuredRange)} ng/L (${z.assay.name}): ${zeroEntry.text} -> ${zeroEntry.reading}.`, facts: { result: z.fact.ref, onsetBand: r.onsetBand }, result: zeroEntry.reading });
  }
  const later: LaterResultSummary[] = [];
  for (const v of r.later) {
    const minutes = minutesBetween(z.drawTime, v.sample.drawTime);
    const where = v.timing === 'in-table' ? `in the ${v.window ?? ''} window, table ${v.table}` : `outside the timing windows (escalation only, smallest cut-offs ${v.table})`;
    if (ctx.listEach) {
      ctx.step(
        { rule: rules.readings, node: v.entry.id, text: `${v.sample.ref} at +${minutes} min, ${intervalText(v.sample.value)} ng/L, ${where}; |change| ${v.change === null ? '' : intervalText(v.change)} ng/L: ${v.entry.text} -> ${v.reading}.`, facts: { result: v.sample.ref, minutesAfterZeroHour: minutes, timing: v.timing, table: v.table, absoluteChange: v.change === null ? null : intervalText(v.change) }, result: v.reading },
        { key: 'troponin' },
      );
      const u = a.usable.find((x) => x.fact.ref === v.sample.ref);
      if (u !== undefined) later.push({ ref: v.sample.ref, assay: u.assay.id, drawTime: formatInstant(u.drawTime), reported: u.fact.value.kind === 'range' ? u.fact.value.reported : '', valueNgL: intervalText(v.sample.value), minutesAfterBaseline: minutes, role: v.timing === 'in-table' ? 'retest' : 'early', changePercent: null, outcome: null, classificationRule: v.entry.id });
    }
  }
  for (const o of r.otherAssay) {
    const text = `${o.ref} is of another assay (${o.assay.name}) than the 0 h sample (${z.assay.name}): results of different assays cannot be compared; at least indeterminate (C2 rule 9).`;
    ctx.step({ rule: '3', text, result: 'indeterminate' }, { key: 'troponin' });
    ctx.reason(text);
    if (ctx.listEach) later.push({ ref: o.ref, assay: o.assay.id, drawTime: formatInstant(o.drawTime), reported: '', valueNgL: intervalText(o.value), minutesAfterBaseline: minutesBetween(z.drawTime, o.drawTime), role: 'other-assay', changePercent: null, outcome: null, classificationRule: null });
  }
  const whyText: Record<SerialResult['why'], string> = {
    'no-cutoffs': '',
    'rule-in': 'a reading is rule-in',
    'missed-timing': s.section.text.missedTiming,
    observe: 'a reading is observe',
    'single-sample-rule-out': 'the 0 h sample alone rules out',
    'pair-rule-out': 'every sample in a timing window rules out',
    'early-presenter-waits': `every sample in a timing window rules out, but for an early presenter the rule-out stands only once a sample is drawn at or after ${formatInstant(z.drawTime + s.thirdSample)}`,
    awaiting: 'no reading concludes yet',
  };
  const text = `Troponin reading: ${whyText[r.why]}: ${r.reading}${r.retestDue === null ? '' : `; next sample due ${formatInstant(r.retestDue)}${a.now > r.retestDue ? ', now overdue' : ''}`}.`;
  ctx.step({ rule: r.why === 'missed-timing' || r.why === 'awaiting' ? rules.timing : rules.reading, node: 'reading', text, facts: { troponinReading: r.reading, retestDue: r.retestDue === null ? null : formatInstant(r.retestDue) }, result: r.reading });
  ctx.reason(r.why === 'missed-timing' ? s.section.text.missedTiming : text);
  return {
    baselineAssay: 'supported',
    troponinReading: outcome,
    retestDue: r.retestDue,
    later,
    onset: onsetOut,
    cutoffs: r.cutoffs,
    threshold: r.threshold === null ? null : { url99: r.threshold.url99.toFixed(), basis: r.threshold.basis },
  };
}

export interface SerialSeries extends SerialFacts {
  readonly baseline: ResultSummary | null;
  readonly log: LogView;
}

/** Read the series of a pathway with a `serial` section; C2 rules 13 and 16 then make it at least indeterminate. */
export function readSerialSeries(
  p: CompiledPathway,
  a: { readonly now: Instant; readonly results: TroponinResults; readonly onsets: readonly OnsetFact[]; readonly episodeStart: Instant; readonly sex: Sex | null },
): SerialSeries {
  const log = new Log();
  const serial = p.serial as CompiledSerial;
  const { usable, uninterpretable, listEach } = a.results;
  const earliest = usable.reduce<Instant | null>((m, u) => (m === null || u.drawTime < m ? u.drawTime : m), null);
  const candidates = earliest === null ? [] : usable.filter((u) => u.drawTime === earliest);
  const ctx: SerialContext = { listEach, moreSerious: (x, y) => moreSerious(p, x, y), step: log.step.bind(log), use: log.use.bind(log), reason: log.reason.bind(log) };
  if (earliest === null) log.step({ rule: '3', text: 'No usable troponin result in the episode: there is no 0 h sample.', result: 'no baseline' });
  const f = serialFacts(ctx, { serial, usable, candidates, pending: a.results.pending, onsets: a.onsets, episodeStart: a.episodeStart, now: a.now, futureTolerance: p.futureTolerance, sex: a.sex });
  let reading = f.troponinReading;
  if (uninterpretable.length > 0) {
    log.reason(`Uninterpretable troponin result${uninterpretable.length > 1 ? 's' : ''} in the episode (${listTextOf(uninterpretable, (u) => `${u.ref}: ${u.why}`, 5, '; ')}): at least indeterminate (C2 rule 13).`);
    reading = reading === null ? 'indeterminate' : moreSerious(p, reading, 'indeterminate');
  }
  if (a.results.summary.overMax) reading = reading === null ? 'indeterminate' : moreSerious(p, reading, 'indeterminate');
  return { ...f, troponinReading: reading, baseline: candidates[0] === undefined ? null : resultSummary(candidates[0]), log };
}
