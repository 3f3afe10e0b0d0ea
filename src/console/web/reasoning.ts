/** The reasoning: the decision's trace in plain language, each step linked to its rule in the contract. */
import type { EvaluateResponse, PathwayFileView } from './api-types.js';
import { clear, h, outcomeChip } from './dom.js';

const USE_WORDS: Readonly<Record<string, string>> = {
  used: 'used',
  'not-used': 'not used',
  uninterpretable: 'uninterpretable',
  void: 'void',
  superseded: 'superseded',
  'outside-episode': 'outside the episode',
  'other-encounter': 'another encounter',
  ignored: 'ignored',
};

export function ruleHref(rulesUrl: string, rule: string): string {
  return `${rulesUrl}#rule-${encodeURIComponent(rule)}`;
}

export function renderReasoning(view: HTMLElement, res: EvaluateResponse, file: PathwayFileView, rulesUrl: string): void {
  clear(view);
  const d = res.decision;
  const nodes = new Map(file.graph.nodes.map((n) => [n.id, n]));
  const outcomes = new Set<string>(file.severity);
  view.append(h('p', {}, `${d.trace.length} steps, in the order the engine took them. Steps of the chart's own walk are shaded; each links to the rule of the clinical contract it applies.`));
  const list = h('ol', { class: 'trace', id: 'trace-list' });
  d.trace.forEach((step, i) => {
    const walk = step.text.startsWith('Chart:');
    const decisive = step.rule === '0';
    const li = h('li', { class: `${walk ? 'walk' : ''}${decisive ? ' decisive' : ''}`.trim() || null, 'data-rule': step.rule, 'data-step': i + 1 });
    const head = h(
      'div',
      { class: 'step-head' },
      h('a', { class: 'rule-link', href: ruleHref(rulesUrl, step.rule), 'aria-label': `Rule ${step.rule} in the clinical contract` }, `Rule ${step.rule}`),
      h('span', { class: 'step-text' }, step.text),
    );
    if (step.result !== undefined) {
      const target = nodes.get(step.result);
      head.append(outcomes.has(step.result) ? outcomeChip(step.result) : h('span', { class: 'result-chip' }, target === undefined ? step.result : `→ ${target.label}`));
    }
    li.append(head);
    const facts = Object.entries(step.facts ?? {});
    if (facts.length > 0) {
      li.append(h('div', { class: 'facts' }, ...facts.map(([k, v]) => h('span', {}, `${k}: `, h('code', {}, v === null ? 'none' : String(v))))));
    }
    list.append(li);
  });
  view.append(list);

  if (d.missingDetails.length > 0) {
    view.append(h('h3', {}, 'Missing or unusable'), h('ul', {}, ...d.missingDetails.map((m) => h('li', {}, h('code', {}, m.item), ` ${m.text}`))));
  }
  const inputs = h(
    'table',
    { class: 'inputs' },
    h('caption', { class: 'visually-hidden' }, 'Every input and what the engine did with it'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Input'), h('th', { scope: 'col' }, 'Kind'), h('th', { scope: 'col' }, 'Use'), h('th', { scope: 'col' }, 'Why'))),
    h('tbody', {}, ...d.inputs.map((u) => h('tr', { 'data-use': u.use }, h('td', {}, h('code', {}, u.ref)), h('td', {}, u.kind), h('td', {}, USE_WORDS[u.use] ?? u.use), h('td', {}, u.reason)))),
  );
  view.append(h('details', { class: 'inputs-details' }, h('summary', {}, `Every input (${d.inputs.length}) and what was done with it`), h('div', { class: 'table-wrap' }, inputs)));
}
