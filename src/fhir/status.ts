/**
 * Observation statuses as the pathways read them (C2 rule 12, ESC rule 11): the one list for the FHIR
 * mapping (a fact's `status`), the episode evaluation (which stored versions count) and the store's
 * bounded read of versions (src/episodes/versions.ts re-exports `USED_STATUSES` for src/audit/lab/sql.ts),
 * so none of them can disagree on which statuses a result may be used with.
 */
import type { StatusUse } from '../engine/types.js';

/** Statuses the pathway uses (a later non-final version never supersedes the newest of these). */
export const USED_STATUSES: readonly string[] = ['final', 'amended', 'corrected'];
/** Non-final statuses: they can only escalate, and leave the newest used version standing beside them. */
const NON_FINAL_STATUSES: readonly string[] = ['preliminary', 'registered'];
/** Void statuses: the result is withdrawn, nothing of it counts. */
const VOID_STATUSES: readonly string[] = ['entered-in-error', 'cancelled'];

const USED = new Set(USED_STATUSES);
const NON_FINAL = new Set(NON_FINAL_STATUSES);
const VOID = new Set(VOID_STATUSES);

/** What the pathway makes of an Observation status: used, listed (non-final), void, or invalid (anything else, or none). */
export function statusUseOf(status: unknown): StatusUse {
  if (typeof status !== 'string') return 'invalid';
  if (USED.has(status)) return 'used';
  if (NON_FINAL.has(status)) return 'listed';
  if (VOID.has(status)) return 'void';
  return 'invalid';
}
