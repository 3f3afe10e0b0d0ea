/**
 * The console's rules page and chart annotations: docs/pathway.md rendered safely with a `rule-N` anchor
 * for every rule (what each reasoning step links to), a fallback from the pathway file when the doc is
 * absent, and the values printed at each decision point on the path.
 */
import { describe, expect, it } from 'vitest';
import { annotate } from '../../src/console/annotations.js';
import { fallbackMarkdown, inline, renderMarkdown, rulesPage } from '../../src/console/rules.js';
import { decide } from '../../src/decide.js';
import { loadRuntime } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';
import { loadFixture } from '../support/fixtures.js';

describe('the rules page', () => {
  it('anchors rules written as headings, numbered lists or table rows', () => {
    expect(renderMarkdown('### Rule 7\ntext')).toContain('<h3 id="rule-7">Rule 7</h3>');
    expect(renderMarkdown('## 3. Episode')).toContain('id="rule-3"');
    expect(renderMarkdown('1. **Assembly.** a\n2. **ECG.** b')).toMatch(/<li id="rule-1">.*<li id="rule-2">/s);
    expect(renderMarkdown('| rule | what |\n|---|---|\n| 12 | status |')).toContain('<tr id="rule-12">');
    // The first occurrence wins; ids stay unique.
    const twice = renderMarkdown('### Rule 4\n\n### Rule 4 again');
    expect(twice.match(/id="rule-4"/g)).toHaveLength(1);
  });

  it('escapes everything else: no HTML from the document gets through', () => {
    const html = renderMarkdown('# Title <script>alert(1)</script>\n\n<img src=x onerror=alert(1)> [x](javascript:alert(1)) <a id="ok"></a>');
    expect(html).not.toMatch(/<script|<img|href="javascript:/);
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('<a id="ok"></a>');
    expect(inline('[NICE](https://www.nice.org.uk/guidance/dg15) and [code](../src/engine/evaluate.ts)')).toBe(
      '<a href="https://www.nice.org.uk/guidance/dg15" rel="noreferrer">NICE</a> and code <span class="path">(../src/engine/evaluate.ts)</span>',
    );
    expect(inline('see [rule 7](pathway.md#rule-7)')).toBe('see <a href="#rule-7">rule 7</a>');
    expect(inline('**bold** and `a < b`')).toBe('<strong>bold</strong> and <code>a &lt; b</code>');
  });

  it('renders docs/pathway.md with an anchor for rules 0 to 15, and falls back to the pathway file without it', async () => {
    const rt = await loadRuntime(loadSettings({ object: {} }));
    const page = await rulesPage(rt.pathway.file);
    for (let n = 0; n <= 15; n++) expect(page).toContain(`id="rule-${n}"`);
    expect(page).toContain('from docs/pathway.md');
    const fallback = await rulesPage(rt.pathway.file, '/nonexistent/pathway.md');
    expect(fallback).toContain('docs/pathway.md is not installed');
    for (const r of ['0', '1', '2', '4', '7']) expect(fallback).toContain(`id="rule-${r}"`);
    expect(fallbackMarkdown(rt.pathway.file)).toContain('## Rule 7');
  });
});

describe('annotations of the chart', () => {
  it('prints the values used at each decision point on the path, from the decision itself', async () => {
    const rt = await loadRuntime(loadSettings({ object: {} }));
    const f = loadFixture('needs-input-lists-everything');
    const d = await decide(rt, f.doc, { now: f.expected.now });
    const a = annotate(d, rt.pathway.file);
    expect(Object.keys(a).every((id) => d.path.nodes.includes(id))).toBe(true);
    expect(a['ecg']).toContain('ECG: none usable');
    expect(a['timi']).toContain('TIMI score: none usable');
    expect(a['baseline']).toContain('no usable baseline');

    const g = loadFixture('awaiting-retest-overdue');
    const d2 = await decide(rt, g.doc, { now: g.expected.now });
    const a2 = annotate(d2, rt.pathway.file);
    const retestNode = d2.path.nodes.find((n) => n.startsWith('retest-')) ?? '';
    expect(a2[retestNode]?.join(' ')).toContain(`retest due ${g.expected.retestDue ?? ''} (overdue)`);
  });
});
