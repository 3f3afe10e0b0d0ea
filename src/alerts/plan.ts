/**
 * Which alerts an episode's step raises, as outbox rows written in the step's own transaction (so an
 * alert exists if and only if its change was committed). Each row's dedupe key names the notification,
 * the episode and the change (the episode revision, or the retest due time for an overdue alert): a
 * change is committed once (per-patient revisions), so its alert is written once, whichever process
 * planned it. Delivery is src/alerts/deliver.ts; an alert never blocks intake.
 */
import type { AlertRow, EpisodeState } from '../audit/store.js';
import type { EpisodeStep } from '../episodes/evaluate.js';
import { RETEST_OVERDUE, type EpisodeRules } from '../episodes/rules.js';

export interface AlertBody {
  readonly event: 'outcome-changed' | 'retest-overdue';
  readonly alertId: string;
  readonly at: string;
  readonly episode: {
    readonly id: string;
    readonly patient: Readonly<Record<string, string>>;
    readonly status: string;
    readonly outcome: string | null;
    readonly previousOutcome: string | null;
    readonly indicator: string | null;
    readonly summary: string | null;
    readonly retestDue: string | null;
    readonly retestOverdue: boolean;
  };
  readonly auditId: string | null;
  readonly pathway: string;
}

function body(event: AlertBody['event'], id: string, at: string, e: EpisodeState, previous: string | null, pathway: string): string {
  const b: AlertBody = {
    event,
    alertId: id,
    at,
    episode: { id: e.id, patient: e.patient, status: e.status, outcome: e.outcome, previousOutcome: previous, indicator: e.indicator, summary: e.summary, retestDue: e.retestDue, retestOverdue: e.retestOverdue },
    auditId: e.lastAuditId,
    pathway,
  };
  return JSON.stringify(b);
}

/** The outbox rows of one step (none when nothing alert-worthy happened). */
export function alertsFor(step: EpisodeStep, prevOutcome: string | null, rules: EpisodeRules, ctx: { nowMs: number; newId: () => string; pathway: string }): AlertRow[] {
  const at = new Date(ctx.nowMs).toISOString();
  const e = step.next;
  const rows: AlertRow[] = [];
  const row = (n: { url: string }, event: AlertBody['event'], dedupe: string): AlertRow => {
    const id = ctx.newId();
    return { id, dedupeKey: `${n.url}|${e.id}|${dedupe}`, url: n.url, episodeId: e.id, event, body: body(event, id, at, e, prevOutcome, ctx.pathway), status: 'pending', attempts: 0, nextAttemptMs: ctx.nowMs, lastError: null, createdAt: at, updatedAt: at };
  };
  for (const n of rules.notifications) {
    if (step.outcomeChangedFrom !== undefined && e.outcome !== null && n.events.has(e.outcome)) rows.push(row(n, 'outcome-changed', `outcome|${e.rev}`));
    if (step.overdueNow && n.events.has(RETEST_OVERDUE)) rows.push(row(n, 'retest-overdue', `overdue|${String(e.retestDueMs)}`));
  }
  return rows;
}
