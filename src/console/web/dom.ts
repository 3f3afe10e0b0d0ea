/** Small DOM helpers: elements are built with textContent, never from HTML strings. */

export type Child = Node | string | number | null | undefined | false;
export type Attrs = Readonly<Record<string, string | number | boolean | null | undefined>>;

function applyAttrs(el: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el: Element, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** An HTML element. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

export const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element. */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/** The element with this id, of this type; throws when the page does not have it (a defect). */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild !== null) el.firstChild.remove();
}

/** Rough text width in px for layout (the page uses a sans-serif system font). */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let w = 0;
  for (const ch of text) {
    if ('il.,:;|!\'`'.includes(ch)) w += 0.28;
    else if ('fjrt()[]- '.includes(ch)) w += 0.36;
    else if ('mwMW@%'.includes(ch)) w += 0.85;
    else if (ch >= 'A' && ch <= 'Z') w += 0.66;
    else if (ch >= '0' && ch <= '9') w += 0.56;
    else w += 0.53;
  }
  return w * fontSize * (bold ? 1.07 : 1);
}

/** Greedy word wrap to a width in px. */
export function wrap(text: string, width: number, fontSize: number, bold = false): string[] {
  const words = text.split(/\s+/).filter((w) => w !== '');
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    const next = line === '' ? w : `${line} ${w}`;
    if (line !== '' && textWidth(next, fontSize, bold) > width) {
      lines.push(line);
      line = w;
    } else line = next;
  }
  if (line !== '') lines.push(line);
  return lines.length === 0 ? [''] : lines;
}

/**
 * Outcome colours, the same everywhere on the page (chart, card banner, map, library). Styling only: an
 * outcome's name is its pathway's (`outcomes[code].label` of the pathway the API serves).
 */
export const OUTCOME_STYLE: Readonly<Record<string, { readonly color: string; readonly ink: string }>> = {
  'acute-mi-pathway': { color: '#6e1423', ink: '#ffffff' },
  'consistent-with-mi': { color: '#c0392b', ink: '#ffffff' },
  indeterminate: { color: '#e8a317', ink: '#0b0c0c' },
  'needs-input': { color: '#6f777b', ink: '#ffffff' },
  'awaiting-retest': { color: '#2b6cb0', ink: '#ffffff' },
  'not-consistent-with-mi': { color: '#15705a', ink: '#ffffff' },
  'low-risk-pathway': { color: '#9bd3b4', ink: '#0b0c0c' },
};

export function outcomeChip(outcome: string, label?: string): HTMLElement {
  // Colours come from console.css by data-outcome (the page's CSP allows no inline styles).
  return h('span', { class: 'outcome-chip', 'data-outcome': outcome }, label ?? outcome);
}

/** Rule numbers named in a text: "(rule 2)", "(rules 7 and 11)", "(rules 7, 9, 13)". */
export function rulesIn(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\brules?\s+((?:\d+)(?:\s*(?:,|and|or)\s*\d+)*)/gi)) {
    for (const n of (m[1] ?? '').match(/\d+/g) ?? []) if (!out.includes(n)) out.push(n);
  }
  return out;
}
