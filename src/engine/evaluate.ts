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
import type { Big } from 'big.js';
import { TnpError } from '../errors.js';
import { type Assay, type PathwayRuntime, urlFor } from './catalogue.js';
import { type ClassificationEntry, type CompiledPathway, type GraphFactName, type Scalar, cellKey } from './pathway.js';
import {
  type Interval,
  applyLod,
  cellOfPoints,
  changePercentText,
  intervalText,
  isEmpty,
  isPoint,
  mayBeAbove,
  positionOf,
  reachableCells,
} from './ranges.js';
import { formatInstant, minutesBetween } from './time.js';
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
  OutcomeCode,
  ResultSummary,
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

/** A troponin result the engine can use (rule 4): used status, readable, in the episode. */
interface UsableTroponin {
  readonly fact: TroponinFact;
  readonly drawTime: Instant;
  readonly assay: Assay;
  readonly url: Big;
  readonly urlBasis: string;
  /** After units (rule 10) and the LoD (rule 11). */
  readonly value: Interval;
}

interface Classified {
  readonly entry: ClassificationEntry;
  /** Every reading considered, for the trace: "below|above|rise|change -> rule". */
  readonly readings: readonly string[];
}

const MISSING_TEXT: Record<MissingItem, string> = {
  ecg: 'ECG',
  'ecg-lbbb-new': 'whether the LBBB is new',
  timi: 'TIMI score',
  'baseline-troponin': 'baseline troponin',
};

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Canonical order of observations (rule 15): by kind, time, reference, then content. */
function canonicalOrder(a: ObservationFact, b: ObservationFact): number {
  const kinds = { troponin: 0, ecg: 1, timi: 2 } as const;
  if (a.kind !== b.kind) return kinds[a.kind] - kinds[b.kind];
  const ta = a.drawTime ?? a.issued;
  const tb = b.drawTime ?? b.issued;
  if (ta !== tb) {
    if (ta === null) return -1;
    if (tb === null) return 1;
    return cmpBig(ta, tb);
  }
  return cmpStr(a.ref, b.ref) || cmpStr(a.contentKey, b.contentKey);
}

function describeTime(t: Instant | null): string {
  return t === null ? 'no time' : formatInstant(t);
}

class Evaluation {
  readonly trace: TraceStep[] = [];
  readonly inputs: InputUse[] = [];
  readonly reasons: string[] = [];
  private readonly p: CompiledPathway;

  constructor(
    private readonly rt: PathwayRuntime,
    private readonly facts: Facts,
    private readonly now: Instant,
    private readonly encounterId: string | null,
  ) {
    this.p = rt.pathway;
  }

  rank(o: OutcomeCode): number {
    return this.p.severityRank.get(o) ?? Number.MAX_SAFE_INTEGER;
  }

  moreSerious(a: OutcomeCode, b: OutcomeCode): OutcomeCode {
    return this.rank(b) < this.rank(a) ? b : a;
  }

  step(s: TraceStep): void {
    this.trace.push(s);
  }

  use(ref: string, kind: InputUse['kind'], use: InputUse['use'], reason: string): void {
    this.inputs.push({ ref, kind, use, reason });
  }

  uniqueInputs(): InputUse[] {
    const seen = new Set<string>();
    return this.inputs.filter((u) => !seen.has(u.ref) && seen.add(u.ref) !== undefined);
  }

  /** Rule 12: results sharing an identifier are one result; the latest version stands. */
  dedupe(observations: readonly ObservationFact[]): { kept: ObservationFact[]; conflicted: Set<ObservationFact> } {
    const parent = observations.map((_, i) => i);
    const find = (i: number): number => {
      while (parent[i] !== i) i = parent[i] = parent[parent[i] ?? i] ?? i;
      return i;
    };
    const byKey = new Map<string, number>();
    observations.forEach((o, i) => {
      for (const k of o.identities) {
        const j = byKey.get(`${o.kind}|${k}`);
        if (j === undefined) byKey.set(`${o.kind}|${k}`, i);
        else parent[find(i)] = find(j);
      }
    });
    const groups = new Map<number, ObservationFact[]>();
    observations.forEach((o, i) => {
      const g = groups.get(find(i)) ?? [];
      g.push(o);
      groups.set(find(i), g);
    });
    const kept: ObservationFact[] = [];
    const conflicted = new Set<ObservationFact>();
    for (const group of [...groups.values()].sort((a, b) => canonicalOrder(a[0] as ObservationFact, b[0] as ObservationFact))) {
      if (group.length === 1) {
        kept.push(group[0] as ObservationFact);
        continue;
      }
      const distinct = new Map<string, ObservationFact>();
      for (const o of group) if (!distinct.has(o.contentKey)) distinct.set(o.contentKey, o);
      const versions = [...distinct.values()];
      const first = versions[0] as ObservationFact;
      if (versions.length === 1) {
        kept.push(first);
        for (const o of group.slice(1)) this.use(o.ref, o.kind, 'superseded', `an identical copy of ${first.ref}`);
        continue;
      }
      const timed = versions.filter((v) => v.versionTime !== null);
      const latestTime = timed.reduce<Instant | null>((m, v) => (m === null || (v.versionTime as Instant) > m ? v.versionTime : m), null);
      const latest = timed.filter((v) => v.versionTime === latestTime);
      const refs = versions.map((v) => v.ref).join(', ');
      if (latest.length === 1 && timed.length === versions.length) {
        const winner = latest[0] as ObservationFact;
        kept.push(winner);
        for (const o of group) {
          if (o !== winner) this.use(o.ref, o.kind, 'superseded', `an earlier version of the same result; ${winner.ref} (updated ${describeTime(winner.versionTime)}) stands`);
        }
        this.step({ rule: '12', text: `Results ${refs} share an identifier: they are one result, and the latest version (${winner.ref}, updated ${describeTime(winner.versionTime)}) stands.` });
      } else if (first.kind !== 'troponin') {
        // ECG or TIMI versions that cannot be ordered: each is read, so the most serious counts (the
        // acute MI pathway if any says ST-elevation; the highest TIMI score).
        kept.push(...versions);
        for (const o of group) if (!versions.includes(o)) this.use(o.ref, o.kind, 'superseded', `an identical copy of another version`);
        this.step({ rule: '12', text: `Results ${refs} share an identifier but their versions cannot be ordered (no or equal meta.lastUpdated and issued): each version is read and the most serious counts.` });
      } else {
        // Troponin versions that cannot be ordered: the result is ambiguous, never silently resolved.
        const rep = first;
        kept.push(rep);
        conflicted.add(rep);
        for (const o of group) if (o !== rep) this.use(o.ref, o.kind, 'superseded', `a conflicting version of ${rep.ref}`);
        this.step({ rule: '12', text: `Results ${refs} share an identifier but their versions cannot be ordered (no or equal meta.lastUpdated and issued): the result is ambiguous.` });
      }
    }
    return { kept, conflicted };
  }

  run(): Omit<Decision, 'path' | 'pathway'> & { graphFacts: Record<GraphFactName, Scalar>; baselineAboveLimit: boolean } {
    const p = this.p;
    const sorted = [...this.facts.observations].sort(canonicalOrder);
    for (const ig of [...this.facts.ignored].sort((a, b) => cmpStr(a.ref, b.ref) || cmpStr(a.reason, b.reason))) {
      this.use(ig.ref, 'other', 'ignored', ig.reason);
    }
    if (this.facts.sex !== null) this.use('Patient', 'patient', this.rt.sexSpecificUrls ? 'used' : 'not-used', `sex: ${this.facts.sex}`);

    const { kept, conflicted } = this.dedupe(sorted);

    // Rule 12: status. Rule 3: encounter.
    const live: ObservationFact[] = [];
    for (const o of kept) {
      if (o.status === 'void' && !conflicted.has(o)) {
        this.use(o.ref, o.kind, 'void', `status ${o.statusText ?? ''}: void, ignored (rule 12)`);
        continue;
      }
      if (this.encounterId !== null && o.encounterId !== null && o.encounterId !== this.encounterId) {
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

    const troponins = live.filter((o): o is TroponinFact => o.kind === 'troponin');
    const ecgs = live.filter((o): o is EcgFact => o.kind === 'ecg');
    const timis = live.filter((o): o is TimiFact => o.kind === 'timi');

    // Rules 4, 10, 11, 13, 14: which troponins are usable, which are uninterpretable.
    const usable: UsableTroponin[] = [];
    const uninterpretable: { ref: string; why: string }[] = [];
    const assumptions: AssayAssumption[] = [];
    // Rule 13: never dropped; named in the trace with why.
    const markUninterpretable = (t: TroponinFact, reason: string): void => {
      uninterpretable.push({ ref: t.ref, why: reason });
      this.use(t.ref, 'troponin', 'uninterpretable', reason);
      this.step({ rule: '13', text: `${t.ref} is uninterpretable: ${reason}. The outcome is at least indeterminate.`, result: 'indeterminate' });
    };
    for (const t of troponins) {
      const when = t.drawTime ?? t.issued;
      const inEpisode = t.drawTime !== null ? t.drawTime >= start : t.issued === null || t.issued >= start;
      if (!inEpisode) {
        this.use(t.ref, 'troponin', 'outside-episode', `drawn ${describeTime(when)}, before the episode began (rule 3)`);
        continue;
      }
      if (t.status === 'listed' && !conflicted.has(t)) {
        this.use(t.ref, 'troponin', 'not-used', `status ${t.statusText ?? ''}: listed, not used (rule 12)`);
        this.step({ rule: '12', text: `${t.ref} has status ${t.statusText ?? ''}: it is listed and not used.` });
        continue;
      }
      let why: string | null = null;
      if (conflicted.has(t)) why = 'its versions conflict and cannot be ordered (rule 12)';
      else if (t.status === 'invalid') why = t.statusText === null ? 'it has no status (rule 12)' : `its status "${t.statusText}" is not one the pathway can use (rule 12)`;
      else if (t.value.kind === 'absent') {
        this.use(t.ref, 'troponin', 'not-used', `${t.value.reason}: listed, not used (rule 13)`);
        this.step({ rule: '13', text: `${t.ref} states it has no value (${t.value.reason}): listed and not used.` });
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
      const lodNote = t.value.lo.lt(assay.lod) ? `; below the LoD ${assay.lod.toFixed()} ng/L, so taken as ${intervalText(clamped)} (rule 11)` : '';
      const censored = isPoint(clamped) ? '' : `; censored: every value ${intervalText(clamped)} ng/L is considered (rule 11)`;
      this.step({
        rule: '10',
        text: `${t.ref}: ${assay.name}, ${t.value.reported} = ${intervalText(t.value)} ng/L${lodNote}${censored}; drawn ${formatInstant(t.drawTime)}; URL ${url.toFixed()} ng/L (${basis}, rule 14).`,
        facts: { result: t.ref, assay: assay.id, reported: t.value.reported, valueNgL: intervalText(clamped), drawTime: formatInstant(t.drawTime), url: url.toFixed() },
      });
    }

    // Rule 2 (item 7): a raised cardiac marker.
    const raised = usable.filter((u) => mayBeAbove(u.value, u.url));
    const raisedMarker = raised.length > 0;

    // Rule 4: the baseline: the earliest usable result, whatever its assay.
    const earliest = usable.reduce<Instant | null>((m, u) => (m === null || u.drawTime < m ? u.drawTime : m), null);
    const candidates = earliest === null ? [] : usable.filter((u) => u.drawTime === earliest);
    const baselineSummary = (u: UsableTroponin): ResultSummary => ({
      ref: u.fact.ref,
      assay: u.assay.id,
      drawTime: formatInstant(u.drawTime),
      reported: u.fact.value.kind === 'range' ? u.fact.value.reported : '',
      valueNgL: intervalText(u.value),
      url: u.url.toFixed(),
    });

    let troponinReading: OutcomeCode | null = null;
    let baselinePosition: 'below' | 'above' | 'at-or-across' | 'missing' = 'missing';
    let retestDue: Instant | null = null;
    const later: LaterResultSummary[] = [];
    let baselineAboveLimit = false;
    if (candidates.length === 0) {
      this.step({ rule: '4', text: 'No usable troponin result in the episode: there is no baseline.', result: 'no baseline' });
    } else {
      if (candidates.length > 1) {
        this.step({ rule: '4', text: `${candidates.length} usable results were drawn at the same earliest time (${candidates.map((c) => c.fact.ref).join(', ')}): each is taken as the baseline in turn, and the more serious outcome counts (governing rule).` });
      }
      const positions = new Set<string>();
      for (const base of candidates) {
        const r = this.readBaseline(base, usable, later);
        troponinReading = troponinReading === null ? r.outcome : this.moreSerious(troponinReading, r.outcome);
        positions.add(positionOf(base.value, base.url));
        if (base.value.hi === null || base.value.hi.gt(base.url)) baselineAboveLimit = true;
        if (!r.hasRetest) retestDue = base.drawTime + p.retestInterval;
      }
      baselinePosition = positions.size === 1 ? ([...positions][0] as 'below' | 'above' | 'at-or-across') : 'at-or-across';
    }
    if (uninterpretable.length > 0) {
      const text = `Uninterpretable troponin result${uninterpretable.length > 1 ? 's' : ''} in the episode (${uninterpretable.map((u) => `${u.ref}: ${u.why}`).join('; ')}): at least indeterminate (rule 13).`;
      this.reasons.push(text);
      troponinReading = troponinReading === null ? 'indeterminate' : this.moreSerious(troponinReading, 'indeterminate');
    }

    // Rule 1: the ECG.
    const ecgFinding = this.readEcg(ecgs, start, end);
    // Rule 2: TIMI.
    const timiScore = this.readTimi(timis, start, end);
    if (raisedMarker) {
      this.step({
        rule: '2',
        text: `Raised cardiac marker (TIMI item 7): ${raised.map((u) => `${u.fact.ref} ${intervalText(u.value)} ng/L is or may be above the URL ${u.url.toFixed()} ng/L`).join('; ')}. The TIMI score is at least 1, which settles the branch.`,
        facts: { raisedMarker: true },
      });
    }

    const graphFacts: Record<GraphFactName, Scalar> = {
      ecgFinding: ecgFinding.value,
      raisedMarker,
      timiScore,
      baselinePosition,
      troponinReading,
    };
    const baseline = candidates[0] === undefined ? null : baselineSummary(candidates[0]);
    return {
      outcome: 'needs-input',
      indicator: 'info',
      summary: '',
      reasons: this.reasons,
      missing: [],
      missingDetails: [],
      ...(retestDue === null ? {} : { retestDue: formatInstant(retestDue), retestOverdue: this.now > retestDue }),
      evaluatedAt: formatInstant(this.now),
      assays: assumptions,
      troponin: { baseline, later },
      // One entry per resource: with two candidate baselines a result is seen twice; the first stands.
      inputs: this.uniqueInputs(),
      trace: this.trace,
      graphFacts,
      baselineAboveLimit,
    };
  }

  /** Classify one pair exactly; censored values give every reachable reading, the most serious counts. */
  classify(base: UsableTroponin, r: UsableTroponin): Classified {
    const p = this.p;
    const lookup = (key: string): ClassificationEntry => {
      const e = p.classificationTable.get(key);
      if (e === undefined) throw new TnpError('TNP_ERR_PATHWAY_NOT_TOTAL', `no classification for cell ${key}`);
      return e;
    };
    if (isPoint(base.value) && isPoint(r.value)) {
      const c = cellOfPoints(base.value.lo, r.value.lo, base.url, p.changeThresholdPercent);
      const key = cellKey(c.baselineVsLimit, c.laterVsLimit, c.direction, c.changeReachesThreshold);
      return { entry: lookup(key), readings: [key] };
    }
    const cells = reachableCells(base.value, r.value, base.url, p.changeThresholdPercent);
    let best: ClassificationEntry | null = null;
    const readings: string[] = [];
    for (const c of cells) {
      const key = cellKey(c.baselineVsLimit, c.laterVsLimit, c.direction, c.changeReachesThreshold);
      const e = lookup(key);
      readings.push(`${key} -> ${e.outcome}`);
      if (best === null || this.rank(e.outcome) < this.rank(best.outcome)) best = e;
    }
    if (best === null) throw new TnpError('TNP_ERR_PATHWAY_NOT_TOTAL', `no reading of ${intervalText(base.value)} and ${intervalText(r.value)} could be classified`);
    return { entry: best, readings };
  }

  /** Rules 5 to 9 for one choice of baseline. */
  readBaseline(base: UsableTroponin, usable: readonly UsableTroponin[], later: LaterResultSummary[]): { outcome: OutcomeCode; hasRetest: boolean } {
    const p = this.p;
    const earliestRetest = base.drawTime + p.retestInterval - p.retestEarlyTolerance;
    const due = base.drawTime + p.retestInterval;
    const pos = positionOf(base.value, base.url);
    this.use(base.fact.ref, 'troponin', 'used', 'baseline (rule 4)');
    this.step({
      rule: '4',
      node: 'baseline',
      text: `Baseline: ${base.fact.ref}, ${base.assay.name}, ${intervalText(base.value)} ng/L drawn ${formatInstant(base.drawTime)}: ${pos === 'below' ? 'below' : pos === 'above' ? 'above' : 'at, or censored across,'} the URL ${base.url.toFixed()} ng/L.`,
      facts: { baseline: base.fact.ref, valueNgL: intervalText(base.value), url: base.url.toFixed(), position: pos },
    });
    this.reasons.push(`Baseline ${base.assay.name} ${intervalText(base.value)} ng/L at ${formatInstant(base.drawTime)} (${pos === 'at-or-across' ? 'at or across' : pos} the URL ${base.url.toFixed()} ng/L).`);
    let outcome: OutcomeCode | null = null;
    let hasRetest = false;
    for (const r of usable) {
      if (r === base || r.drawTime < base.drawTime) continue;
      const minutes = minutesBetween(base.drawTime, r.drawTime);
      const summary = {
        ref: r.fact.ref,
        assay: r.assay.id,
        drawTime: formatInstant(r.drawTime),
        reported: r.fact.value.kind === 'range' ? r.fact.value.reported : '',
        valueNgL: intervalText(r.value),
        url: r.url.toFixed(),
        minutesAfterBaseline: minutes,
      };
      if (r.assay.id !== base.assay.id) {
        if (r.drawTime > base.drawTime) {
          outcome = outcome === null ? 'indeterminate' : this.moreSerious(outcome, 'indeterminate');
          later.push({ ...summary, role: 'other-assay', changePercent: null, outcome: 'indeterminate', classificationRule: null });
          this.use(r.fact.ref, 'troponin', 'used', `a different assay than the baseline: results from different assays cannot be compared (rule 9)`);
          const text = `${r.fact.ref} (${r.assay.name}) is a different assay than the baseline (${base.assay.name}): results from different assays cannot be compared, indeterminate (rule 9).`;
          this.step({ rule: '9', text, result: 'indeterminate' });
          this.reasons.push(text);
        }
        continue;
      }
      const c = this.classify(base, r);
      const change = isPoint(base.value) && isPoint(r.value) ? changePercentText(base.value.lo, r.value.lo) : null;
      const valueText = `${intervalText(r.value)} ng/L at +${minutes} min${change === null ? '' : ` (change ${change}%)`}`;
      if (r.drawTime >= earliestRetest) {
        hasRetest = true;
        outcome = outcome === null ? c.entry.outcome : this.moreSerious(outcome, c.entry.outcome);
        later.push({ ...summary, role: 'retest', changePercent: change, outcome: c.entry.outcome, classificationRule: c.entry.ruleId });
        this.use(r.fact.ref, 'troponin', 'used', `retest, classified ${c.entry.outcome} (rule 7: ${c.entry.ruleId})`);
        const text = `Retest ${r.fact.ref}: ${valueText}: ${c.entry.text} -> ${c.entry.outcome} (rule 7, ${c.entry.ruleId}).`;
        this.step({
          rule: '7',
          node: c.entry.ruleId,
          text,
          facts: { baseline: intervalText(base.value), retest: intervalText(r.value), url: base.url.toFixed(), changePercent: change, readings: c.readings.join('; ') },
          result: c.entry.outcome,
        });
        this.reasons.push(text);
      } else {
        // Rule 8: a result before the retest time can only escalate.
        const escalates = c.entry.outcome === 'consistent-with-mi';
        later.push({ ...summary, role: 'early', changePercent: change, outcome: escalates ? c.entry.outcome : null, classificationRule: escalates ? c.entry.ruleId : null });
        if (escalates) {
          outcome = outcome === null ? c.entry.outcome : this.moreSerious(outcome, c.entry.outcome);
          this.use(r.fact.ref, 'troponin', 'used', `drawn before the retest time and already consistent with MI (rule 8)`);
          const text = `${r.fact.ref} drawn before the retest time: ${valueText}: ${c.entry.text} -> consistent-with-mi (rule 8: an early result can only escalate).`;
          this.step({ rule: '8', node: c.entry.ruleId, text, result: 'consistent-with-mi' });
          this.reasons.push(text);
        } else {
          this.use(r.fact.ref, 'troponin', 'not-used', `drawn ${minutes} min after the baseline, before the retest time: noted and ignored (rule 8)`);
          this.step({ rule: '8', text: `${r.fact.ref} drawn ${minutes} min after the baseline, before the retest time (${formatInstant(earliestRetest)}): it would not classify as consistent with MI, so it is noted and ignored.` });
        }
      }
    }
    if (!hasRetest) {
      outcome = outcome === null ? 'awaiting-retest' : this.moreSerious(outcome, 'awaiting-retest');
      const overdue = this.now > due;
      const text = `No retest of the same assay yet: retest due ${formatInstant(due)} (baseline + ${p.file.settings.retestIntervalMinutes} min)${overdue ? ', now overdue' : ''} (rule 6).`;
      this.step({ rule: '6', text, facts: { retestDue: formatInstant(due), overdue }, result: 'awaiting-retest' });
      this.reasons.push(text);
    } else {
      this.step({ rule: '5', text: `A retest was drawn at least ${p.file.settings.retestIntervalMinutes} min after the baseline (${formatInstant(earliestRetest)} or later).` });
    }
    return { outcome: outcome ?? 'awaiting-retest', hasRetest };
  }

  readEcg(ecgs: readonly EcgFact[], start: Instant, end: Instant): { value: 'stemi-or-new-lbbb' | 'no-stemi-or-new-lbbb' | 'lbbb-age-unknown' | 'missing' } {
    const usable: { fact: EcgFact; time: Instant }[] = [];
    const problems: string[] = [];
    for (const e of ecgs) {
      const time = e.drawTime ?? e.issued;
      let why: string | null = null;
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
      const text = problems.length === 0 ? 'No ECG in the episode.' : `No usable ECG: ${problems.join('; ')}.`;
      this.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'missing' }, result: 'missing' });
      this.missingDetail.set('ecg', problems.length === 0 ? 'no ECG recorded in this episode' : `no usable ECG (${problems.join('; ')})`);
      return { value: 'missing' };
    }
    for (const u of usable) {
      this.use(u.fact.ref, 'ecg', 'used', `ECG: ${u.fact.meanings.join(', ')}`);
    }
    const stemi = usable.filter((u) => u.fact.meanings.includes('stemi-or-new-lbbb'));
    if (stemi.length > 0) {
      const text = `ECG shows ST-elevation or new LBBB (${stemi.map((s) => `${s.fact.ref}, ${formatInstant(s.time)}`).join('; ')}): acute MI pathway, whatever else is known (rule 1).`;
      this.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'stemi-or-new-lbbb' }, result: 'stemi-or-new-lbbb' });
      this.reasons.push(text);
      return { value: 'stemi-or-new-lbbb' };
    }
    const unresolved = usable.filter(
      (u) => u.fact.meanings.includes('lbbb-age-unknown') && !usable.some((v) => v.fact.productClassified && v.time >= u.time),
    );
    if (unresolved.length > 0) {
      const text = `LBBB of unknown age on ${unresolved.map((u) => u.fact.ref).join(', ')} and no later classification says whether it is new (rule 1).`;
      this.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'lbbb-age-unknown' }, result: 'lbbb-age-unknown' });
      this.reasons.push(text);
      this.missingDetail.set('ecg-lbbb-new', `whether the LBBB on ${unresolved.map((u) => u.fact.ref).join(', ')} is new`);
      return { value: 'lbbb-age-unknown' };
    }
    const answered = usable.some((u) => u.fact.meanings.includes('lbbb-age-unknown'));
    const text = `ECG: no ST-elevation or new LBBB (${usable.map((u) => `${u.fact.ref}, ${formatInstant(u.time)}`).join('; ')})${answered ? '; the LBBB of unknown age is answered by a classification drawn at or after it' : ''} (rule 1).`;
    this.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'no-stemi-or-new-lbbb' }, result: 'no-stemi-or-new-lbbb' });
    this.reasons.push(text);
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
      this.missingDetail.set('timi', problems.length === 0 ? 'no TIMI score recorded in this episode' : `no usable TIMI score (${problems.join('; ')})`);
      this.step({ rule: '2', node: 'timi', text: problems.length === 0 ? 'No TIMI score in the episode.' : `No usable TIMI score: ${problems.join('; ')}.`, facts: { timiScore: null } });
      return null;
    }
    const text = `TIMI score ${best.score ?? ''} (${best.ref}${timis.length > 1 ? '; the highest usable score counts' : ''}) (rule 2).`;
    this.step({ rule: '2', node: 'timi', text, facts: { timiScore: best.score } });
    this.reasons.push(text);
    return best.score;
  }

  readonly missingDetail = new Map<MissingItem, string>();
}

const engines = new WeakMap<CompiledPathway, Engine>();

/** The pathway's Engine, built once (building clones every condition: the dominant cost otherwise). */
function engineFor(p: CompiledPathway): Engine {
  let e = engines.get(p);
  if (e === undefined) {
    e = new Engine([...p.edgeRules], { allowUndefinedFacts: true });
    engines.set(p, e);
  }
  return e;
}

function leafFacts(cond: unknown, out: Record<string, string | number | boolean | null>): void {
  if (cond === null || typeof cond !== 'object') return;
  const c = cond as Record<string, unknown>;
  if (typeof c['fact'] === 'string') {
    const v = c['factResult'];
    out[c['fact']] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : null;
  }
  for (const k of ['all', 'any']) {
    const list = c[k];
    if (Array.isArray(list)) for (const x of list) leafFacts(x, out);
  }
  if (c['not'] !== undefined) leafFacts(c['not'], out);
}

/**
 * Evaluate the pathway for these facts at this time. Rejects only on a defect of the pathway itself
 * (TNP_ERR_PATHWAY_NOT_TOTAL); every input, however bad, gets a decision.
 */
export async function evaluate(rt: PathwayRuntime, facts: Facts, opts: EvaluateOptions): Promise<Decision> {
  const p = rt.pathway;
  const ev = new Evaluation(rt, facts, opts.now, opts.encounterId ?? null);
  const partial = ev.run();
  const graphFacts = partial.graphFacts;

  // The chart's walk: one json-rules-engine run of every edge's conditions, then the walk from the
  // start. Every fact is a constant given to run(), so the pathway's one Engine serves overlapping
  // runs safely (each run has its own almanac and results; nothing here uses the engine-wide stop()).
  const almanacFacts: Record<string, Scalar> = {};
  for (const f of p.graphFacts) almanacFacts[f] = graphFacts[f];
  const { results } = await engineFor(p).run(almanacFacts);
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
    const rr = fired.get(edge.id);
    if (rr !== undefined) leafFacts((rr.toJSON(false) as { conditions?: unknown }).conditions, used);
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
  let indicator = meta.indicator;
  if (outcome === 'awaiting-retest' && partial.retestOverdue === true && meta.indicatorWhenOverdue !== undefined) indicator = meta.indicatorWhenOverdue;
  if (outcome === 'not-consistent-with-mi' && partial.baselineAboveLimit && meta.indicatorWhenBaselineAboveLimit !== undefined) indicator = meta.indicatorWhenBaselineAboveLimit;

  const { graphFacts: _g, baselineAboveLimit, ...rest } = partial;
  return {
    ...rest,
    outcome,
    indicator,
    summary: summaryOf(outcome, meta.advice, missing, partial.retestDue, partial.retestOverdue === true, baselineAboveLimit, p.file.settings.retestIntervalMinutes),
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
      return advice;
  }
}
