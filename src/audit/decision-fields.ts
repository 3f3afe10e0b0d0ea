/**
 * The decision's part of an evaluation record's body (from `outcome` to `trace`), in the order every audit
 * record and golden file has it. One place, so a CDS call's record, a laboratory result's record and the
 * synthetic trail cannot drift apart (the record's hash covers the key order).
 */
import type { Decision } from '../engine/types.js';

export function decisionFields(d: Decision) {
  return {
    outcome: d.outcome,
    indicator: d.indicator,
    summary: d.summary,
    reasons: d.reasons,
    missing: d.missing,
    missingDetails: d.missingDetails,
    retestDue: d.retestDue ?? null,
    retestOverdue: d.retestOverdue ?? null,
    assays: d.assays,
    troponin: d.troponin,
    inputs: d.inputs,
    path: d.path,
    trace: d.trace,
  };
}
