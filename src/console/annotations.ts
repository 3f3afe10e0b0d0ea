/**
 * What the chart shows beside each decision point on the path: the values the decision used there, taken
 * from the decision itself (the chart walk's trace facts and the troponin summary), never recomputed.
 */
import type { Decision } from '../engine/types.js';
import type { PathwayFile } from '../engine/pathway.js';

const FACT_WORDS: Readonly<Record<string, (v: string | number | boolean | null) => string>> = {
  ecgFinding: (v) =>
    v === 'stemi-or-new-lbbb' ? 'ECG: ST-elevation or new LBBB' : v === 'no-stemi-or-new-lbbb' ? 'ECG: no ST-elevation or new LBBB' : v === 'lbbb-age-unknown' ? 'ECG: LBBB, age unknown' : 'ECG: none usable',
  timiScore: (v) => (v === null ? 'TIMI score: none usable' : `TIMI score: ${String(v)}`),
  raisedMarker: (v) => (v === true ? 'raised troponin (TIMI item 7)' : 'no troponin above the URL'),
  baselinePosition: (v) => (v === 'missing' ? 'no usable baseline' : v === 'at-or-across' ? 'baseline at or across the URL' : `baseline ${String(v)} the URL`),
  troponinReading: (v) => `troponin reading: ${String(v)}`,
};

function factLine(name: string, v: string | number | boolean | null): string {
  const f = FACT_WORDS[name];
  return f === undefined ? `${name}: ${String(v)}` : f(v);
}

/** Per node id on the path, the lines to print beside it. */
export function annotate(d: Decision, file: PathwayFile): Record<string, string[]> {
  const nodes = new Map(file.graph.nodes.map((n) => [n.id, n]));
  const out: Record<string, string[]> = {};
  const push = (id: string, line: string): void => {
    const list = (out[id] ??= []);
    if (!list.includes(line)) list.push(line);
  };
  const onPath = new Set(d.path.nodes);
  // The facts each branch was taken on (the chart walk's trace steps: node = the decision point, result =
  // the node it went to), and the reading steps of the same decision points.
  for (const step of d.trace) {
    if (step.node === undefined || !onPath.has(step.node)) continue;
    const walk = step.result !== undefined && nodes.has(step.result);
    for (const [k, v] of Object.entries(step.facts ?? {})) {
      // The chart walk's facts, and the readings of the ECG and TIMI steps (the score itself).
      if (!walk && FACT_WORDS[k] === undefined) continue;
      // "no raised marker" is only worth saying where it decided something: TIMI 0.
      if (k === 'raisedMarker' && v === false) continue;
      push(step.node, factLine(k, v));
    }
  }
  for (const id of d.path.nodes) {
    const n = nodes.get(id);
    if (n === undefined) continue;
    const b = d.troponin.baseline;
    if (n.rule === '4' && b !== null) {
      push(id, `baseline ${b.valueNgL} ng/L (${b.reported}), URL ${b.url} ng/L`);
    }
    if (n.kind === 'decision' && n.rule === '7') {
      for (const r of d.troponin.later) {
        const change = r.changePercent === null ? '' : `, ${r.changePercent}%`;
        const role = r.role === 'retest' ? 'retest' : r.role === 'early' ? 'early result' : 'other assay';
        push(id, `${role} ${r.valueNgL} ng/L at +${r.minutesAfterBaseline} min${change}${r.outcome === null ? ' (ignored)' : ` → ${r.outcome}`}`);
      }
      if (d.retestDue !== undefined) push(id, `retest due ${d.retestDue}${d.retestOverdue === true ? ' (overdue)' : ''}`);
    }
    if (n.kind === 'outcome' && n.outcome !== undefined && n.outcome !== d.outcome) {
      push(id, `the final outcome is ${d.outcome} (rule 0)`);
    }
  }
  return out;
}
