/**
 * The rules pages, rendered from the repository's Markdown with markdown-it (HTML in the source is
 * disabled: it is shown as text; links other than http(s) and the pages' own are not followed):
 *
 *   /console/rules              the clinical specification of the pathway the service runs
 *                               (docs/clinical/<pathway>.md, for clinicians), every rule anchored `rule-N`
 *   /console/rules/engineering  the engineering map (where each rule is encoded and which tests prove it),
 *                               one click from each rule, anchored the same way
 *
 * Which page belongs to which pathway is data: docs/clinical/rules.json (`doc`, and `engineeringMap`
 * for a pathway that has one). Without its page, a pathway's rules come from its pathway file.
 */
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import MarkdownIt, { type Env, type Token } from 'markdown-it';
import { RULES_PATH } from '../cds/cards.js';
import type { PathwayFile } from '../engine/pathway.js';
import { valueAt } from '../engine/pathway-checks.js';

/** The project's docs/ folder, from src/ under tests and from dist/ in production. */
export const DOCS_DIR = fileURLToPath(new URL('../../docs/', import.meta.url));
export const ENGINEERING_PATH = '/console/rules/engineering';

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

interface RenderEnv extends Env {
  /** Where the document lives, relative to the repository (its links are relative to it). */
  readonly docPath: string;
  /** Repository paths of the pages the console serves, and their addresses. */
  readonly pages: ReadonlyMap<string, string>;
  /** Under each rule heading, a link to this address + `#rule-N` (the other page), with this text. */
  readonly ruleLink?: { readonly href: string; readonly text: string };
}

const RULE_HEADING = /^rule\s+(\d{1,3})\b/i;

function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9 -]/g, '')
      .trim()
      .replace(/\s+/g, '-') || 'section'
  );
}

/** Headings get ids: `rule-N` for "Rule N..." (the first only), a unique slug otherwise. */
function anchorHeadings(tokens: Token[]): void {
  const ids = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t?.type !== 'heading_open') continue;
    const text = tokens[i + 1]?.content ?? '';
    const rule = RULE_HEADING.exec(text);
    let id = rule === null ? slug(text) : `rule-${rule[1] ?? ''}`;
    if (rule !== null && !ids.has(id)) t.meta = { rule: rule[1] };
    else if (ids.has(id)) for (let n = 2; ids.has(id); n++) id = `${slug(text)}-${n}`;
    ids.add(id);
    t.attrSet('id', id);
  }
}

/** A link's target: a page the console serves, an outside address, or null (shown as text). */
function linkTarget(href: string, env: RenderEnv): string | null {
  if (/^https?:\/\//i.test(href)) return href;
  if (href.startsWith('#')) return href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('/')) return null;
  const [path = '', fragment] = href.split('#', 2);
  const target = posix.normalize(posix.join(posix.dirname(env.docPath), path));
  const page = env.pages.get(target);
  if (page === undefined) return null;
  const hash = fragment === undefined ? '' : `#${fragment}`;
  return target === env.docPath ? hash || '#' : `${page}${hash}`;
}

/** Links to pages the console serves are rewritten; links to anything else (source files) become text. */
function rewriteLinks(tokens: Token[], env: RenderEnv): void {
  for (const t of tokens) {
    if (t.type !== 'inline' || t.children === null) continue;
    const open: boolean[] = [];
    for (const c of t.children) {
      if (c.type === 'link_open') {
        const target = linkTarget(String(c.attrGet('href') ?? ''), env);
        open.push(target !== null);
        if (target === null) {
          c.type = 'html_inline';
          c.content = '<span class="doc-path">';
        } else {
          c.attrSet('href', target);
          if (/^https?:/i.test(target)) c.attrSet('rel', 'noreferrer');
        }
      } else if (c.type === 'link_close' && open.pop() === false) {
        c.type = 'html_inline';
        c.content = '</span>';
      }
    }
  }
}

const md = new MarkdownIt({ html: false, linkify: false, typographer: false });
md.core.ruler.push('console_rules', (state) => {
  anchorHeadings(state.tokens);
  rewriteLinks(state.tokens, state.env as unknown as RenderEnv);
});
// A table wider than a phone scrolls inside a region that the keyboard can reach, never the page.
md.renderer.rules.table_open = () => '<div class="table-wrap" tabindex="0" role="region" aria-label="Table (scrolls sideways on narrow screens)"><table>\n';
md.renderer.rules.table_close = () => '</table></div>\n';
const closeHeading = md.renderer.rules.heading_close;
md.renderer.rules.heading_close = (tokens, idx, options, rawEnv, self) => {
  const env = rawEnv as RenderEnv | undefined;
  const html = closeHeading === undefined ? self.renderToken(tokens, idx, options) : closeHeading(tokens, idx, options, rawEnv, self);
  const open = tokens.slice(0, idx).reverse().find((t) => t.type === 'heading_open');
  const rule = (open?.meta as { rule?: string } | null)?.rule;
  if (rule === undefined || env?.ruleLink === undefined) return html;
  return `${html}<p class="rule-other"><a href="${escapeHtml(`${env.ruleLink.href}#rule-${rule}`)}">${escapeHtml(env.ruleLink.text.replace('{rule}', rule))}</a></p>\n`;
};

/** Markdown to HTML: no HTML from the source, rule anchors, links to the console's own pages. */
export function renderMarkdown(markdown: string, env: RenderEnv = { docPath: 'docs/page.md', pages: new Map() }): string {
  return md.render(markdown, env);
}

/** When a pathway has no clinical page: the rules its pathway file names, and where it is silent. */
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
  return [`# ${file.title}`, '', 'This pathway has no written specification in the repository: these are the rules its pathway file names.', '', ...rules.flatMap((r) => [`## Rule ${r}`, '', ...(byRule.get(r) ?? []).map((t) => `- ${t}`), ''])].join('\n');
}

interface PathwayDocs {
  /** Repository path of the clinical page (docs/clinical/<doc>). */
  readonly clinical: string;
  /** Repository path of the engineering map, or null when the pathway has none. */
  readonly engineering: string | null;
}

/** The pathway's pages, from docs/clinical/rules.json (or the conventional name when it is not listed). */
async function docsOf(file: PathwayFile, docsDir: string): Promise<PathwayDocs> {
  let entry: { doc?: unknown; engineeringMap?: unknown } | undefined;
  try {
    const index = JSON.parse(await readFile(`${docsDir}clinical/rules.json`, 'utf8')) as { pathways?: Record<string, { doc?: unknown; engineeringMap?: unknown }> };
    entry = index.pathways?.[file.id];
  } catch {
    entry = undefined;
  }
  const doc = typeof entry?.doc === 'string' ? entry.doc : `${file.id}.md`;
  const map = typeof entry?.engineeringMap === 'string' ? entry.engineeringMap : null;
  return { clinical: posix.join('docs/clinical', doc), engineering: map === null ? null : posix.normalize(posix.join('docs/clinical', map)) };
}

async function readDoc(docsDir: string, repoPath: string | null): Promise<string | null> {
  if (repoPath === null) return null;
  try {
    return await readFile(`${docsDir}${repoPath.replace(/^docs\//, '')}`, 'utf8');
  } catch {
    return null;
  }
}

function page(file: PathwayFile, title: string, subtitle: string, nav: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}: ${escapeHtml(file.title)}</title>
<link rel="stylesheet" href="/console/assets/console.css">
<link rel="icon" href="data:,">
</head>
<body class="rules-page">
<a class="skip-link" href="#main">Skip to the text</a>
<header class="masthead"><div class="masthead-inner"><p class="product">hs-troponin CDS · test console</p><h1>${escapeHtml(title)}</h1>
<p class="subtitle">${escapeHtml(file.title)} · version ${escapeHtml(file.version)} · ${escapeHtml(subtitle)}</p>
<nav aria-label="Console"><ul class="section-nav"><li><a href="/console">Back to the console</a></li>${nav}</ul></nav></div></header>
<main id="main" class="doc" tabindex="-1">
${body}
</main>
</body>
</html>
`;
}

/**
 * The clinical thresholds of the pathway file the service runs, with their values and the evidence the
 * file names for each: read from the file, so a site's changed file shows its own numbers here.
 */
function thresholdsMarkdown(file: PathwayFile): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const citation = new Map(file.evidence.map((e) => [e.id, e.citation]));
  const rows = Object.entries(file.thresholdSources).map(
    ([pointer, ids]) => `| \`${pointer}\` | \`${cell(JSON.stringify(valueAt(file, pointer)) ?? '')}\` | ${ids.map((id) => cell(`${id}: ${citation.get(id) ?? ''}`)).join('; ')} |`,
  );
  return [
    `## The numbers of this pathway file (${file.id} ${file.version})`,
    '',
    'The clinical thresholds of the pathway file this service runs, and the evidence the file names for each. Where a text on this page states another number, the pathway file decides.',
    '',
    '| threshold | value | evidence |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

/** /console/rules: the clinical specification of the pathway, for clinicians. */
export async function rulesPage(file: PathwayFile, docsDir = DOCS_DIR): Promise<string> {
  const docs = await docsOf(file, docsDir);
  const text = await readDoc(docsDir, docs.clinical);
  const pages = new Map([[docs.clinical, RULES_PATH], ...(docs.engineering === null ? [] : [[docs.engineering, ENGINEERING_PATH] as const])]);
  const env: RenderEnv = { docPath: docs.clinical, pages, ...(docs.engineering === null ? {} : { ruleLink: { href: ENGINEERING_PATH, text: 'Where rule {rule} is in the code, and its tests' } }) };
  const body = renderMarkdown(thresholdsMarkdown(file), env) + renderMarkdown(text ?? fallbackMarkdown(file), env);
  const nav = docs.engineering === null ? '' : `<li><a href="${ENGINEERING_PATH}">Engineering map: code and tests per rule</a></li>`;
  return page(file, 'Rules of the pathway', text === null ? `from the pathway file ${file.id}` : `from ${docs.clinical}`, nav, body);
}

/** /console/rules/engineering: where each rule is encoded and which tests prove it. */
export async function engineeringPage(file: PathwayFile, docsDir = DOCS_DIR): Promise<string> {
  const docs = await docsOf(file, docsDir);
  const text = await readDoc(docsDir, docs.engineering);
  const pages = new Map([[docs.clinical, RULES_PATH], ...(docs.engineering === null ? [] : [[docs.engineering, ENGINEERING_PATH] as const])]);
  const docPath = docs.engineering ?? 'docs/engineering.md';
  const env: RenderEnv = { docPath, pages, ruleLink: { href: RULES_PATH, text: 'Rule {rule} in clinical words' } };
  const body = text === null ? `<p>This pathway has no engineering map in the repository yet: its rules are on <a href="${RULES_PATH}">the rules page</a>.</p>` : renderMarkdown(text, env);
  return page(file, 'Engineering map: code and tests per rule', text === null ? 'no engineering map' : `from ${docPath}`, `<li><a href="${RULES_PATH}">The rules, in clinical words</a></li>`, body);
}
