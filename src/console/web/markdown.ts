/**
 * The GitHub-Flavored Markdown subset the cards use (paragraphs, "- " lists, pipe tables, **bold**,
 * `code`, [links](https://...), backslash escapes and &lt; &gt; &amp;), rendered to DOM nodes with
 * textContent only: nothing in a card can become HTML.
 */
import { h } from './dom.js';

function decodeEntities(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}

/** Inline Markdown to nodes. */
export function inlineNodes(src: string): Node[] {
  const out: Node[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') out.push(document.createTextNode(decodeEntities(text)));
    text = '';
  };
  let i = 0;
  while (i < src.length) {
    const ch = src[i] ?? '';
    if (ch === '\\' && i + 1 < src.length && /[\\`*_[\]|<>~&()#+\-.!{}]/.test(src[i + 1] ?? '')) {
      text += src[i + 1] ?? '';
      i += 2;
      continue;
    }
    if (ch === '`') {
      const end = src.indexOf('`', i + 1);
      if (end > i) {
        flush();
        out.push(h('code', {}, src.slice(i + 1, end)));
        i = end + 1;
        continue;
      }
    }
    if (src.startsWith('**', i)) {
      const end = findClosing(src, '**', i + 2);
      if (end > i + 2) {
        flush();
        const strong = h('strong');
        strong.append(...inlineNodes(src.slice(i + 2, end)));
        out.push(strong);
        i = end + 2;
        continue;
      }
    }
    if (ch === '[') {
      const close = findClosing(src, ']', i + 1);
      if (close > i && src[close + 1] === '(') {
        const end = src.indexOf(')', close + 2);
        if (end > close) {
          const href = src.slice(close + 2, end);
          flush();
          const label = inlineNodes(src.slice(i + 1, close));
          if (/^https?:\/\//.test(href) || href.startsWith('/console')) {
            const a = h('a', { href, ...(href.startsWith('/') ? {} : { rel: 'noreferrer', target: '_blank' }) });
            a.append(...label);
            out.push(a);
          } else out.push(...label);
          i = end + 1;
          continue;
        }
      }
    }
    text += ch;
    i += 1;
  }
  flush();
  return out;
}

/** The index of `token` closing at or after `from`, skipping backslash escapes; -1 if none. */
function findClosing(src: string, token: string, from: number): number {
  for (let j = from; j < src.length; j++) {
    if (src[j] === '\\') {
      j++;
      continue;
    }
    if (src.startsWith(token, j)) return j;
  }
  return -1;
}

function splitRow(line: string): string[] {
  const t = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  const cells: string[] = [];
  let cur = '';
  for (let i = 0; i < t.length; i++) {
    const ch = t[i] ?? '';
    if (ch === '\\' && t[i + 1] === '|') {
      cur += '\\|';
      i++;
    } else if (ch === '|') {
      cells.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  cells.push(cur.trim());
  return cells;
}

/** Block Markdown to a fragment. */
export function renderMarkdown(md: string): DocumentFragment {
  const frag = document.createDocumentFragment();
  const lines = md.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  let para: string[] = [];
  const flush = (): void => {
    if (para.length > 0) {
      const p = h('p');
      p.append(...inlineNodes(para.join(' ')));
      frag.append(p);
    }
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (line.trim() === '') {
      flush();
      i++;
      continue;
    }
    if (/^\s*\|/.test(line) && /^\s*\|?\s*:?-{3,}/.test(lines[i + 1] ?? '')) {
      flush();
      const head = splitRow(line);
      const table = h('table');
      const tr = h('tr');
      for (const c of head) {
        const th = h('th', { scope: 'col' });
        th.append(...inlineNodes(c));
        tr.append(th);
      }
      table.append(h('thead', {}, tr));
      const body = h('tbody');
      i += 2;
      while (i < lines.length && /^\s*\|/.test(lines[i] ?? '')) {
        const row = h('tr');
        for (const c of splitRow(lines[i] ?? '')) {
          const td = h('td');
          td.append(...inlineNodes(c));
          row.append(td);
        }
        body.append(row);
        i++;
      }
      table.append(body);
      // Focusable, so that a table wider than a phone can be scrolled with the keyboard.
      frag.append(h('div', { class: 'detail-wrap', tabindex: 0, role: 'region', 'aria-label': 'Table (scrolls sideways on narrow screens)' }, table));
      continue;
    }
    if (/^\s*[-*]\s+/.test(line)) {
      flush();
      const ul = h('ul');
      while (i < lines.length && /^\s*[-*]\s+/.test(lines[i] ?? '')) {
        const li = h('li');
        li.append(...inlineNodes((lines[i] ?? '').replace(/^\s*[-*]\s+/, '')));
        ul.append(li);
        i++;
      }
      frag.append(ul);
      continue;
    }
    para.push(line.trim());
    i++;
  }
  flush();
  return frag;
}
