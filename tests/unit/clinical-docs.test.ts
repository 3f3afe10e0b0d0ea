/**
 * The clinical specifications in docs/clinical/: each pathway's page covers every numbered rule of its
 * contract with one `## Rule N: <title>` heading, in order, and every outcome code in its Outcomes table
 * (the lists are recorded in docs/clinical/rules.json, so nothing outside the repository is needed); every
 * source it cites is listed, and nothing else on the page would be taken for a rule by the console's
 * renderer, which anchors each rule heading as `rule-N`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../src/console/rules.js';

const DIR = new URL('../../docs/clinical/', import.meta.url);

interface PathwayRules {
  doc: string;
  contract: string;
  contractVersion: string;
  section: string;
  rules: string[];
  outcomes: string[];
}

const recorded = JSON.parse(readFileSync(new URL('rules.json', DIR), 'utf8')) as { pathways: Record<string, PathwayRules> };

/** The level-2 sections of a page: heading text and the lines under it. */
function sections(md: string): { heading: string; body: string[] }[] {
  const out: { heading: string; body: string[] }[] = [];
  let fenced = false;
  for (const line of md.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const h = fenced ? null : /^## (.*)$/.exec(line);
    if (h !== null) out.push({ heading: h[1] ?? '', body: [] });
    else out.at(-1)?.body.push(line);
  }
  return out;
}

/** Problems of one page against its recorded rules and outcomes; [] when it is right. */
function pageProblems(md: string, p: PathwayRules): string[] {
  const problems: string[] = [];
  const secs = sections(md);
  const ruleSecs = secs.filter((s) => /^Rule\s/i.test(s.heading));
  const numbers = ruleSecs.map((s) => /^Rule (\d+): \S/.exec(s.heading)?.[1] ?? `malformed heading "${s.heading}"`);
  if (JSON.stringify(numbers) !== JSON.stringify(p.rules)) problems.push(`rule headings ${numbers.join(', ')}; the contract numbers ${p.rules.join(', ')}`);
  for (const s of ruleSecs) if (!s.body.some((l) => l.trim() !== '')) problems.push(`"${s.heading}" says nothing`);
  for (const required of ['The pathway at a glance', 'Thresholds', 'Outcomes', 'Sources']) {
    if (!secs.some((s) => s.heading === required)) problems.push(`no "## ${required}" section`);
  }
  const outcomeRows = (secs.find((s) => s.heading === 'Outcomes')?.body ?? [])
    .map((l) => /^\| `([a-z-]+)` \|/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined);
  if (JSON.stringify(outcomeRows) !== JSON.stringify(p.outcomes)) problems.push(`outcomes ${outcomeRows.join(', ')}; the contract has ${p.outcomes.join(', ')}`);
  const lines = md.split('\n');
  const firstRule = lines.findIndex((l) => /^## Rule \d/.test(l));
  if (lines.slice(0, firstRule).some((l) => /^\s*\d+[.)]\s/.test(l))) problems.push('a numbered list before the first rule heading');
  if (lines.some((l) => /^#{1,6} Rule \d/.test(l) && !/^## Rule \d/.test(l))) problems.push('a rule heading that is not level 2');
  if (lines.some((l) => /^\|\s*\d/.test(l))) problems.push('a table row beginning with a number');
  const cited = new Set([...md.matchAll(/\[(S\d+[a-z]?)\]/g)].map((m) => m[1] ?? ''));
  const listed = new Set((secs.find((s) => s.heading === 'Sources')?.body ?? []).map((l) => /^- (S\d+[a-z]?): \S/.exec(l)?.[1]).filter((s): s is string => s !== undefined));
  for (const s of cited) if (!listed.has(s)) problems.push(`[${s}] cited but not in Sources`);
  for (const s of listed) if (!cited.has(s)) problems.push(`${s} listed in Sources but cited nowhere`);
  return problems;
}

describe('clinical specifications (docs/clinical/)', () => {
  it('rules.json names the four pathways, each with its page, contract, rules and outcomes', () => {
    expect(Object.keys(recorded.pathways).sort()).toEqual(['chart2', 'esc-0h1h', 'esc-0h2h', 'high-steacs']);
    const readme = readFileSync(new URL('README.md', DIR), 'utf8');
    for (const [id, p] of Object.entries(recorded.pathways)) {
      expect(existsSync(new URL(p.doc, DIR)), p.doc).toBe(true);
      expect(readme, id).toContain(`[${p.doc}](${p.doc}) | \`${id}\` | \`${p.contract}\` version ${p.contractVersion}`);
      expect(p.rules, id).toEqual(p.rules.map((_, i) => String(i)));
      expect(p.outcomes, id).toHaveLength(7);
    }
  });

  for (const [id, p] of Object.entries(recorded.pathways)) {
    it(`${p.doc}: one "## Rule N" heading per rule ${p.rules[0]} to ${p.rules.at(-1)} of ${p.contract}, every outcome, every source`, () => {
      const md = readFileSync(new URL(p.doc, DIR), 'utf8');
      expect(pageProblems(md, p)).toEqual([]);
      expect(md, id).toContain(`\`${p.contract}\`, version ${p.contractVersion}`);
    });

    it(`${p.doc}: the console renders each rule heading with the anchor rule-N`, () => {
      const html = renderMarkdown(readFileSync(new URL(p.doc, DIR), 'utf8'));
      for (const n of p.rules) expect(html).toMatch(new RegExp(`<h2 id="rule-${n}">Rule ${n}: `));
      expect(html.match(/id="rule-\d+"/g)).toHaveLength(p.rules.length);
    });
  }

  it('finds a missing rule, a rule out of order, a missing outcome and an unlisted source', () => {
    const p = recorded.pathways['high-steacs'];
    if (p === undefined) throw new Error('high-steacs is not recorded');
    const md = readFileSync(new URL(p.doc, DIR), 'utf8');
    const withoutRule9 = md.replace(/^## Rule 9: [^\n]*\n/m, '## Retest timing\n');
    expect(pageProblems(withoutRule9, p).join('\n')).toMatch(/rule headings 0, 1, 2, 3, 4, 5, 6, 7, 8, 10;/);
    const swapped = md.replace('## Rule 7: ', '## Rule X: ').replace('## Rule 8: ', '## Rule 7: ').replace('## Rule X: ', '## Rule 8: ');
    expect(pageProblems(swapped, p).join('\n')).toMatch(/rule headings 0, 1, 2, 3, 4, 5, 6, 8, 7, 9, 10;/);
    expect(pageProblems(md.replace(/^\| `observe` \|.*\n/m, ''), p).join('\n')).toMatch(/^outcomes .*; the contract has/m);
    expect(pageProblems(`${md}\nSee also [S99].\n`, p)).toContain('[S99] cited but not in Sources');
    expect(pageProblems(md.replace('## Thresholds\n', '## Thresholds\n\n| 5 | ng/L |\n|---|---|\n'), p)).toContain('a table row beginning with a number');
  });
});
