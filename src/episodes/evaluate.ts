/**
 * One episode, evaluated: its results as the pathway must see them, the decision (the same
 * `decideResources` every view uses), and the episode's next state. Pure apart from decide (no store,
 * no clock: `nowMs` comes in).
 *
 * Which versions the pathway sees, per result (rule 12 with the store's own version history):
 * - the current version; when it is void (`entered-in-error`, `cancelled`) only that, so nothing of a
 *   withdrawn result counts;
 * - when the current version is non-final (`preliminary`, `registered`) and an earlier version was used
 *   (`final`, `amended`, `corrected`), that latest used version too: a later non-final version never
 *   supersedes a used one, both are readings (C2 rule 12).
 * Versions carry the store's `meta.lastUpdated`, strictly increasing per result, so they always order.
 */
import type { Resource } from 'fhir/r4.js';
import { decideResources } from '../decide.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Decision } from '../engine/types.js';
import type { EpisodeState } from '../audit/store.js';
import type { EpisodeRules } from './rules.js';

const USED = new Set(['final', 'amended', 'corrected']);
const NON_FINAL = new Set(['preliminary', 'registered']);
const VOID = new Set(['entered-in-error', 'cancelled']);

/** A result's versions as the evaluation needs them: newest first, resources parsed. */
export interface ResultVersions {
  readonly id: string;
  readonly timeMs: number;
  readonly versions: readonly { readonly status: string; readonly resource: Record<string, unknown> }[];
}

/** The resources the pathway sees for these results (see the module comment). */
export function resourcesFor(results: readonly ResultVersions[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const r of results) {
    const [current, ...earlier] = r.versions;
    if (current === undefined) continue;
    out.push(current.resource);
    if (VOID.has(current.status)) continue;
    if (NON_FINAL.has(current.status)) {
      const used = earlier.find((v) => USED.has(v.status));
      if (used !== undefined) out.push(used.resource);
    }
  }
  return out;
}

export async function decideEpisode(runtime: PathwayRuntime, results: readonly ResultVersions[], nowMs: number, encounterId: string | null): Promise<Decision> {
  return decideResources(runtime, resourcesFor(results) as unknown as Resource[], { now: new Date(nowMs).toISOString(), encounterId });
}

/** What changed for the worklist and the alerts. */
export interface EpisodeStep {
  readonly next: EpisodeState;
  /** The worklist row changed (outcome, indicator, status, retest due or overdue). */
  readonly changed: boolean;
  /** The outcome changed (null before: a new episode). */
  readonly outcomeChangedFrom: string | null | undefined;
  /** The retest is overdue and its alert has not fired for this due time. */
  readonly overdueNow: boolean;
}

/** The next state of `prev` after `decision` at `nowMs`, with `results` the episode's results. */
export function nextState(prev: EpisodeState, decision: Decision, results: readonly ResultVersions[], nowMs: number, rules: EpisodeRules, auditId: string): EpisodeStep {
  const times = results.map((r) => r.timeMs);
  const firstMs = times.length === 0 ? prev.firstMs : Math.min(...times);
  const lastMs = times.length === 0 ? prev.lastMs : Math.max(...times);
  const windowEndsMs = lastMs + rules.windowMs;
  const final = rules.isFinal(decision);
  const status = final || nowMs >= windowEndsMs ? 'closed' : 'open';
  const closedReason = status === 'open' ? null : final ? 'final-outcome' : 'window-passed';
  const retestDueMs = decision.retestDue === undefined ? null : Date.parse(decision.retestDue);
  const overdue = decision.retestOverdue === true && retestDueMs !== null;
  const overdueNow = overdue && prev.overdueFiredMs !== retestDueMs && status === 'open';
  // Once the due time has passed, its timer is spent (whether or not an alert was due), so it never fires again.
  const duePassed = retestDueMs !== null && nowMs > retestDueMs;
  const visible = (s: Pick<EpisodeState, 'outcome' | 'indicator' | 'status' | 'retestDue' | 'retestOverdue'>): string => JSON.stringify([s.outcome, s.indicator, s.status, s.retestDue, s.retestOverdue]);
  const draft = {
    outcome: decision.outcome,
    indicator: decision.indicator,
    status,
    retestDue: decision.retestDue ?? null,
    retestOverdue: overdue,
  } as const;
  const changed = visible(prev) !== visible(draft);
  const at = new Date(nowMs).toISOString();
  const next: EpisodeState = {
    ...prev,
    ...draft,
    closedReason,
    firstMs,
    lastMs,
    windowEndsMs,
    summary: decision.summary,
    missing: [...decision.missing],
    baselineTime: decision.troponin.baseline?.drawTime ?? null,
    retestDueMs,
    overdueFiredMs: duePassed ? retestDueMs : prev.overdueFiredMs,
    lastChangeAt: changed ? at : prev.lastChangeAt,
    rev: prev.rev + 1,
    lastAuditId: auditId,
  };
  return { next, changed, outcomeChangedFrom: prev.outcome === decision.outcome ? undefined : prev.outcome, overdueNow };
}

/** A new, not yet evaluated episode. */
export function newEpisode(id: string, patientKey: string, patient: Readonly<Record<string, string>>, encounterId: string | null, timeMs: number, nowMs: number, rules: EpisodeRules): EpisodeState {
  return {
    id,
    patientKey,
    patient,
    encounterId,
    status: 'open',
    closedReason: null,
    openedAt: new Date(nowMs).toISOString(),
    firstMs: timeMs,
    lastMs: timeMs,
    windowEndsMs: timeMs + rules.windowMs,
    outcome: null,
    indicator: null,
    summary: null,
    missing: [],
    baselineTime: null,
    retestDue: null,
    retestDueMs: null,
    overdueFiredMs: null,
    retestOverdue: false,
    lastChangeAt: new Date(nowMs).toISOString(),
    rev: 0,
    lastAuditId: null,
  };
}

/**
 * The episode a result joins (the pathway's episode rule, C2 rule 3, over stored results): one of the
 * patient's episodes whose results lie within the window of its time, naming the same encounter or none
 * (a result naming none joins any); the one with the latest result when several do. Null: a new one.
 */
export function episodeFor(episodes: readonly EpisodeState[], encounterId: string | null, timeMs: number, windowMs: number): EpisodeState | null {
  let best: EpisodeState | null = null;
  for (const e of episodes) {
    if (encounterId !== null && e.encounterId !== null && e.encounterId !== encounterId) continue;
    if (timeMs < e.firstMs - windowMs || timeMs > e.lastMs + windowMs) continue;
    if (best === null || e.lastMs > best.lastMs) best = e;
  }
  return best;
}
