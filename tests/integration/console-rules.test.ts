/**
 * The console's rules pages and chart annotations: the pathway's clinical specification and its
 * engineering map rendered by markdown-it (no HTML from the source) with a `rule-N` anchor for every rule
 * (what each reasoning step and card links to), each rule one click from the other page, a fallback from
 * the pathway file when a pathway has no specification, and the values printed on the path.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { annotate } from '../../src/console/annotations.js';
import { engineeringPage, fallbackMarkdown, renderMarkdown, rulesPage } from '../../src/console/rules.js';
import { decide } from '../../src/decide.js';
import { loadRuntime } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';
import { loadFixture } from '../support/fixtures.js';

describe('the rules pages', () => {
  const env = (docPath: string) => ({ docPath, pages: new Map([['docs/clinical/chart2.md', '/console/rules'], ['docs/pathway.md', '/console/rules/engineering']]) });

  it('anchors each rule heading rule-N (the first only), other headings by a unique slug', () => {
    expect(renderMarkdown('## Rule 7: Classification\ntext')).toContain('<h2 id="rule-7">Rule 7: Classification</h2>');
    expect(renderMarkdown('### Rule 12')).toContain('<h3 id="rule-12">');
    const twice = renderMarkdown('## Rule 4\n\n## Rule 4 again\n\n## Outcomes\n\n## Outcomes');
    expect(twice.match(/id="rule-4"/g)).toHaveLength(1);
    expect(twice).toContain('id="outcomes"');
    expect(twice).toContain('id="outcomes-2"');
    // A numbered list or a table row is not a rule heading.
    expect(renderMarkdown('1. first\n2. second\n\n| 12 | x |\n|---|---|\n| 3 | y |')).not.toContain('id="rule-');
  });

  it('lets no HTML from the document through, and follows only http(s) links and the console\'s own pages', () => {
    const html = renderMarkdown('# Title <script>alert(1)</script>\n\n<img src=x onerror=alert(1)> [x](javascript:alert(1)) [d](data:text/html,1)', env('docs/clinical/chart2.md'));
    expect(html).not.toMatch(/<script|<img|href="javascript:|href="data:/);
    expect(html).toContain('&lt;script&gt;');
    const links = renderMarkdown('[NICE](https://www.nice.org.uk/guidance/dg15), [map](../pathway.md#rule-7), [self](chart2.md#rule-3), [code](../../src/engine/evaluate.ts)', env('docs/clinical/chart2.md'));
    expect(links).toContain('<a href="https://www.nice.org.uk/guidance/dg15" rel="noreferrer">NICE</a>');
    expect(links).toContain('<a href="/console/rules/engineering#rule-7">map</a>');
    expect(links).toContain('<a href="#rule-3">self</a>');
    expect(links).toContain('<span class="doc-path">code</span>');
    expect(renderMarkdown('[spec](clinical/chart2.md#rule-2)', env('docs/pathway.md'))).toContain('<a href="/console/rules#rule-2">spec</a>');
  });

  it('renders the clinical specification of the pathway with every rule of its contract anchored, each one click from its code and tests', async () => {
    const rt = await loadRuntime(loadSettings({ object: {} }));
    const page = await rulesPage(rt.pathway.file);
    const recorded = JSON.parse(readFileSync(new URL('../../docs/clinical/rules.json', import.meta.url), 'utf8')) as { pathways: Record<string, { rules: string[] }> };
    for (const n of recorded.pathways['chart2']?.rules ?? []) {
      expect(page).toContain(`<h2 id="rule-${n}">`);
      expect(page).toContain(`<a href="/console/rules/engineering#rule-${n}">`);
    }
    expect(page).toContain('from docs/clinical/chart2.md');
    expect(page).toContain('href="/console/rules/engineering"');
    const map = await engineeringPage(rt.pathway.file);
    for (const n of recorded.pathways['chart2']?.rules ?? []) {
      expect(map).toContain(`id="rule-${n}"`);
      expect(map).toContain(`<a href="/console/rules#rule-${n}">`);
    }
  });

  it('falls back to the pathway file for a pathway without a specification', async () => {
    const rt = await loadRuntime(loadSettings({ object: {} }));
    const dir = mkdtempSync(join(tmpdir(), 'no-docs-'));
    const fallback = await rulesPage(rt.pathway.file, `${dir}/`);
    expect(fallback).toContain('no written specification');
    for (const r of ['0', '1', '2', '4', '7']) expect(fallback).toContain(`id="rule-${r}"`);
    expect(fallbackMarkdown(rt.pathway.file)).toContain('## Rule 7');
    expect(await engineeringPage(rt.pathway.file, `${dir}/`)).toContain('no engineering map');
  });
});

describe('annotations of the chart', () => {
  it('prints the values used at each decision point on the path, from the decision itself', async () => {
    const rt = await loadRuntime(loadSettings({ object: {} }));
    const f = loadFixture('needs-input-lists-everything');
    const d = await decide(rt, f.doc, { now: f.expected.now });
    const a = annotate(d, rt.pathway.file);
    expect(Object.keys(a).every((id) => d.path.nodes.includes(id))).toBe(true);
    // The pathway file's words: the label of the branch taken at each decision point.
    expect(a['ecg']).toContain('No usable ECG');
    expect(a['timi']).toContain('No usable TIMI score');
    expect(a['baseline']).toContain('No usable baseline');

    const g = loadFixture('awaiting-retest-overdue');
    const d2 = await decide(rt, g.doc, { now: g.expected.now });
    const a2 = annotate(d2, rt.pathway.file);
    const retestNode = d2.path.nodes.find((n) => n.startsWith('retest-')) ?? '';
    expect(a2[retestNode]?.join(' ')).toContain(`retest due ${g.expected.retestDue ?? ''} (overdue)`);
  });
});
