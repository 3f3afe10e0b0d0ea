/**
 * A stored result's versions as the pathway reads them (C2 rule 12 over the store's own history), and how
 * many of them one evaluation needs. Shared by the evaluation (src/episodes/evaluate.ts `resourcesFor`)
 * and the store's bounded read of them (src/audit/lab/sql.ts `evaluationVersionsOf`), so the two cannot
 * disagree on which statuses a fallback may be.
 */

/** Statuses the pathway uses (a later non-final version never supersedes the newest of these). */
export const USED_STATUSES: readonly string[] = ['final', 'amended', 'corrected'];
/** Non-final statuses: they can only escalate, and leave the newest used version standing beside them. */
export const NON_FINAL_STATUSES: readonly string[] = ['preliminary', 'registered'];
/** Void statuses: the result is withdrawn, nothing of it counts. */
export const VOID_STATUSES: readonly string[] = ['entered-in-error', 'cancelled'];

/**
 * How many of a result's newest versions an evaluation reads, beside the newest used version before them.
 * Two: the current version (what stands, what a repeat is compared with, what HL7 `U` makes final) and
 * the one before it (the evaluation record's `inputResources` names both). With the newest used version
 * that is all `resourcesFor` can reach, whether or not the event adds a version on top: a result
 * corrected 10,000 times is read as at most three rows.
 */
export const EVALUATION_VERSIONS = 2;
