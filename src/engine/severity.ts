/** The pathway's order of seriousness (its `severity` list, 0 = most serious). Pure. */
import type { CompiledPathway } from './pathway.js';
import type { OutcomeCode } from './types.js';

export function rankOf(p: CompiledPathway, o: OutcomeCode): number {
  return p.severityRank.get(o) ?? Number.MAX_SAFE_INTEGER;
}

/** The more serious of two outcomes; on a tie, the first. */
export function moreSerious(p: CompiledPathway, a: OutcomeCode, b: OutcomeCode): OutcomeCode {
  return rankOf(p, b) < rankOf(p, a) ? b : a;
}
