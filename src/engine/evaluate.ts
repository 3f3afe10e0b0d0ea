/**
 * The pathway engine: facts and `now` in, a decision with its reasoning out.
 *
 * Pure: no IO, no clock, no environment. Deterministic to the byte (rule 15): the input is put in a
 * canonical order first, and every list in the output is built from that order.
 *
 * The rule numbers in comments and in the trace are those of the clinical contract
 * (chart2-pathway.md, section 4); docs/pathway.md maps each to its code and its tests.
 */
import { Engine, type RuleResult } from 'json-rules-engine';
import { TnpError } from '../errors.js';
import { type PathwayRuntime, urlFor } from './catalogue.js';
import { type CompiledPathway, type GraphFactName, type Scalar } from './pathway.js';
import { applyLod, intervalText, isEmpty, isPoint, mayBeAbove, positionOf } from './ranges.js';
import { formatInstant } from './time.js';
import { canonicalOrder, cmpStr, describeTime } from './order.js';
import { type Reading, readingsOf } from './readings.js';
import { BoundedInputs, LIST_BOUND, TEXT_BOUND, boundedReasons, boundedTrace, clip, clipStep, count, listText } from './bounds.js';
import { type UsableTroponin, weighLater } from './later-results.js';
import { boundedAssumptions, summariseEpisode } from './episode-summary.js';
import { type SerialFacts, serialFacts } from './serial-facts.js';
import { mergeExactDuplicates, resultSummary } from './episode-size.js';
import type {
  AssayAssumption,
  Decision,
  EcgFact,
  Facts,
  InputUse,
  Instant,
  LaterResultSummary,
  Missing,
  MissingItem,
  ObservationFact,
  OnsetFact,
  OutcomeCode,
  TimiFact,
  TraceStep,
  TroponinFact,
} from './types.js';

export interface EvaluateOptions {
  /** The evaluation time: when the service received the request (rule 0). */
  readonly now: Instant;
  /** The encounter the request names, if any (rule 3). */
  readonly encounterId?: string | null;
}

const MISSING_TEXT: Record<MissingItem, string> = {
  ecg: 'ECG',
  'ecg-lbbb-new': 'whether the LBBB is new',
  timi: 'TIMI score',
  'baseline-troponin': 'baseline troponin',
};

class Evaluation {
  readonly p: CompiledPathway;
  // Listed one by one up to the larger of the list bound and rule 16's bound (so an episode within
  // rule 16's bound lists every result), then counted.
  private readonly traceList: ReturnType<typeof boundedTrace>;
  private readonly inputList: BoundedInputs;
  private readonly reasonList: ReturnType<typeof boundedReasons>;
  /** False over rule 16's bound: troponin results are summarised, not listed one by one. */
  listEach = true;

  constructor(
    private readonly rt: PathwayRuntime,
    private readonly facts: Facts,
    private readonly reading: Reading,
    readonly now: Instant,
    private readonly encounterId: string | null,
  ) {
    this.p = rt.pathway;
    const limit = Math.max(LIST_BOUND, this.p.file.settings.maxTroponinResults);
    this.traceList = boundedTrace(limit);
    this.inputList = new BoundedInputs(limit);
    this.reasonList = boundedReasons(limit);
  }

  rank(o: OutcomeCode): number {
    return this.p.severityRank.get(o) ?? Number.MAX_SAFE_INTEGER;
  }

  moreSerious(a: OutcomeCode, b: OutcomeCode): OutcomeCode {
    return this.rank(b) < this.rank(a) ? b : a;
  }

  /** A trace step; one given a group is listed for the first few of its group and counted after. */
  step(s: TraceStep, group?: { key: string; ref?: string }): void {
    this.traceList.add(clipStep(s), group);
  }

  /** What happened to a resource: one entry per resource, the first recorded stands (rule 16 bounds the list). */
  use(ref: string, kind: InputUse['kind'], use: InputUse['use'], reason: string): void {
    this.inputList.add(ref, kind, use, reason);
  }

  reason(text: string, group?: { key: string; ref?: string }): void {
    this.reasonList.add(clip(text, 2 * TEXT_BOUND), group);
  }

  get trace(): TraceStep[] {
    return this.traceList.list();
  }

  run(): Omit<Decision, 'path' | 'pathway'> & { graphFacts: Record<GraphFactName, Scalar>; baselineAboveLimit: boolean } {
    const p = this.p;
    for (const ig of [...this.facts.ignored].sort((a, b) => cmpStr(a.ref, b.ref) || cmpStr(a.reason, b.reason))) {
      this.use(ig.ref, 'other', 'ignored', ig.reason);
    }
    if (this.facts.sex !== null) this.use('Patient', 'patient', this.rt.needsPatient ? 'used' : 'not-used', `sex: ${this.facts.sex}`);

    // Rule 12: versions, and this reading's choice among them (readings.ts).
    const kept = this.reading.observations;
    const conflicted = this.reading.conflicted;
    for (const u of this.reading.uses) this.use(u.ref, u.kind, u.use, u.reason);
    for (const st of this.reading.steps) this.step(st, { key: 'versions' });
    // Rule 1 (1.1): an ECG meaning ST-elevation or new LBBB counts even when non-final, drawn after the
    // evaluation time or recorded in another encounter, if drawn (or issued) in the 24 h before now.
    const escalating = new Set<EcgFact>();
    for (const o of kept) {
      const t = o.drawTime ?? o.issued;
      if (o.kind === 'ecg' && (o.status === 'used' || o.status === 'listed') && t !== null && t >= this.now - p.episodeWindow && o.meanings.includes('stemi-or-new-lbbb')) escalating.add(o);
    }

    // Rule 12: status. Rule 3: encounter.
    const live: ObservationFact[] = [];
    for (const o of kept) {
      if (o.status === 'void' && !conflicted.has(o)) {
        this.use(o.ref, o.kind, 'void', `status ${o.statusText ?? ''}: void, ignored (rule 12)`);
        continue;
      }
      if (this.encounterId !== null && o.encounterId !== null && o.encounterId !== this.encounterId && !(o.kind === 'ecg' && escalating.has(o))) {
        this.use(o.ref, o.kind, 'other-encounter', `names encounter ${o.encounterId}, not ${this.encounterId} (rule 3)`);
        continue;
      }
      live.push(o);
    }

    // Rule 3: the episode, anchored on the latest used troponin drawn in the window before now.
    const windowStart = this.now - p.episodeWindow;
    const end = this.now + p.futureTolerance;
    let anchor: TroponinFact | null = null;
    for (const o of live) {
      if (o.kind === 'troponin' && o.status === 'used' && o.drawTime !== null && o.drawTime >= windowStart && o.drawTime <= this.now && !conflicted.has(o)) {
        if (anchor === null || (anchor.drawTime as Instant) < o.drawTime) anchor = o;
      }
    }
    const start = (anchor?.drawTime ?? this.now) - p.episodeWindow;
    this.step({
      rule: '3',
      text:
        anchor === null
          ? `No used troponin drawn in the ${p.file.settings.episodeWindowHours} h before the evaluation time: the episode runs from ${formatInstant(start)} to ${formatInstant(end)}.`
          : `The episode is anchored on the latest troponin drawn in the ${p.file.settings.episodeWindowHours} h before the evaluation time (${anchor.ref}, ${formatInstant(anchor.drawTime as Instant)}): it runs from ${formatInstant(start)} to ${formatInstant(end)}.`,
      facts: { evaluationTime: formatInstant(this.now), episodeStart: formatInstant(start), episodeEnd: formatInstant(end), encounter: this.encounterId },
    });

    const ecgs = live.filter((o): o is EcgFact => o.kind === 'ecg');
    const timis = live.filter((o): o is TimiFact => o.kind === 'timi');
    const onsets = live.filter((o): o is OnsetFact => o.kind === 'onset');
    const pending: TroponinFact[] = [];
    // Rule 3: the troponins of the episode.
    const inEpisode: TroponinFact[] = [];
    for (const o of live) {
      if (o.kind !== 'troponin') continue;
      const listed = o.drawTime !== null ? o.drawTime >= start : o.issued === null || o.issued >= start;
      if (listed) inEpisode.push(o);
      else this.use(o.ref, 'troponin', 'outside-episode', `drawn ${describeTime(o.drawTime ?? o.issued)}, before the episode began (rule 3)`);
    }
    // Rule 16: exact duplicates count once; more results than the pathway weighs are summarised.
    const { kept: troponins, duplicates } = mergeExactDuplicates(inEpisode, (t) => conflicted.has(t));
    for (const d of duplicates) this.use(d.dup.ref, 'troponin', 'superseded', `an exact duplicate of ${d.of.ref} (same assay, value, unit, comparator, draw time and status): counted once (rule 16)`);
    if (duplicates.length > 0) {
      this.step({ rule: '16', text: `${count(duplicates.length)} exact duplicate${duplicates.length > 1 ? 's' : ''} (same assay, value, unit, comparator, draw time and status) counted once: ${listText(duplicates.map((d) => `${d.dup.ref} = ${d.of.ref}`))}.`, facts: { duplicates: duplicates.length } });
    }
    this.listEach = troponins.length <= p.file.settings.maxTroponinResults;
    const each = { key: 'troponin' };

    // Rules 4, 10, 11, 13, 14: which troponins are usable, which are uninterpretable.
    const usable: UsableTroponin[] = [];
    const uninterpretable: { ref: string; why: string }[] = [];
    const assumptions: AssayAssumption[] = [];
    // Rule 13: never dropped; named in the trace with why (counted in the summary over rule 16's bound).
    const markUninterpretable = (t: TroponinFact, reason: string): void => {
      uninterpretable.push({ ref: t.ref, why: reason });
      this.use(t.ref, 'troponin', 'uninterpretable', reason);
      if (this.listEach) this.step({ rule: '13', text: `${t.ref} is uninterpretable: ${reason}. The outcome is at least indeterminate.`, result: 'indeterminate' }, each);
    };
    for (const t of troponins) {
      if (t.status === 'listed' && !conflicted.has(t)) {
        pending.push(t);
        this.use(t.ref, 'troponin', 'not-used', `status ${t.statusText ?? ''}: listed, not used (rule 12)`);
        if (this.listEach) this.step({ rule: '12', text: `${t.ref} has status ${t.statusText ?? ''}: it is listed and not used.` }, each);
        continue;
      }
      let why: string | null = null;
      if (conflicted.has(t)) why = 'its versions conflict and cannot be ordered (rule 12)';
      else if (t.status === 'invalid') why = t.statusText === null ? 'it has no status (rule 12)' : `its status "${t.statusText}" is not one the pathway can use (rule 12)`;
      else if (t.value.kind === 'absent') {
        this.use(t.ref, 'troponin', 'not-used', `${t.value.reason}: listed, not used (rule 13)`);
        if (this.listEach) this.step({ rule: '13', text: `${t.ref} states it has no value (${t.value.reason}): listed and not used.` }, each);
        continue;
      } else if (t.value.kind === 'unreadable') why = `${t.value.reason} (rule 10/11)`;
      else if (t.drawTime === null) why = `${t.drawTimeProblem ?? 'no draw time'} (rule 5)`;
      else if (t.drawTime > end) why = `drawn ${formatInstant(t.drawTime)}, more than ${p.file.settings.futureToleranceMinutes} min after the evaluation time (rule 3)`;
      else if (t.assayId === null) why = `${t.assayProblem ?? 'no assay'} (rule 9)`;
      const assay = t.assayId === null ? undefined : this.rt.assays.get(t.assayId);
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
      const { url, basis } = urlFor(assay, this.rt.sexSpecificUrls, this.facts.sex);
      usable.push({ fact: t, drawTime: t.drawTime, assay, url, urlBasis: basis, value: clamped });
      assumptions.push({ result: t.ref, assay: assay.id, assayName: assay.name, source: t.assaySource ?? 'catalogue-default' });
      if (!this.listEach) continue;
      const lodNote = t.value.lo.lt(assay.lod) ? `; below the LoD ${assay.lod.toFixed()} ng/L, so taken as ${intervalText(clamped)} (rule 11)` : '';
      const censored = isPoint(clamped) ? '' : `; censored: every value ${intervalText(clamped)} ng/L is considered (rule 11)`;
      this.step(
        {
          rule: '10',
          text: `${t.ref}: ${assay.name}, ${t.value.reported} = ${intervalText(t.value)} ng/L${lodNote}${censored}; drawn ${formatInstant(t.drawTime)}; URL ${url.toFixed()} ng/L (${basis}, rule 14).`,
          facts: { result: t.ref, assay: assay.id, reported: t.value.reported, valueNgL: intervalText(clamped), drawTime: formatInstant(t.drawTime), url: url.toFixed() },
        },
        each,
      );
    }
    const summary = summariseEpisode(this, { results: troponins.length, usable, uninterpretable: uninterpretable.length, duplicates: duplicates.length });

    // Rule 2 (item 7): a raised cardiac marker.
    const raised = usable.filter((u) => mayBeAbove(u.value, u.url));
    const raisedMarker = raised.length > 0;

    // Rule 4: the baseline: the earliest usable result, whatever its assay.
    const earliest = usable.reduce<Instant | null>((m, u) => (m === null || u.drawTime < m ? u.drawTime : m), null);
    const candidates = earliest === null ? [] : usable.filter((u) => u.drawTime === earliest);

    let troponinReading: OutcomeCode | null = null;
    let baselinePosition: 'below' | 'above' | 'at-or-across' | 'missing' = 'missing';
    let retestDue: Instant | null = null;
    const later: LaterResultSummary[] = [];
    let baselineAboveLimit = false;
    let serial: SerialFacts | null = null;
    if (p.serial !== null) {
      serial = serialFacts(this, { serial: p.serial, usable, candidates, pending, onsets, episodeStart: start, now: this.now, futureTolerance: p.futureTolerance, sex: this.facts.sex });
      troponinReading = serial.troponinReading;
      retestDue = serial.retestDue;
      later.push(...serial.later);
      if (earliest === null) this.step({ rule: '3', text: 'No usable troponin result in the episode: there is no 0 h sample.', result: 'no baseline' });
    } else if (earliest === null) {
      this.step({ rule: '4', text: 'No usable troponin result in the episode: there is no baseline.', result: 'no baseline' });
    } else {
      const w = weighLater(this, candidates, usable, later);
      troponinReading = w.outcome;
      const positions = new Set<string>();
      for (const base of candidates) {
        positions.add(positionOf(base.value, base.url));
        if (base.value.hi === null || base.value.hi.gt(base.url)) baselineAboveLimit = true;
      }
      if (w.awaiting) retestDue = earliest + p.retestInterval;
      baselinePosition = positions.size === 1 ? ([...positions][0] as 'below' | 'above' | 'at-or-across') : 'at-or-across';
    }
    if (uninterpretable.length > 0) {
      const text = `Uninterpretable troponin result${uninterpretable.length > 1 ? 's' : ''} in the episode (${listText(uninterpretable.map((u) => `${u.ref}: ${u.why}`), 5, '; ')}): at least indeterminate (rule 13).`;
      this.reason(text);
      troponinReading = troponinReading === null ? 'indeterminate' : this.moreSerious(troponinReading, 'indeterminate');
    }
    // Rule 16: more results than the pathway weighs: at least indeterminate.
    if (summary.overMax) troponinReading = troponinReading === null ? 'indeterminate' : this.moreSerious(troponinReading, 'indeterminate');

    // Rule 1: the ECG.
    const ecgFinding = this.readEcg(ecgs, start, end, escalating);
    // Rule 2: TIMI (a pathway that declares no TIMI input reads none).
    const timiScore = p.file.inputs.timi === undefined ? null : this.readTimi(timis, start, end);
    if (p.file.inputs.timi === undefined) this.step({ rule: '2', text: 'This pathway uses no TIMI score (TIMI observations are not read).' });
    if (raisedMarker && p.serial === null) {
      this.step({
        rule: '2',
        text: `Raised cardiac marker (TIMI item 7): ${listText(raised.map((u) => `${u.fact.ref} ${intervalText(u.value)} ng/L is or may be above the URL ${u.url.toFixed()} ng/L`), 5, '; ')}. The TIMI score is at least 1, which settles the branch.`,
        facts: { raisedMarker: true },
      });
    }

    const graphFacts: Record<GraphFactName, Scalar> = {
      ecgFinding: ecgFinding.value,
      raisedMarker,
      timiScore,
      baselinePosition,
      baselineAssay: serial?.baselineAssay ?? null,
      troponinReading,
    };
    const baseline = candidates[0] === undefined ? null : resultSummary(candidates[0]);
    return {
      outcome: 'needs-input',
      indicator: 'info',
      summary: '',
      reasons: this.reasonList.list(),
      missing: [],
      missingDetails: [],
      ...(retestDue === null ? {} : { retestDue: formatInstant(retestDue), retestOverdue: this.now > retestDue }),
      evaluatedAt: formatInstant(this.now),
      assays: boundedAssumptions(assumptions),
      troponin: { baseline, later, summary },
      // One entry per resource (the first use recorded stands), bounded (rule 16).
      inputs: this.inputList.list(),
      trace: [],
      ...(serial === null ? {} : { onset: serial.onset, cutoffs: serial.cutoffs, ...(serial.threshold === null ? {} : { threshold: serial.threshold }) }),
      graphFacts,
      baselineAboveLimit,
    };
  }

  readEcg(ecgs: readonly EcgFact[], start: Instant, end: Instant, escalating: ReadonlySet<EcgFact>): { value: 'stemi-or-new-lbbb' | 'no-stemi-or-new-lbbb' | 'lbbb-age-unknown' | 'missing' } {
    const usable: { fact: EcgFact; time: Instant }[] = [];
    const problems: string[] = [];
    for (const e of ecgs) {
      const time = e.drawTime ?? e.issued;
      let why: string | null = null;
      if (escalating.has(e) && time !== null) {
        usable.push({ fact: e, time });
        continue;
      }
      if (time !== null && time < start) {
        this.use(e.ref, 'ecg', 'outside-episode', `taken ${formatInstant(time)}, before the episode began (rule 3)`);
        continue;
      }
      if (e.status === 'listed') why = `status ${e.statusText ?? ''} (rule 12)`;
      else if (e.status === 'invalid') why = e.statusText === null ? 'no status (rule 12)' : `status "${e.statusText}" (rule 12)`;
      else if (time === null) why = `no draw or issued time (rule 3)`;
      else if (time > end) why = `taken ${formatInstant(time)}, after the evaluation time (rule 3)`;
      else if (e.valueProblem !== null) why = `${e.valueProblem} (rule 1)`;
      if (why !== null || time === null) {
        problems.push(`${e.ref}: ${why ?? 'unusable'}`);
        this.use(e.ref, 'ecg', 'not-used', `unusable: ${why ?? ''}`);
        continue;
      }
      usable.push({ fact: e, time });
    }
    if (usable.length === 0) {
      const text = problems.length === 0 ? 'No ECG in the episode.' : `No usable ECG: ${listText(problems, 5, '; ')}.`;
      this.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'missing' }, result: 'missing' });
      this.missingDetail.set('ecg', problems.length === 0 ? 'no ECG recorded in this episode' : `no usable ECG (${listText(problems, 5, '; ')})`);
      return { value: 'missing' };
    }
    for (const u of usable) {
      this.use(u.fact.ref, 'ecg', 'used', `ECG: ${u.fact.meanings.join(', ')}`);
    }
    const stemi = usable.filter((u) => u.fact.meanings.includes('stemi-or-new-lbbb'));
    if (stemi.length > 0) {
      const text = `ECG shows ST-elevation or new LBBB (${listText(stemi.map((s) => `${s.fact.ref}, ${formatInstant(s.time)}`), 5, '; ')}): acute MI pathway, whatever else is known (rule 1).`;
      this.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'stemi-or-new-lbbb' }, result: 'stemi-or-new-lbbb' });
      this.reason(text);
      return { value: 'stemi-or-new-lbbb' };
    }
    // An LBBB of unknown age is answered by a product classification drawn at or after it: by the latest one.
    const lastClassified = usable.reduce<Instant | null>((m, v) => (v.fact.productClassified && (m === null || v.time > m) ? v.time : m), null);
    const unresolved = usable.filter((u) => u.fact.meanings.includes('lbbb-age-unknown') && (lastClassified === null || lastClassified < u.time));
    if (unresolved.length > 0) {
      const refs = listText(unresolved.map((u) => u.fact.ref));
      const text = `LBBB of unknown age on ${refs} and no later classification says whether it is new (rule 1).`;
      this.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'lbbb-age-unknown' }, result: 'lbbb-age-unknown' });
      this.reason(text);
      this.missingDetail.set('ecg-lbbb-new', `whether the LBBB on ${refs} is new`);
      return { value: 'lbbb-age-unknown' };
    }
    const answered = usable.some((u) => u.fact.meanings.includes('lbbb-age-unknown'));
    const text = `ECG: no ST-elevation or new LBBB (${listText(usable.map((u) => `${u.fact.ref}, ${formatInstant(u.time)}`), 5, '; ')})${answered ? '; the LBBB of unknown age is answered by a classification drawn at or after it' : ''} (rule 1).`;
    this.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'no-stemi-or-new-lbbb' }, result: 'no-stemi-or-new-lbbb' });
    this.reason(text);
    return { value: 'no-stemi-or-new-lbbb' };
  }

  readTimi(timis: readonly TimiFact[], start: Instant, end: Instant): number | null {
    let best: TimiFact | null = null;
    const problems: string[] = [];
    for (const t of timis) {
      const time = t.drawTime ?? t.issued;
      if (time !== null && time < start) {
        this.use(t.ref, 'timi', 'outside-episode', `recorded ${formatInstant(time)}, before the episode began (rule 3)`);
        continue;
      }
      let why: string | null = null;
      if (t.status === 'listed') why = `status ${t.statusText ?? ''} (rule 12)`;
      else if (t.status === 'invalid') why = t.statusText === null ? 'no status (rule 12)' : `status "${t.statusText}" (rule 12)`;
      else if (time === null) why = 'no draw or issued time (rule 3)';
      else if (time > end) why = `recorded ${formatInstant(time)}, after the evaluation time (rule 3)`;
      else if (t.score === null) why = `${t.valueProblem ?? 'no score'} (rule 2)`;
      if (why !== null || t.score === null) {
        problems.push(`${t.ref}: ${why ?? 'unusable'}`);
        this.use(t.ref, 'timi', 'not-used', `unusable: ${why ?? ''}`);
        continue;
      }
      this.use(t.ref, 'timi', 'used', `TIMI score ${t.score}`);
      if (best === null || (best.score ?? -1) < t.score) best = t;
    }
    if (best === null) {
      this.missingDetail.set('timi', problems.length === 0 ? 'no TIMI score recorded in this episode' : `no usable TIMI score (${listText(problems, 5, '; ')})`);
      this.step({ rule: '2', node: 'timi', text: problems.length === 0 ? 'No TIMI score in the episode.' : `No usable TIMI score: ${listText(problems, 5, '; ')}.`, facts: { timiScore: null } });
      return null;
    }
    const text = `TIMI score ${best.score ?? ''} (${best.ref}${timis.length > 1 ? '; the highest usable score counts' : ''}) (rule 2).`;
    this.step({ rule: '2', node: 'timi', text, facts: { timiScore: best.score } });
    this.reason(text);
    return best.score;
  }

  private readonly missingDetails = new Map<MissingItem, string>();
  /** What exactly is missing or unusable, for people (clipped: it may quote the data). */
  readonly missingDetail = {
    get: (item: MissingItem): string | undefined => this.missingDetails.get(item),
    set: (item: MissingItem, text: string): void => void this.missingDetails.set(item, clip(text, 2 * TEXT_BOUND)),
  };
}

const pools = new WeakMap<CompiledPathway, Engine[]>();
/** Idle engines kept per pathway; more are built when more evaluations overlap, and dropped after. */
const POOL_BOUND = 8;

/**
 * Run the pathway's edge rules with these facts on an Engine no other evaluation is using: a
 * json-rules-engine Engine keeps per-run state on its rules, so overlapping runs on one Engine lose or
 * mix events. Building one clones every condition, so idle ones are pooled per pathway.
 */
async function runEdges(p: CompiledPathway, facts: Record<string, Scalar>): Promise<RuleResult[]> {
  let pool = pools.get(p);
  if (pool === undefined) {
    pool = [];
    pools.set(p, pool);
  }
  const engine = pool.pop() ?? new Engine([...p.edgeRules], { allowUndefinedFacts: true });
  try {
    return (await engine.run(facts)).results;
  } finally {
    if (pool.length < POOL_BOUND) pool.push(engine);
  }
}

/** The facts an edge's conditions name, with their values in this evaluation (never read back from the engine's rule objects). */
function leafFacts(cond: unknown, values: Readonly<Record<string, Scalar>>, out: Record<string, string | number | boolean | null>): void {
  if (cond === null || typeof cond !== 'object') return;
  const c = cond as Record<string, unknown>;
  if (typeof c['fact'] === 'string') out[c['fact']] = values[c['fact']] ?? null;
  for (const k of ['all', 'any']) {
    const list = c[k];
    if (Array.isArray(list)) for (const x of list) leafFacts(x, values, out);
  }
  if (c['not'] !== undefined) leafFacts(c['not'], values, out);
}

/**
 * Evaluate the pathway for these facts at this time. Rejects only on a defect of the pathway itself
 * (TNP_ERR_PATHWAY_NOT_TOTAL); every input, however bad, gets a decision.
 */
export async function evaluate(rt: PathwayRuntime, facts: Facts, opts: EvaluateOptions): Promise<Decision> {
  // Rule 12: every reading of the data is evaluated and the most serious outcome counts; on a tie, the
  // first reading (the one without non-final results) gives the decision's derived facts.
  const readings = readingsOf([...facts.observations].sort(canonicalOrder));
  let best: Decision | null = null;
  const outcomes: string[] = [];
  for (const reading of readings) {
    const d = await evaluateReading(rt, facts, reading, opts);
    outcomes.push(`${reading.label}: ${d.outcome}`);
    if (best === null || rankOf(rt, d.outcome) < rankOf(rt, best.outcome)) best = d;
  }
  if (best === null) throw new TnpError('TNP_ERR_PATHWAY_NOT_TOTAL', 'no reading of the data was evaluated');
  if (readings.length === 1) return best;
  const step: TraceStep = { rule: '12', text: clip(`${readings.length} readings of the data (${outcomes.join('; ')}): the most serious counts, ${best.outcome}.`, 2 * TEXT_BOUND), result: best.outcome };
  return { ...best, trace: [...best.trace, step] };
}

function rankOf(rt: PathwayRuntime, o: OutcomeCode): number {
  return rt.pathway.severityRank.get(o) ?? Number.MAX_SAFE_INTEGER;
}

async function evaluateReading(rt: PathwayRuntime, facts: Facts, reading: Reading, opts: EvaluateOptions): Promise<Decision> {
  const p = rt.pathway;
  const ev = new Evaluation(rt, facts, reading, opts.now, opts.encounterId ?? null);
  const partial = ev.run();
  const graphFacts = partial.graphFacts;

  // The chart's walk: one json-rules-engine run of every edge's conditions, then the walk from the start.
  const almanacFacts: Record<string, Scalar> = {};
  for (const f of p.graphFacts) almanacFacts[f] = graphFacts[f];
  const results = await runEdges(p, almanacFacts);
  const fired = new Map<string, RuleResult>();
  for (const r of results) if (typeof r.name === 'string') fired.set(r.name, r);

  const nodes: string[] = [];
  const edges: string[] = [];
  const needsInput: MissingItem[] = [];
  let nodeId = p.file.graph.start;
  let leaf: OutcomeCode | null = null;
  for (let guard = 0; guard <= p.nodes.size; guard++) {
    const node = p.nodes.get(nodeId);
    if (node === undefined) throw new TnpError('TNP_ERR_PATHWAY_NOT_TOTAL', `the walk reached unknown node ${nodeId}`);
    nodes.push(node.id);
    if (node.kind === 'outcome') {
      leaf = node.outcome ?? null;
      break;
    }
    const taken = (p.edgesFrom.get(node.id) ?? []).filter((e) => fired.has(e.id));
    if (taken.length !== 1) {
      throw new TnpError('TNP_ERR_PATHWAY_NOT_TOTAL', `at node "${node.id}" ${taken.length} branches match the facts ${JSON.stringify(almanacFacts)}`);
    }
    const edge = taken[0] as (typeof taken)[number];
    edges.push(edge.id);
    const used: Record<string, string | number | boolean | null> = {};
    leafFacts(edge.conditions, almanacFacts, used);
    if (edge.needsInput !== undefined && !needsInput.includes(edge.needsInput)) needsInput.push(edge.needsInput);
    if (node.kind === 'decision') {
      ev.step({
        rule: node.rule ?? p.file.assembly.rule,
        node: node.id,
        text: `Chart: ${node.label} -> ${edge.label}${edge.needsInput !== undefined ? `; needs ${MISSING_TEXT[edge.needsInput]}` : ''}${edge.silent !== undefined ? `. Where the chart is silent: ${edge.silent.replace(/\.$/, '')}` : ''}.`,
        facts: used,
        result: edge.to,
      });
    }
    nodeId = edge.to;
  }
  if (leaf === null) throw new TnpError('TNP_ERR_PATHWAY_NOT_TOTAL', 'the walk did not reach an outcome');

  // Rule 0: assembly. The walk (needs-input when anything on its path is missing), and the readings
  // that count on their own.
  const walkOutcome: OutcomeCode = needsInput.length > 0 ? p.file.assembly.needsInputOutcome : leaf;
  let outcome = walkOutcome;
  const assemblyNotes: string[] = [`the chart's walk gives ${walkOutcome}`];
  for (const reading of p.file.assembly.independentReadings) {
    const v = graphFacts[reading.fact];
    if (typeof v === 'string' && (reading.counts as readonly string[]).includes(v)) {
      assemblyNotes.push(`${reading.text.toLowerCase()} give ${v}`);
      outcome = ev.moreSerious(outcome, v as OutcomeCode);
    }
  }
  ev.step({
    rule: p.file.assembly.rule,
    text: `Assembly: ${assemblyNotes.join('; ')}. The most serious counts: ${outcome}.`,
    result: outcome,
  });

  const missing: Missing[] = needsInput.map((item) => ({ item, text: ev.missingDetail.get(item) ?? MISSING_TEXT[item] }));
  const meta = p.file.outcomes[outcome];
  if (meta === undefined) throw new TnpError('TNP_ERR_PATHWAY_NOT_TOTAL', `the pathway gave "${outcome}", which it has no text for`);
  let indicator = meta.indicator;
  if (outcome === 'awaiting-retest' && partial.retestOverdue === true && meta.indicatorWhenOverdue !== undefined) indicator = meta.indicatorWhenOverdue;
  if (outcome === 'not-consistent-with-mi' && partial.baselineAboveLimit && meta.indicatorWhenBaselineAboveLimit !== undefined) indicator = meta.indicatorWhenBaselineAboveLimit;

  const { graphFacts: _g, baselineAboveLimit, ...rest } = partial;
  return {
    ...rest,
    trace: ev.trace,
    outcome,
    indicator,
    summary: p.serial !== null ? (outcome === 'needs-input' ? summaryOf(outcome, meta.advice, missing, undefined, false, false, 0) : meta.advice) : summaryOf(outcome, meta.advice, missing, partial.retestDue, partial.retestOverdue === true, baselineAboveLimit, p.file.settings.retestIntervalMinutes ?? 0),
    missing: needsInput,
    missingDetails: missing,
    pathway: rt.identity,
    path: { nodes, edges },
  };
}

function summaryOf(
  outcome: OutcomeCode,
  advice: string,
  missing: readonly Missing[],
  retestDue: string | undefined,
  overdue: boolean,
  baselineAbove: boolean,
  intervalMinutes: number,
): string {
  const interval = intervalMinutes % 60 === 0 ? `${intervalMinutes / 60} h` : `${intervalMinutes} min`;
  switch (outcome) {
    case 'needs-input':
      return `Needs ${missing.map((m) => MISSING_TEXT[m.item]).join(', ')} before the pathway can advise.`;
    case 'awaiting-retest':
      return retestDue === undefined ? advice : `Retest high-sensitivity troponin ${overdue ? 'now: it was due' : 'due'} at ${retestDue} (baseline + ${interval}).`;
    case 'not-consistent-with-mi':
      return baselineAbove ? 'Not consistent with MI, but the baseline was above the URL: consider other causes of myocardial injury.' : advice;
    case 'acute-mi-pathway':
    case 'consistent-with-mi':
    case 'indeterminate':
    case 'low-risk-pathway':
    case 'rule-in':
    case 'observe':
    case 'rule-out':
      return advice;
  }
}
