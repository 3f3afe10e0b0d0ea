/**
 * An episode as the worklist shows it (GET /episodes, the stream, GET /episodes/{id}). Whether the retest
 * is overdue is computed for the moment of reading: once the due time has passed, an open episode is
 * overdue (rule 6), whether or not its timer has run yet.
 */
import type { EpisodeState } from '../audit/store.js';

export interface WorklistRow {
  readonly id: string;
  readonly patient: Readonly<Record<string, string>>;
  readonly encounterId: string | null;
  readonly status: string;
  readonly closedReason: string | null;
  readonly outcome: string | null;
  readonly indicator: string | null;
  readonly summary: string | null;
  readonly missing: readonly string[];
  readonly baselineTime: string | null;
  readonly retestDue: string | null;
  readonly retestOverdue: boolean;
  readonly openedAt: string;
  readonly lastChange: string;
  readonly auditId: string | null;
}

export function worklistRow(e: EpisodeState, nowMs: number): WorklistRow {
  return {
    id: e.id,
    patient: e.patient,
    encounterId: e.encounterId,
    status: e.status,
    closedReason: e.closedReason,
    outcome: e.outcome,
    indicator: e.indicator,
    summary: e.summary,
    missing: e.missing,
    baselineTime: e.baselineTime,
    retestDue: e.retestDue,
    retestOverdue: e.status === 'open' && e.retestDueMs !== null && nowMs > e.retestDueMs,
    openedAt: e.openedAt,
    lastChange: e.lastChangeAt,
    auditId: e.lastAuditId,
  };
}
