/**
 * Chart 2's classification of a baseline and one later result (chart2-pathway.md rule 7), compiled once
 * at load into a decision table: every qualitative cell gets exactly one outcome. Pure.
 */
import type { RuleProperties } from 'json-rules-engine';
import type { OutcomeCode } from './types.js';
import { type ClassificationEntry, type Direction, type PathwayFile, PathwayProblem, type Position, cellKey, factsOf, firedRules } from './pathway.js';

const POSITIONS: readonly Position[] = ['below', 'at', 'above'];
const DIRECTIONS: readonly Direction[] = ['rise', 'fall', 'none'];

export async function compileClassification(cls: NonNullable<PathwayFile['classification']>, severityRank: ReadonlyMap<OutcomeCode, number>): Promise<Map<string, ClassificationEntry>> {
  const classRules: RuleProperties[] = cls.rules.map((r) => ({ name: r.id, conditions: r.conditions, event: { type: r.id } }));
  cls.rules.forEach((r, i) => {
    for (const f of factsOf(r.conditions, new Set())) {
      if (!['baselineVsLimit', 'laterVsLimit', 'direction', 'changeReachesThreshold'].includes(f)) {
        throw new PathwayProblem(`classification rule "${r.id}" uses fact "${f}"; only baselineVsLimit, laterVsLimit, direction and changeReachesThreshold are available`, `classification.rules[${i}].conditions`);
      }
    }
  });
  const byId = new Map(cls.rules.map((r) => [r.id, r]));
  const classifyCell = async (b: Position, l: Position, d: Direction, c: boolean): Promise<ClassificationEntry> => {
    const fired = await firedRules(classRules, { baselineVsLimit: b, laterVsLimit: l, direction: d, changeReachesThreshold: c });
    if (fired.length > 1) {
      throw new PathwayProblem(`classification cell ${cellKey(b, l, d, c)} matches several rules (${fired.join(', ')})`, 'classification.rules');
    }
    const rule = fired[0] === undefined ? undefined : byId.get(fired[0]);
    const o = cls.otherwise;
    return rule === undefined ? { outcome: o.outcome, ruleId: o.id, text: o.text } : { outcome: rule.outcome, ruleId: rule.id, text: rule.text };
  };
  const moreSerious = (a: ClassificationEntry, b: ClassificationEntry): ClassificationEntry =>
    (severityRank.get(b.outcome) ?? 99) < (severityRank.get(a.outcome) ?? 99) ? b : a;
  const table = new Map<string, ClassificationEntry>();
  for (const b of POSITIONS) {
    for (const l of POSITIONS) {
      for (const d of DIRECTIONS) {
        for (const c of [true, false]) {
          const bs = b === 'at' ? (cls.boundary.baselineVsLimit?.at ?? ['at' as Position]) : [b];
          const ls = l === 'at' ? (cls.boundary.laterVsLimit?.at ?? ['at' as Position]) : [l];
          let best: ClassificationEntry | null = null;
          for (const bb of bs) {
            for (const ll of ls) {
              const entry = await classifyCell(bb, ll, d, c);
              best = best === null ? entry : moreSerious(best, entry);
            }
          }
          if (best !== null) table.set(cellKey(b, l, d, c), best);
        }
      }
    }
  }

  return table;
}
