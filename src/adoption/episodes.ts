/**
 * Episodes, from evaluation records alone (docs/adoption.md "Episodes"), and what each episode and each
 * evaluation contributes to the counts. Pure: the state of an episode goes in with a new evaluation, the
 * new state comes out; the counts an episode contributes are a function of its state, so a change of
 * state is a change of counts (new minus old) and the roll-up never counts an episode twice.
 *
 * An episode is one patient's assessment on one pathway:
 * - a record that carries its own episode key (laboratory intake) belongs to that episode;
 * - otherwise it is anchored on the baseline troponin's draw time, the engine's own episode anchor: every
 *   evaluation showing the same baseline is the same episode;
 * - an evaluation with no baseline yet joins the patient's latest episode that has no baseline either,
 *   started within the pathway's episode window (24 h) and of the same encounter (when both name one);
 *   an episode without a baseline that then gets one keeps its evaluations. Otherwise a new episode starts.
 */
import type { EvaluationFact } from './facts.js';
import { isFinal, type PathwayVocabulary } from './vocabulary.js';

export interface EpisodeState {
  readonly key: string;
  readonly patientKey: string;
  readonly pathwayId: string;
  /** `episode:<id>`, `baseline:<draw time>`, or null (no baseline yet). */
  readonly anchor: string | null;
  readonly encounterId: string | null;
  /** The episode's cell: where it started. */
  readonly startMs: number;
  readonly settingsHash: string;
  readonly lastMs: number;
  readonly evaluations: number;
  readonly firstOutcome: string;
  readonly lastOutcome: string;
  /** Evaluation time of the first evaluation with a final outcome. */
  readonly decidedMs: number | null;
  readonly baselineDrawMs: number | null;
  /** First retest due time, in minutes after the baseline draw. */
  readonly dueMinutes: number | null;
  /** The first later sample of the baseline's assay, in minutes after the baseline draw. */
  readonly retestMinutes: number | null;
  /** Later results shown by the episode's latest evaluation. */
  readonly lastLaterCount: number;
  /** Distinct uninterpretable results: ref -> rule category. */
  readonly uninterpretable: Readonly<Record<string, string>>;
  readonly unmapped: readonly string[];
  readonly unrecognised: readonly string[];
}

/** Bounds what one episode keeps (the engine reads at most 50 troponins an episode). */
const MAX_REFS = 200;

export function anchorOf(f: EvaluationFact): string | null {
  if (f.episodeId !== null) return `episode:${f.episodeId}`;
  return f.baselineDrawMs === null ? null : `baseline:${new Date(f.baselineDrawMs).toISOString()}`;
}

/**
 * The episode the evaluation belongs to among the patient's `candidates` on this pathway (any order),
 * or null for a new one.
 */
export function findEpisode(f: EvaluationFact, candidates: readonly EpisodeState[], v: PathwayVocabulary): EpisodeState | null {
  const anchor = anchorOf(f);
  if (anchor !== null) {
    const same = candidates.find((e) => e.anchor === anchor);
    if (same !== undefined) return same;
    if (f.episodeId !== null) return null;
  }
  const windowMs = v.episodeWindowMinutes * 60_000;
  let best: EpisodeState | null = null;
  for (const e of candidates) {
    if (e.anchor !== null) continue;
    if (f.atMs - e.startMs > windowMs || f.atMs < e.startMs - windowMs) continue;
    if (e.encounterId !== null && f.encounterId !== null && e.encounterId !== f.encounterId) continue;
    if (best === null || e.lastMs > best.lastMs || (e.lastMs === best.lastMs && e.key > best.key)) best = e;
  }
  return best;
}

function addRefs(into: readonly string[], refs: readonly string[]): readonly string[] {
  if (refs.every((r) => into.includes(r))) return into;
  const out = [...into];
  for (const r of refs) if (!out.includes(r) && out.length < MAX_REFS) out.push(r);
  return out;
}

/** The episode after `f`: a new one (`prev` null, with `key`) or `prev` extended. */
export function applyEvaluation(prev: EpisodeState | null, f: EvaluationFact, patientKey: string, key: string, v: PathwayVocabulary): EpisodeState {
  const final = isFinal(v, f.outcome);
  const firstLaterSame = f.later.find((l) => l.sameAssay)?.minutes ?? null;
  const dueMinutes = f.retestDueMs !== null && f.baselineDrawMs !== null ? (f.retestDueMs - f.baselineDrawMs) / 60_000 : null;
  const base: EpisodeState =
    prev ??
    ({
      key,
      patientKey,
      pathwayId: f.pathwayId,
      anchor: null,
      encounterId: f.encounterId,
      startMs: f.atMs,
      settingsHash: f.settingsHash,
      lastMs: f.atMs,
      evaluations: 0,
      firstOutcome: f.outcome,
      lastOutcome: f.outcome,
      decidedMs: null,
      baselineDrawMs: null,
      dueMinutes: null,
      retestMinutes: null,
      lastLaterCount: 0,
      uninterpretable: {},
      unmapped: [],
      unrecognised: [],
    } satisfies EpisodeState);
  const uninterpretable = { ...base.uninterpretable };
  for (const u of f.uninterpretable) if (!(u.ref in uninterpretable) && Object.keys(uninterpretable).length < MAX_REFS) uninterpretable[u.ref] = u.reason;
  return {
    ...base,
    anchor: base.anchor ?? anchorOf(f),
    encounterId: base.encounterId ?? f.encounterId,
    lastMs: Math.max(base.lastMs, f.atMs),
    evaluations: base.evaluations + 1,
    lastOutcome: f.outcome,
    decidedMs: base.decidedMs ?? (final ? f.evaluatedAtMs : null),
    baselineDrawMs: base.baselineDrawMs ?? f.baselineDrawMs,
    dueMinutes: base.dueMinutes ?? dueMinutes,
    retestMinutes: base.retestMinutes ?? firstLaterSame,
    lastLaterCount: f.later.length,
    uninterpretable,
    unmapped: addRefs(base.unmapped, f.unmapped),
    unrecognised: addRefs(base.unrecognised, f.unrecognised),
  };
}

/** Counts keyed by measure (`name` or `name|key`). */
export type Counts = Map<string, number>;

export function add(c: Counts, k: string, n = 1): void {
  c.set(k, (c.get(k) ?? 0) + n);
}

/** What an episode in this state counts for, in its cell. */
export function episodeCounts(e: EpisodeState, v: PathwayVocabulary): Counts {
  const c: Counts = new Map();
  add(c, 'episodes');
  add(c, `firstOutcome|${e.firstOutcome}`);
  add(c, `finalOutcome|${e.lastOutcome}`);
  if (e.decidedMs !== null) {
    add(c, 'decided');
    if (e.baselineDrawMs !== null) add(c, `ttd|${Math.floor((e.decidedMs - e.baselineDrawMs) / 60_000)}`);
  }
  if (e.dueMinutes !== null) {
    add(c, 'retestDue');
    if (e.retestMinutes === null) add(c, 'retestNotDrawn');
    else add(c, `retestDev|${Math.round(e.dueMinutes)}|${Math.floor(e.retestMinutes - e.dueMinutes)}`);
  }
  if (v.leastSerious !== null && e.lastOutcome === v.leastSerious) {
    add(c, 'ruledOut');
    if (v.singleSampleRuleOut && e.baselineDrawMs !== null && e.lastLaterCount === 0) add(c, 'singleSampleRuleOut');
  }
  for (const reason of Object.values(e.uninterpretable)) add(c, `dqUninterpretable|${reason}`);
  if (e.unmapped.length > 0) add(c, 'dqUnmapped', e.unmapped.length);
  if (e.unrecognised.length > 0) add(c, 'dqUnrecognised', e.unrecognised.length);
  return c;
}

/** What one evaluation counts for, in its own cell (the period of its time). */
export function evaluationCounts(f: EvaluationFact, withEpisode: boolean): Counts {
  const c: Counts = new Map();
  add(c, 'evaluations');
  add(c, `trigger|${f.trigger}`);
  add(c, `evalOutcome|${f.outcome}`);
  for (const m of new Set(f.missing)) add(c, `missing|${m}`);
  if (f.retestDueMs !== null) add(c, 'dueAtEval');
  if (f.retestOverdue) add(c, 'overdueAtEval');
  if (!withEpisode) add(c, 'dqNoPatient');
  return c;
}
