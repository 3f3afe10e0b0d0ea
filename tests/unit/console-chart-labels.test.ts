/**
 * The chart's branch labels say what the rules say: every pathway file's change threshold is "or more"
 * (a change of exactly the threshold counts), so no branch label may say "> N%" of it. The labels are
 * read as the console gets them: loaded, with the settings' placeholders filled in.
 */
import { describe, expect, it } from 'vitest';
import { listPathwayFiles, loadPathway } from '../../src/pathways/load.js';

const files = listPathwayFiles();

describe('branch labels of the chart', () => {
  it.each(files)('%s: a change threshold is written "≥", never ">"', async (f) => {
    const doc = (await loadPathway(f.replace(/\.json$/, ''))).file;
    const pct = doc.settings.changeThresholdPercent;
    const wrong = doc.graph.edges.filter((e) => /(^|[^≥])>\s*\d+(\.\d+)?\s*%/.test(e.label) || (pct !== undefined && e.label.includes(`> ${pct}%`)));
    expect(wrong.map((e) => `${e.id}: ${e.label}`)).toEqual([]);
  });

  it('Chart 2 says ≥ 20% where rule 7 counts a change of 20% or more', async () => {
    const doc = (await loadPathway('chart2')).file;
    const labels = Object.fromEntries(doc.graph.edges.map((e) => [e.id, e.label]));
    expect(labels['below-consistent']).toContain('≥ 20%');
    expect(labels['above-consistent']).toContain('≥ 20%');
  });
});
