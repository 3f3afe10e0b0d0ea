/**
 * What the chart shows beside each decision point on the path: the values the decision used there, taken
 * from the decision itself (the chart walk's trace facts and the troponin summary), never recomputed.
 */
import type { Decision } from '../engine/types.js';
import { type PathwayFile, factsOf } from '../engine/pathway.js';

/** Per node id on the path, the lines to print beside it, in the pathway file's words (its node and edge labels). */
export function annotate(d: Decision, file: PathwayFile): Record<string, string[]> {
  const nodes = new Map(file.graph.nodes.map((n) => [n.id, n]));
  const out: Record<string, string[]> = {};
  const push = (id: string, line: string): void => {
    const list = (out[id] ??= []);
    if (!list.includes(line)) list.push(line);
  };
  /** The facts the branches leaving a node read. */
  const readAt = (id: string): Set<string> => {
    const used = new Set<string>();
    for (const e of file.graph.edges) if (e.from === id) factsOf(e.conditions, used);
    return used;
  };
  const onPath = new Set(d.path.nodes);
  // The branch each decision point took (the chart walk's trace steps: node = the decision point, result =
  // the node it went to), with the numbers it was taken on (a TIMI score), and the numbers the reading
  // steps of the same decision points found.
  for (const step of d.trace) {
    if (step.node === undefined || !onPath.has(step.node)) continue;
    const node = nodes.get(step.node);
    if (node === undefined) continue;
    // Several branches may join the same node (ECG missing or normal both go on to TIMI): the one taken is on the path.
    const edge = step.result === undefined ? undefined : file.graph.edges.find((e) => e.from === step.node && e.to === step.result && d.path.edges.includes(e.id));
    if (edge !== undefined && edge.label !== '') push(step.node, edge.label);
    for (const [k, v] of Object.entries(step.facts ?? {})) {
      if (typeof v === 'number' && k in file.facts) push(step.node, `${node.label}: ${v}`);
    }
  }
  for (const id of d.path.nodes) {
    const n = nodes.get(id);
    if (n === undefined) continue;
    const read = readAt(id);
    const b = d.troponin.baseline;
    if (read.has('baselinePosition') && b !== null) {
      push(id, `baseline ${b.valueNgL} ng/L (${b.reported}), URL ${b.url} ng/L`);
    }
    if (read.has('troponinReading')) {
      for (const r of d.troponin.later) {
        const change = r.changePercent === null ? '' : `, ${r.changePercent}%`;
        const role = r.role === 'retest' ? 'retest' : r.role === 'early' ? 'early result' : 'other assay';
        push(id, `${role} ${r.valueNgL} ng/L at +${r.minutesAfterBaseline} min${change}${r.outcome === null ? ' (ignored)' : ` → ${r.outcome}`}`);
      }
      if (d.retestDue !== undefined) push(id, `retest due ${d.retestDue}${d.retestOverdue === true ? ' (overdue)' : ''}`);
    }
    if (n.kind === 'outcome' && n.outcome !== undefined && n.outcome !== d.outcome) {
      push(id, `the final outcome is ${file.outcomes[d.outcome]?.label ?? d.outcome} (rule ${file.assembly.rule})`);
    }
  }
  return out;
}
