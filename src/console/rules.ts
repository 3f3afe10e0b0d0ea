/**
 * The rules page (/console/rules): docs/pathway.md (each rule of the clinical contract, where it is
 * encoded and which test proves it) rendered to HTML, with an anchor `rule-N` on each rule, so that
 * every step of the console's reasoning links to the rule it applies. A small, strict Markdown subset:
 * everything is escaped; only headings, paragraphs, lists, tables, code, emphasis, links and bare
 * `<a id="...">` anchors are rendered.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { PathwayFile } from '../engine/pathway.js';

export const PATHWAY_DOC = fileURLToPath(new URL('../../docs/pathway.md', import.meta.url));

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/<[^>]*>/g, '')
    .replace(/[^a-z0-9 -]/g, '')
    .trim()
    .replace(/\s+/g, '-');
}

/** Inline Markdown on one line of text. */
export function inline(src: string): string {
  const anchors: string[] = [];
  let s = src.replace(/<a\s+(?:id|name)="([A-Za-z0-9_.-]+)"\s*>\s*<\/a>/g, (_m, id: string) => {
    anchors.push(`<a id="${escapeHtml(id)}"></a>`);
    return `\u0000A${anchors.length - 1}\u0000`;
  });
  const codes: string[] = [];
  s = s.replace(/`([^`]+)`/g, (_m, c: string) => {
    codes.push(`<code>${escapeHtml(c)}</code>`);
    return `\u0000C${codes.length - 1}\u0000`;
  });
  s = escapeHtml(s);
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, text: string, href: string) => {
    const h = href.replace(/&amp;/g, '&');
    if (/^https?:\/\//.test(h)) return `<a href="${escapeHtml(h)}" rel="noreferrer">${text}</a>`;
    if (h.startsWith('#')) return `<a href="${escapeHtml(h)}">${text}</a>`;
    const rule = /pathway\.md#(rule-\d+)$/.exec(h);
    if (rule !== null) return `<a href="#${rule[1] ?? ''}">${text}</a>`;
    return `${text} <span class="path">(${escapeHtml(h)})</span>`;
  });
  s = s.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>').replace(/(^|[^*\w])\*([^*\s][^*]*)\*/g, '$1<em>$2</em>');
  // eslint-disable-next-line no-control-regex
  s = s.replace(/\u0000C(\d+)\u0000/g, (_m, i: string) => codes[Number(i)] ?? '');
  // eslint-disable-next-line no-control-regex
  s = s.replace(/\u0000A(\d+)\u0000/g, (_m, i: string) => anchors[Number(i)] ?? '');
  return s;
}

const RULE_AT_START = /^(?:<[^>]+>)*\s*(?:rule\s+)?(\d{1,2})(?:<\/strong>)?(?=[\s.:)—–-]|$)/i;

/** Render the Markdown subset to HTML, adding `rule-N` anchors. */
export function renderMarkdown(md: string): string {
  const lines = md.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  const ids = new Set<string>();
  const ruleId = (text: string): string | null => {
    const m = RULE_AT_START.exec(text.replace(/^\*\*/, ''));
    if (m === null) return null;
    const id = `rule-${m[1] ?? ''}`;
    if (ids.has(id)) return null;
    ids.add(id);
    return id;
  };
  const uniq = (base: string): string => {
    let id = base === '' ? 'section' : base;
    for (let i = 2; ids.has(id); i++) id = `${base}-${i}`;
    ids.add(id);
    return id;
  };
  let i = 0;
  let para: string[] = [];
  const flush = (): void => {
    if (para.length > 0) out.push(`<p>${inline(para.join(' '))}</p>`);
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i] ?? '';
    const fence = /^```/.exec(line);
    if (fence !== null) {
      flush();
      const body: string[] = [];
      i++;
      while (i < lines.length && !/^```/.test(lines[i] ?? '')) body.push(lines[i++] ?? '');
      i++;
      out.push(`<pre><code>${escapeHtml(body.join('\n'))}</code></pre>`);
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h !== null) {
      flush();
      const level = (h[1] ?? '#').length;
      const text = (h[2] ?? '').replace(/\s*#+\s*$/, '');
      const html = inline(text);
      // "### Rule 7" gets id="rule-7", as GitHub anchors docs/pathway.md#rule-7.
      const rid = ruleId(text);
      const id = rid ?? uniq(slug(text));
      out.push(`<h${level} id="${id}">${html}</h${level}>`);
      i++;
      continue;
    }
    if (/^\s*\|.*\|\s*$/.test(line) && /^\s*\|?\s*:?-{3,}/.test(lines[i + 1] ?? '')) {
      flush();
      const cells = (l: string): string[] => l.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
      const head = cells(line);
      i += 2;
      const rows: string[] = [];
      while (i < lines.length && /^\s*\|.*\|\s*$/.test(lines[i] ?? '')) {
        const c = cells(lines[i] ?? '');
        const rid = ruleId(c[0] ?? '');
        rows.push(`<tr${rid === null ? '' : ` id="${rid}"`}>${c.map((x) => `<td>${inline(x)}</td>`).join('')}</tr>`);
        i++;
      }
      out.push(`<div class="table-wrap"><table><thead><tr>${head.map((x) => `<th scope="col">${inline(x)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`);
      continue;
    }
    const li = /^(\s*)([-*]|\d+[.)])\s+(.*)$/.exec(line);
    if (li !== null) {
      flush();
      // A list, with nesting by indentation.
      const stack: { indent: number; tag: 'ul' | 'ol' }[] = [];
      let open = false;
      while (i < lines.length) {
        const l = lines[i] ?? '';
        const m = /^(\s*)([-*]|\d+[.)])\s+(.*)$/.exec(l);
        if (m === null) {
          if (/^\s{2,}\S/.test(l) && open) {
            out.push(` ${inline(l.trim())}`);
            i++;
            continue;
          }
          break;
        }
        const indent = (m[1] ?? '').length;
        const marker = m[2] ?? '-';
        const tag = /\d/.test(marker) ? 'ol' : 'ul';
        const top = stack[stack.length - 1];
        if (top === undefined || indent > top.indent) {
          const start = tag === 'ol' && parseInt(marker, 10) !== 1 ? ` start="${parseInt(marker, 10)}"` : '';
          out.push(`<${tag}${start}>`);
          stack.push({ indent, tag });
        } else {
          out.push('</li>');
          while (stack.length > 1 && indent < (stack[stack.length - 1]?.indent ?? 0)) {
            out.push(`</${stack.pop()?.tag ?? 'ul'}>`, '</li>');
          }
        }
        const text = m[3] ?? '';
        const rid = tag === 'ol' ? ruleId(`${parseInt(marker, 10)}.`) : ruleId(text);
        out.push(`<li${rid === null ? '' : ` id="${rid}"`}>${inline(text)}`);
        open = true;
        i++;
      }
      out.push('</li>');
      while (stack.length > 0) {
        out.push(`</${stack.pop()?.tag ?? 'ul'}>`);
        if (stack.length > 0) out.push('</li>');
      }
      continue;
    }
    if (line.trim() === '') {
      flush();
      i++;
      continue;
    }
    para.push(line.trim());
    i++;
  }
  flush();
  return out.join('\n');
}

/** When docs/pathway.md is absent: the rules the pathway file itself names, and where it is silent. */
export function fallbackMarkdown(file: PathwayFile): string {
  const byRule = new Map<string, string[]>();
  const add = (rule: string, text: string): void => {
    const l = byRule.get(rule) ?? [];
    if (!l.includes(text)) l.push(text);
    byRule.set(rule, l);
  };
  for (const n of file.graph.nodes) if (n.rule !== undefined) add(n.rule, `Decision point "${n.label}".`);
  for (const x of [...file.graph.nodes, ...file.graph.edges]) {
    if (x.silent === undefined) continue;
    for (const m of x.silent.matchAll(/rules? ([\d, and]+)/g)) for (const r of (m[1] ?? '').match(/\d+/g) ?? []) add(r, `Where the chart is silent: ${x.silent}`);
  }
  if (file.classification !== undefined) {
    const cls = file.classification;
    add(cls.rule, cls.description);
    for (const c of cls.rules) add(cls.rule, `\`${c.id}\`: ${c.text} → \`${c.outcome}\`.`);
  }
  if (file.serial !== undefined) {
    const ser = file.serial;
    add(ser.rules.readings, ser.description);
    for (const r of ser.readings) add(ser.rules.readings, `\`${r.id}\`: ${r.text} → \`${r.reading}\`.`);
  }
  add(file.assembly.rule, 'Assembly: the most serious of the chart\'s walk and the troponin results on their own.');
  const rules = [...byRule.keys()].sort((a, b) => Number(a) - Number(b));
  return [
    `# ${file.title}`,
    '',
    'docs/pathway.md is not installed: these are the rules the pathway file itself names.',
    '',
    ...rules.flatMap((r) => [`## Rule ${r}`, '', ...(byRule.get(r) ?? []).map((t) => `- ${t}`), '']),
  ].join('\n');
}

/** The page of one pathway's rules: docs/pathways/<id>.md when there is one, else docs/pathway.md (Chart 2's). */
export function pathwayDocOf(id: string): { path: string; name: string } {
  const own = fileURLToPath(new URL(`../../docs/pathways/${id}.md`, import.meta.url));
  return existsSync(own) ? { path: own, name: `docs/pathways/${id}.md` } : { path: PATHWAY_DOC, name: 'docs/pathway.md' };
}

export async function rulesPage(file: PathwayFile, docPath?: string): Promise<string> {
  let md: string;
  let source: string;
  const doc = docPath === undefined ? pathwayDocOf(file.id) : { path: docPath, name: 'docs/pathway.md' };
  try {
    md = await readFile(doc.path, 'utf8');
    source = doc.name;
  } catch {
    md = fallbackMarkdown(file);
    source = `the pathway file (${file.id} ${file.version})`;
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rules of the pathway: ${escapeHtml(file.title)}</title>
<link rel="stylesheet" href="/console/assets/console.css">
<link rel="icon" href="data:,">
</head>
<body class="rules-page">
<header class="masthead"><div class="masthead-inner"><p class="product">hs-troponin CDS · test console</p><h1>Rules of the pathway</h1>
<p class="subtitle">${escapeHtml(file.title)} · version ${escapeHtml(file.version)} · from ${escapeHtml(source)}</p>
<nav aria-label="Console"><a href="/console">Back to the console</a></nav></div></header>
<main id="main" class="doc">
${renderMarkdown(md)}
</main>
</body>
</html>
`;
}
