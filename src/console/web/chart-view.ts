/**
 * The chart section: the chart drawn from the pathway file (fitted to its container, or at full size to
 * scroll), the path the case took as text (step by step, with the values used: readable on a phone
 * whatever the chart's scale), and the places where the printed chart is silent.
 */
import type { EvaluateResponse, PathwayFileView, PathwayResponse } from './api-types.js';
import { drawChart, silentText } from './chart.js';
import { byId, clear, h, rulesIn } from './dom.js';
import { ruleHref } from './reasoning.js';

/** Every place the printed chart is silent, with the rules that resolve it (for the list under the chart). */
export function silentPlaces(file: PathwayFileView): { id: string; kind: 'node' | 'edge'; name: string; text: string; rules: string[] }[] {
  const nodes = new Map(file.graph.nodes.map((n) => [n.id, n]));
  const out: { id: string; kind: 'node' | 'edge'; name: string; text: string; rules: string[] }[] = [];
  for (const n of file.graph.nodes) {
    const t = silentText(n);
    if (t !== null) out.push({ id: n.id, kind: 'node', name: n.label, text: t, rules: rulesIn(t) });
  }
  for (const e of file.graph.edges) {
    const t = silentText(e);
    if (t !== null) out.push({ id: e.id, kind: 'edge', name: `${nodes.get(e.from)?.label ?? e.from} → ${e.label}`, text: t, rules: rulesIn(t) });
  }
  return out;
}

/** The path as text: each step, the values used there and the branch taken. */
function renderPath(list: HTMLOListElement, file: PathwayFileView, res: EvaluateResponse | null): void {
  clear(list);
  if (res === null) {
    list.append(h('li', { class: 'hint' }, 'Evaluate a case to see its path, step by step, with the values used.'));
    return;
  }
  const nodes = new Map(file.graph.nodes.map((n) => [n.id, n]));
  const taken = new Set(res.decision.path.edges);
  for (const id of res.decision.path.nodes) {
    const n = nodes.get(id);
    const branch = file.graph.edges.find((e) => e.from === id && taken.has(e.id));
    const values = res.annotations[id] ?? [];
    list.append(
      h(
        'li',
        { 'data-node': id },
        h('strong', {}, n?.label ?? id),
        branch !== undefined && branch.label !== '' ? ` → ${branch.label}` : '',
        values.length > 0 ? h('span', { class: 'values' }, ` (${values.join('; ')})`) : '',
      ),
    );
  }
}

export function drawChartFor(p: PathwayResponse, res: EvaluateResponse | null, outcomeLabel: (o: string) => string): void {
  const view = byId('chart-view', HTMLDivElement);
  clear(view);
  view.append(drawChart(p.pathway, { decision: res?.decision ?? null, annotations: res?.annotations ?? {}, outcomeLabel }));
  renderPath(byId('path-list', HTMLOListElement), p.pathway, res);
  const list = byId('silent-list', HTMLUListElement);
  clear(list);
  const onPath = new Set([...(res?.decision.path.nodes ?? []), ...(res?.decision.path.edges ?? [])]);
  for (const sp of silentPlaces(p.pathway)) {
    const li = h('li', { class: onPath.has(sp.id) ? 'on-path' : null, 'data-silent': sp.id }, h('span', { class: 'silent-key', 'aria-hidden': 'true' }, '◆ '), `${sp.name}${onPath.has(sp.id) ? ' (on this case’s path)' : ''}: ${sp.text} `);
    for (const r of sp.rules) li.append(h('a', { href: ruleHref(p.rulesUrl, r), class: 'rule-link' }, `Rule ${r}`), ' ');
    list.append(li);
  }
}

/** The chart fitted to its container (the default), or at full size in a region that scrolls. */
export function setUpChartSize(): void {
  const button = byId('chart-size', HTMLButtonElement);
  const view = byId('chart-view', HTMLDivElement);
  button.addEventListener('click', () => {
    const full = view.classList.toggle('fit') === false;
    button.setAttribute('aria-pressed', full ? 'true' : 'false');
    button.textContent = full ? 'Fit the chart to the page' : 'Show the chart at full size';
  });
}
