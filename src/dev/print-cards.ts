import { isObject } from '../util/guards.js';
/**
 * A CDS Hooks answer printed for a person at a terminal (`npx hs-troponin-cds call`): per card its
 * indicator and summary, its detail (the Markdown as the EHR receives it), suggestions, links, source
 * and the audit id of the evaluation record (the card extension's `auditId`).
 */
const str = (x: unknown): string => (typeof x === 'string' ? x : '');

function indent(text: string, by = '  '): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? '' : `${by}${l}`))
    .join('\n');
}

/** The cards of a `{ cards: [...] }` answer, as text. */
export function printCards(answer: unknown): string {
  const cards = isObject(answer) && Array.isArray(answer['cards']) ? answer['cards'].filter(isObject) : [];
  if (cards.length === 0) return 'No card (the service answered { "cards": [] }).\n';
  return cards
    .map((c, i) => {
      const lines = [`Card ${i + 1} of ${cards.length} [${str(c['indicator']).toUpperCase()}] ${str(c['summary'])}`, ''];
      if (str(c['detail']) !== '') lines.push(indent(str(c['detail'])), '');
      for (const s of Array.isArray(c['suggestions']) ? c['suggestions'].filter(isObject) : []) lines.push(`  Suggestion: ${str(s['label'])}`);
      for (const l of Array.isArray(c['links']) ? c['links'].filter(isObject) : []) lines.push(`  Link: ${str(l['label'])}: ${str(l['url'])}`);
      const source = isObject(c['source']) ? str(c['source']['label']) : '';
      if (source !== '') lines.push(`  Source: ${source}`);
      const ext = isObject(c['extension']) && isObject(c['extension']['hs-troponin-cds']) ? c['extension']['hs-troponin-cds'] : {};
      lines.push(`  Audit id: ${str(ext['auditId']) || '(none)'}`);
      return `${lines.join('\n')}\n`;
    })
    .join('\n');
}
