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
 * So a result's latest `EVALUATION_VERSIONS` versions and the newest used one before them are all
 * that can count: the store reads no more of a result however often it was corrected (src/episodes/versions.ts).
 *
 * Bounded (C2 rule 16; the cost of one result never grows with its episode): an evaluation reads the
 * episode's latest {@link episodeReadBound} + 1 results by draw time (one indexed query) and the results
 * of its own event. An episode within the bound is read whole, so its decision is exactly the full
 * one. An episode past it has more results than the pathway weighs: its decision is at least
 * `indeterminate`, and never less serious than the episode's previous outcome ({@link boundedDecision}),
 * since the results not read again may hold what made it so (an early ECG with ST-elevation, a rise).
 * Nothing stored is dropped: the bound is on what one evaluation reads.
 */
import type { Resource } from 'fhir/r4.js';
import { decideResources } from '../decide.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Decision } from '../engine/types.js';
import type { EpisodeState } from '../audit/store.js';
import type { OutcomeCode } from '../engine/types.js';
import type { EpisodeRules } from './rules.js';
import { statusUseOf } from '../fhir/status.js';

/**
 * How many results of an episode one evaluation reads back from the store: twice rule 16's bound, so an
 * episode at rule 16's own edge (with its ECG and TIMI score, and duplicates) is still read whole.
 */
export function episodeReadBound(maxTroponinResults: number): number {
  return 2 * maxTroponinResults;
}

/** What one evaluation read of its episode (in its audit record). */
export interface EpisodeRead {
  /** Results the evaluation saw. */
  readonly results: number;
  /** False when the episode holds more results than were read (past the read bound). */
  readonly complete: boolean;
}

/**
 * The decision of an episode read in part (past the read bound): at least `indeterminate` (rule 16) and
 * at least the episode's previous outcome, with a trace step and a reason that say so. The wording of
 * the outcome is the pathway file's. Unchanged when the read was complete or nothing needs raising.
 */
export function boundedDecision(runtime: PathwayRuntime, decision: Decision, prev: EpisodeState, read: EpisodeRead): Decision {
  if (read.complete) return decision;
  const p = runtime.pathway;
  const rank = (o: string | null): number => (o === null ? Number.MAX_SAFE_INTEGER : (p.severityRank.get(o as OutcomeCode) ?? Number.MAX_SAFE_INTEGER));
  let floor: OutcomeCode = 'indeterminate';
  if (prev.outcome !== null && rank(prev.outcome) < rank(floor)) floor = prev.outcome as OutcomeCode;
  if (rank(decision.outcome) <= rank(floor)) return decision;
  const meta = p.file.outcomes[floor];
  const bound = episodeReadBound(p.file.settings.maxTroponinResults);
  const notice = p.file.settings.maxTroponinResultsText.replace(/\.$/, '');
  const text = `The episode holds more than ${bound} results; its latest ${bound + 1} by draw time and this event's (${read.results}) were read: ${notice} (rule 16). At least ${floor}${floor === prev.outcome ? ', its outcome before this result, which the results not read again may still hold' : ''}; the reading of those read alone gave ${decision.outcome}.`;
  return {
    ...decision,
    outcome: floor,
    indicator: meta?.indicator ?? decision.indicator,
    summary: floor === prev.outcome && prev.summary !== null ? prev.summary : (meta?.advice ?? decision.summary),
    reasons: [...decision.reasons, text],
    trace: [...decision.trace, { rule: '16', text, facts: { resultsRead: read.results, readBound: bound, previousOutcome: prev.outcome }, result: floor }],
  };
}

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
    if (statusUseOf(current.status) === 'void') continue;
    if (statusUseOf(current.status) === 'listed') {
      const used = earlier.find((v) => statusUseOf(v.status) === 'used');
      if (used !== undefined) out.push(used.resource);
    }
  }
  return out;
}

export async function decideEpisode(runtime: PathwayRuntime, results: readonly ResultVersions[], nowMs: number, encounterId: string | null): Promise<Decision> {
  return decideResources(runtime, resourcesFor(results) as unknown as Resource[], { now: new Date(nowMs).toISOString(), encounterId, patientId: null });
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
export function nextState(prev: EpisodeState, decision: Decision, results: readonly ResultVersions[], nowMs: number, rules: EpisodeRules, auditId: string, complete = true): EpisodeStep {
  const times = results.map((r) => r.timeMs);
  // Read in part: the earliest results were not read, so the episode's span only grows.
  const firstMs = times.length === 0 ? prev.firstMs : complete ? Math.min(...times) : Math.min(prev.firstMs, ...times);
  const lastMs = times.length === 0 ? prev.lastMs : complete ? Math.max(...times) : Math.max(prev.lastMs, ...times);
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
