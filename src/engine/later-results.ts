/**
 * Rules 5 to 9 (and rule 4's several baselines): every later result weighed against the baseline, or
 * against every candidate baseline drawn at the same earliest time, in one pass over the results.
 *
 * With one candidate each result is classified against it (rule 7). With several, each result gets
 * the most serious reading any candidate allows (the governing rule), found through the candidates'
 * index (baselines.ts) instead of pair by pair: O(n log c), and one trace step per result, not per pair.
 * Over rule 16's bound no step, reason or row is written per result (the episode is summarised).
 */
import type { Big } from 'big.js';
import { PathwayDefect } from './defect.js';
import type { Assay } from './catalogue.js';
import { BaselineSet } from './baselines.js';
import { type ClassificationEntry, type CompiledPathway, cellKey } from './pathway.js';
import { type Cell, type Interval, cellOfPoints, changePercentText, hull, intervalText, isPoint, positionOf, reachableCells } from './ranges.js';
import { formatInstant, minutesBetween } from './time.js';
import type { InputUse, Instant, LaterResultSummary, OutcomeCode, TraceStep, TroponinFact } from './types.js';

/** A troponin result the engine can use (rule 4): used status, readable, in the episode. */
export interface UsableTroponin {
  readonly fact: TroponinFact;
  readonly drawTime: Instant;
  readonly assay: Assay;
  readonly url: Big;
  /** Why this URL applies (rule 14), or null where the pathway does not use the assay's URL (its own thresholds decide). */
  readonly urlBasis: string | null;
  /** After units (rule 10) and the LoD (rule 11). */
  readonly value: Interval;
}

/** What the weighing writes to: the evaluation's trace, inputs and reasons. */
export interface WeighContext {
  readonly p: CompiledPathway;
  readonly now: Instant;
  /** False over rule 16's bound: nothing is listed per result. */
  readonly listEach: boolean;
  moreSerious(a: OutcomeCode, b: OutcomeCode): OutcomeCode;
  rank(o: OutcomeCode): number;
  step(s: TraceStep, group?: { key: string; ref?: string }): void;
  use(ref: string, kind: InputUse['kind'], use: InputUse['use'], reason: string): void;
  reason(text: string, group?: { key: string; ref?: string }): void;
}

interface Classified {
  readonly entry: ClassificationEntry;
  /** Every reading considered, for the trace: "below|above|rise|change -> rule". */
  readonly readings: readonly string[];
}

const keyOf = (c: Cell): string => cellKey(c.baselineVsLimit, c.laterVsLimit, c.direction, c.changeReachesThreshold);

const escalatingCells = new WeakMap<CompiledPathway, Map<string, boolean>>();
const cellCode = (c: Cell): string => `${c.baselineVsLimit}|${c.laterVsLimit}|${c.direction}|${c.changeReachesThreshold ? 1 : 0}`;

/** Whether the cell reads an outcome an early result counts with (rule 8: the pathway's `earlyResultCounts`), cached per pathway. */
function escalating(p: CompiledPathway, c: Cell): boolean {
  let m = escalatingCells.get(p);
  if (m === undefined) {
    m = new Map();
    escalatingCells.set(p, m);
  }
  const code = cellCode(c);
  let v = m.get(code);
  if (v === undefined) {
    v = countsEarly(p, lookup(p, keyOf(c)).outcome);
    m.set(code, v);
  }
  return v;
}

/** Rule 8: whether an early result reading this outcome counts (the classification's `earlyResultCounts`). */
function countsEarly(p: CompiledPathway, outcome: OutcomeCode): boolean {
  return p.file.classification?.earlyResultCounts.includes(outcome) === true;
}

function lookup(p: CompiledPathway, key: string): ClassificationEntry {
  const e = p.classificationTable.get(key);
  if (e === undefined) throw new PathwayDefect(`no classification for cell ${key}`);
  return e;
}

/** The most serious of the cells' classifications; every reading listed. */
function mostSerious(ctx: WeighContext, cells: readonly Cell[], what: () => string): Classified {
  let best: ClassificationEntry | null = null;
  const readings: string[] = [];
  for (const c of cells) {
    const key = cellKey(c.baselineVsLimit, c.laterVsLimit, c.direction, c.changeReachesThreshold);
    const e = lookup(ctx.p, key);
    readings.push(`${key} -> ${e.outcome}`);
    if (best === null || ctx.rank(e.outcome) < ctx.rank(best.outcome)) best = e;
  }
  if (best === null) throw new PathwayDefect(`no reading of ${what()} could be classified`);
  return { entry: best, readings };
}

/** Classify one pair exactly; censored values give every reachable reading, the most serious counts. */
function classifyPair(ctx: WeighContext, base: UsableTroponin, r: UsableTroponin): Classified {
  const p = ctx.p;
  if (isPoint(base.value) && isPoint(r.value)) {
    const c = cellOfPoints(base.value.lo, r.value.lo, base.url, p.changeThresholdPercent);
    const key = cellKey(c.baselineVsLimit, c.laterVsLimit, c.direction, c.changeReachesThreshold);
    return { entry: lookup(p, key), readings: [key] };
  }
  return mostSerious(ctx, reachableCells(base.value, r.value, base.url, p.changeThresholdPercent), () => `${intervalText(base.value)} and ${intervalText(r.value)}`);
}

/** The candidates of one assay. */
interface AssayGroup {
  readonly members: UsableTroponin[];
  set: BaselineSet | null;
  hasRetest: boolean;
  /** With several baselines: whether any early result of this assay may read consistent with MI (rule 8). */
  earlyMayEscalate: boolean;
}

export interface Weighed {
  readonly outcome: OutcomeCode;
  /** The draw time of the baselines when some candidate's assay has no retest yet (rule 6). */
  readonly awaiting: boolean;
  /** Some later result is of another assay than a baseline: it cannot be compared (rule 9). */
  readonly otherAssay: boolean;
}

/** A result's value and URL as texts, formatted once per weighing (each is written several times). */
interface Texts {
  readonly value: string;
  readonly url: string;
}

/** A later result as the decision lists it: one object literal, keys in the order the decision has always had (no spread copy). */
function laterRow(r: UsableTroponin, t: Texts, minutes: string, role: LaterResultSummary['role'], changePercent: string | null, outcome: OutcomeCode | null, classificationRule: string | null): LaterResultSummary {
  return {
    ref: r.fact.ref,
    assay: r.assay.id,
    drawTime: formatInstant(r.drawTime),
    reported: r.fact.value.kind === 'range' ? r.fact.value.reported : '',
    valueNgL: t.value,
    url: t.url,
    minutesAfterBaseline: minutes,
    role,
    changePercent,
    outcome,
    classificationRule,
  };
}

/** "13.2 ng/L at +180 min (change +20%)" */
function valueText(t: Texts, minutes: string, change: string | null): string {
  return `${t.value} ng/L at +${minutes} min${change === null ? '' : ` (change ${change}%)`}`;
}

/** Rules 5 to 9 over the candidates (all drawn at the same earliest time) and every usable result. */
export function weighLater(ctx: WeighContext, candidates: readonly UsableTroponin[], usable: readonly UsableTroponin[], later: LaterResultSummary[]): Weighed {
  const p = ctx.p;
  const first = candidates[0] as UsableTroponin;
  const t0 = first.drawTime;
  const earliestRetest = t0 + p.retestInterval - p.retestEarlyTolerance;
  const due = t0 + p.retestInterval;
  const groups = new Map<string, AssayGroup>();
  for (const c of candidates) {
    const g = groups.get(c.assay.id);
    if (g === undefined) groups.set(c.assay.id, { members: [c], set: null, hasRetest: false, earlyMayEscalate: false });
    else g.members.push(c);
  }
  for (const [id, g] of groups) {
    if (g.members.length < 2) continue;
    const set = new BaselineSet(g.members.map((m) => m.value));
    g.set = set;
    // The cells a value can reach only grow with the value's interval, so one look with the hull of every
    // early result of the assay tells whether any of them may escalate (rule 8); usually none can, and no
    // early result needs a look of its own.
    const early = hull(usable.filter((u) => u.assay.id === id && u.drawTime < earliestRetest).map((u) => u.value));
    const url = (g.members[0] as UsableTroponin).url;
    g.earlyMayEscalate = early !== null && set.cells(early, url, p.changeThresholdPercent, null, (cell) => escalating(p, cell)).length > 0;
  }
  const otherAssayName = (assayId: string): string | null => {
    for (const [id, g] of groups) if (id !== assayId) return (g.members[0] as UsableTroponin).assay.name;
    return null;
  };
  const texts = new Map<UsableTroponin, Texts>();
  const textsOf = (u: UsableTroponin): Texts => {
    let t = texts.get(u);
    if (t === undefined) {
      t = { value: intervalText(u.value), url: u.url.toFixed() };
      texts.set(u, t);
    }
    return t;
  };
  let earliest: string | null = null;
  const earliestText = (): string => (earliest ??= formatInstant(earliestRetest));
  const candidateIndex = new Map<UsableTroponin, number>();
  for (const g of groups.values()) g.members.forEach((m, i) => candidateIndex.set(m, i));

  if (candidates.length > 1 && ctx.listEach) {
    const refs = candidates.map((c) => c.fact.ref);
    ctx.step({ rule: '4', text: `${candidates.length} usable results were drawn at the same earliest time (${refs.slice(0, 5).join(', ')}${refs.length > 5 ? ` and ${refs.length - 5} more` : ''}): each is taken as the baseline, and every later result counts with the most serious reading any of them allows (governing rule).` });
  }
  for (const base of candidates) {
    ctx.use(base.fact.ref, 'troponin', 'used', 'baseline (rule 4)');
    if (!ctx.listEach) continue;
    const pos = positionOf(base.value, base.url);
    const group = { key: 'baseline', ref: base.fact.ref };
    const bt = textsOf(base);
    const drawn = formatInstant(base.drawTime);
    ctx.step(
      {
        rule: '4',
        node: 'baseline',
        text: `Baseline: ${base.fact.ref}, ${base.assay.name}, ${bt.value} ng/L drawn ${drawn}: ${pos === 'below' ? 'below' : pos === 'above' ? 'above' : 'at, or censored across,'} the URL ${bt.url} ng/L.`,
        facts: { baseline: base.fact.ref, valueNgL: bt.value, url: bt.url, position: pos },
      },
      group,
    );
    ctx.reason(`Baseline ${base.assay.name} ${bt.value} ng/L at ${drawn} (${pos === 'at-or-across' ? 'at or across' : pos} the URL ${bt.url} ng/L).`, group);
  }

  let outcome: OutcomeCode | null = null;
  let otherAssay = false;
  const worsen = (o: OutcomeCode): void => {
    outcome = outcome === null ? o : ctx.moreSerious(outcome, o);
  };
  // Made once, not per result: an early result can only escalate (rule 8), so only such cells matter.
  const escalatingCell = (cell: Cell): boolean => escalating(p, cell);
  for (const r of usable) {
    const self = candidateIndex.get(r);
    const isCandidate = self !== undefined;
    const key = { key: 'later', ref: r.fact.ref };
    const minutes = ctx.listEach ? minutesBetween(t0, r.drawTime) : '';
    // Rule 9: a result of another assay than a baseline, drawn after it.
    const other = isCandidate ? null : otherAssayName(r.assay.id);
    if (other !== null) {
      otherAssay = true;
      worsen('indeterminate');
      ctx.use(r.fact.ref, 'troponin', 'used', `a different assay than the baseline: results from different assays cannot be compared (rule 9)`);
      if (ctx.listEach) {
        later.push(laterRow(r, textsOf(r), minutes, 'other-assay', null, 'indeterminate', null));
        const text = `${r.fact.ref} (${r.assay.name}) is a different assay than the baseline (${other}): results from different assays cannot be compared, indeterminate (rule 9).`;
        ctx.step({ rule: '9', text, result: 'indeterminate' }, key);
        ctx.reason(text, key);
      }
    }
    const g = groups.get(r.assay.id);
    if (g === undefined || (isCandidate && g.members.length === 1)) continue;
    const single = g.members.length === 1 ? (g.members[0] as UsableTroponin) : null;
    const base = single ?? first;
    const retest = !isCandidate && r.drawTime >= earliestRetest;
    let c: Classified | null;
    if (single !== null) c = classifyPair(ctx, single, r);
    else {
      // Rule 8: an early result can only escalate, so only the cells that read consistent with MI matter.
      const cells = retest || g.earlyMayEscalate ? (g.set as BaselineSet).cells(r.value, r.url, p.changeThresholdPercent, self ?? null, retest ? undefined : escalatingCell) : [];
      c = cells.length === 0 ? null : mostSerious(ctx, cells, () => `the baselines and ${intervalText(r.value)}`);
    }
    const change = ctx.listEach && single !== null && isPoint(single.value) && isPoint(r.value) ? changePercentText(single.value.lo, r.value.lo) : null;
    if (retest && c !== null) {
      g.hasRetest = true;
      worsen(c.entry.outcome);
      ctx.use(r.fact.ref, 'troponin', 'used', `retest, classified ${c.entry.outcome} (rule 7: ${c.entry.ruleId})`);
      if (!ctx.listEach) continue;
      const rt = textsOf(r);
      later.push(laterRow(r, rt, minutes, 'retest', change, c.entry.outcome, c.entry.ruleId));
      const text = `Retest ${r.fact.ref}: ${valueText(rt, minutes, change)}: ${c.entry.text} -> ${c.entry.outcome} (rule 7, ${c.entry.ruleId}${single === null ? `, the most serious over the ${g.members.length} baselines` : ''}).`;
      const baseline = single === null ? `${g.members.length} baselines` : textsOf(base).value;
      ctx.step({ rule: '7', node: c.entry.ruleId, text, facts: { baseline, retest: rt.value, url: textsOf(base).url, changePercent: change, readings: c.readings.join('; ') }, result: c.entry.outcome }, key);
      ctx.reason(text, key);
      continue;
    }
    // Rule 8: a result before the retest time can only escalate.
    const escalates = c !== null && countsEarly(p, c.entry.outcome) ? c : null;
    if (escalates !== null) {
      worsen(escalates.entry.outcome);
      ctx.use(r.fact.ref, 'troponin', 'used', `drawn before the retest time and already ${escalates.entry.outcome} (rule 8)`);
    } else if (!isCandidate) {
      ctx.use(r.fact.ref, 'troponin', 'not-used', `drawn ${minutes === '' ? 'after the baseline' : `${minutes} min after the baseline`}, before the retest time: noted and ignored (rule 8)`);
    }
    if (!ctx.listEach) continue;
    const et = textsOf(r);
    later.push(laterRow(r, et, minutes, 'early', change, escalates?.entry.outcome ?? null, escalates?.entry.ruleId ?? null));
    if (escalates !== null) {
      const text = `${r.fact.ref} drawn before the retest time: ${valueText(et, minutes, change)}: ${escalates.entry.text} -> ${escalates.entry.outcome} (rule 8: an early result can only escalate).`;
      ctx.step({ rule: '8', node: escalates.entry.ruleId, text, result: escalates.entry.outcome }, key);
      ctx.reason(text, key);
    } else {
      ctx.step({ rule: '8', text: `${r.fact.ref} drawn ${minutes} min after the baseline, before the retest time (${earliestText()}): it would not classify as ${p.file.classification?.earlyResultCounts.join(' or ') ?? ''}, so it is noted and ignored.` }, key);
    }
  }

  const awaiting = [...groups.values()].some((g) => !g.hasRetest);
  if (awaiting) {
    worsen('awaiting-retest');
    const overdue = ctx.now > due;
    const text = `No retest of the same assay yet: retest due ${formatInstant(due)} (baseline + ${p.file.settings.retestIntervalMinutes} min)${overdue ? ', now overdue' : ''} (rule 6).`;
    ctx.step({ rule: '6', text, facts: { retestDue: formatInstant(due), overdue }, result: 'awaiting-retest' });
    ctx.reason(text);
  } else {
    ctx.step({ rule: '5', text: `A retest was drawn at least ${p.file.settings.retestIntervalMinutes} min after the baseline (${formatInstant(earliestRetest)} or later).` });
  }
  return { outcome: outcome ?? 'awaiting-retest', awaiting, otherAssay };
}
