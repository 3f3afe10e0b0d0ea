/**
 * A stored result's versions as the pathway reads them (C2 rule 12 over the store's own history), and how
 * many of them one evaluation needs. Shared by the evaluation (src/episodes/evaluate.ts `resourcesFor`)
 * and the store's bounded read of them (src/audit/lab/sql.ts `evaluationVersionsOf`). The statuses are the
 * FHIR mapping's own (src/fhir/status.ts), so the evaluation, the SQL and the facts cannot disagree on
 * which statuses a fallback may be.
 */

/**
 * How many of a result's newest versions an evaluation reads, beside the newest used version before them.
 * Two: the current version (what stands, what a repeat is compared with, what HL7 `U` makes final) and
 * the one before it (the evaluation record's `inputResources` names both). With the newest used version
 * that is all `resourcesFor` can reach, whether or not the event adds a version on top: a result
 * corrected 10,000 times is read as at most three rows.
 */
export const EVALUATION_VERSIONS = 2;
