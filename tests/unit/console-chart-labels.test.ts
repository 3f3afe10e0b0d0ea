/**
 * The chart's branch labels say what the rules say: every pathway file's change threshold is "or more"
 * (a change of exactly the threshold counts), so no branch label may say "> N%" of it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PATHWAYS_DIR } from '../../src/pathways/load.js';

interface File {
  readonly settings?: { readonly changeThresholdPercent?: string };
  readonly graph: { readonly edges: readonly { readonly id: string; readonly label: string }[] };
}

const files = readdirSync(PATHWAYS_DIR).filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json') && f !== 'assays.json');

describe('branch labels of the chart', () => {
  it.each(files)('%s: a change threshold is written "≥", never ">"', (f) => {
    const doc = JSON.parse(readFileSync(join(PATHWAYS_DIR, f), 'utf8')) as File;
    const pct = doc.settings?.changeThresholdPercent;
    const wrong = doc.graph.edges.filter((e) => /(^|[^≥])>\s*\d+(\.\d+)?\s*%/.test(e.label) || (pct !== undefined && e.label.includes(`> ${pct}%`)));
    expect(wrong.map((e) => `${e.id}: ${e.label}`)).toEqual([]);
  });

  it('Chart 2 says ≥ 20% where rule 7 counts a change of 20% or more', () => {
    const doc = JSON.parse(readFileSync(join(PATHWAYS_DIR, 'chart2.json'), 'utf8')) as File;
    const labels = Object.fromEntries(doc.graph.edges.map((e) => [e.id, e.label]));
    expect(labels['below-consistent']).toContain('≥ 20%');
    expect(labels['above-consistent']).toContain('≥ 20%');
  });
});
