/** The card as an EHR shows it: indicator, summary, source, detail, suggestions, override reasons, links. */
import type { CardView, EvaluateResponse } from './api-types.js';
import { clear, h, outcomeChip } from './dom.js';
import { renderMarkdown } from './markdown.js';

const INDICATOR_WORDS: Readonly<Record<string, string>> = { info: 'Info', warning: 'Warning', critical: 'Critical' };

function cardElement(card: CardView): HTMLElement {
  const detail = h('div', { class: 'card-detail' });
  if (card.detail !== undefined) detail.append(renderMarkdown(card.detail));
  const actions = h('div', { class: 'card-actions' });
  for (const sg of card.suggestions ?? []) {
    const btn = h('button', { type: 'button', class: 'suggestion', 'data-recommended': sg.isRecommended === true ? 'true' : 'false', 'aria-describedby': 'suggestion-note' }, sg.label);
    btn.addEventListener('click', () => {
      const note = document.getElementById('suggestion-note');
      if (note !== null) note.textContent = `In the EHR this would ${sg.actions?.map((a) => `${a.type} a ${resourceType(a.resource)}: ${a.description}`).join('; ') ?? 'do nothing'}. The console orders nothing.`;
    });
    actions.append(btn);
  }
  if (card.overrideReasons !== undefined && card.overrideReasons.length > 0) {
    const id = `override-${card.uuid ?? 'card'}`;
    const select = h('select', { id }, h('option', { value: '' }, 'Choose a reason…'), ...card.overrideReasons.map((r) => h('option', { value: r.code ?? '' }, r.display ?? r.code ?? '')));
    actions.append(h('span', { class: 'field' }, h('label', { for: id }, 'Dismiss with a reason'), select));
  }
  for (const l of card.links ?? []) {
    actions.append(h('a', { href: l.url, class: 'card-link' }, l.label));
  }
  const json = h('details', { class: 'card-json' }, h('summary', {}, 'The card as JSON (CDS Hooks 2.0)'), h('pre', {}, JSON.stringify(card, null, 2)));
  return h(
    'article',
    { class: 'cds-card', 'data-indicator': card.indicator, 'aria-labelledby': 'card-summary' },
    h('div', { class: 'card-head' }, h('span', { class: 'indicator-badge' }, INDICATOR_WORDS[card.indicator] ?? card.indicator), h('p', { class: 'card-summary', id: 'card-summary' }, card.summary)),
    h('p', { class: 'card-source' }, `Source: ${card.source.label}`),
    detail,
    actions,
    h('p', { class: 'hint', id: 'suggestion-note', role: 'status' }),
    json,
  );
}

function resourceType(r: unknown): string {
  return typeof r === 'object' && r !== null && typeof (r as { resourceType?: unknown }).resourceType === 'string' ? (r as { resourceType: string }).resourceType : 'resource';
}

export function renderCard(banner: HTMLElement, view: HTMLElement, res: EvaluateResponse, outcomeLabel: (o: string) => string): void {
  clear(banner);
  clear(view);
  const d = res.decision;
  banner.append(h('span', {}, 'Outcome:'), outcomeChip(d.outcome, d.outcome), h('span', { id: 'outcome-label' }, outcomeLabel(d.outcome)));
  if (res.cards.length === 0) view.append(h('p', { class: 'hint' }, 'The service returns no card for this decision.'));
  for (const c of res.cards) view.append(cardElement(c));
  view.append(
    h(
      'p',
      { class: 'hint' },
      `Evaluated ${d.evaluatedAt} with pathway ${d.pathway.id} ${d.pathway.version} (sha256 ${d.pathway.sha256.slice(0, 12)}…), ${res.settings.sexSpecificUrls ? 'sex-specific' : 'overall'} URLs (${res.settings.source === 'site' ? "the site's settings" : 'set for this case'})${res.encounter === null ? '' : `, encounter ${res.encounter}`}. No audit record: the console stores nothing.`,
    ),
  );
}
