/**
 * The ESC and High-STEACS traces name only the thresholds those pathways use: rule 14 of Chart 2 (the
 * assay's overall 99th percentile URL) does not apply to them (high-steacs.md and esc-0h1h-0h2h.md, rule 3),
 * so no result line, baseline or later result carries a URL; High-STEACS names its own sex-specific threshold,
 * with "sex unknown: the lower" only when the sex is unknown or other. The contracts' worked vignettes
 * (fhir-fixtures/<pathway>/) through the real mapping and engine; Chart 2 keeps its URL.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decide.js';
import type { Decision } from '../../src/engine/types.js';
import { runtime } from '../support/cases.js';
import { loadPathwayFixture } from '../support/vignettes.js';

async function decideFixture(folder: string | null, name: string): Promise<Decision> {
  const { expected, doc } = loadPathwayFixture(folder, name);
  const rt = await runtime({ ...(expected.settings ?? {}), ...(folder === null ? {} : { pathway: expected.pathway ?? folder }) });
  return decide(rt, doc, { now: expected.now, encounterId: expected.encounter ?? null });
}

const urlSomewhere = (d: Decision): boolean =>
  d.trace.some((s) => /\bURL\b|rule 14/.test(s.text) || (s.facts !== undefined && 'url' in s.facts)) ||
  [d.troponin.baseline, ...d.troponin.later, d.troponin.summary?.first, d.troponin.summary?.last, d.troponin.summary?.highest].some((r) => r !== null && r !== undefined && 'url' in r);

describe('pathways with their own thresholds show no rule-14 URL', () => {
  for (const [folder, name] of [
    ['esc-0h1h', 'esc1-abbott-rule-out'],
    ['esc-0h2h', 'esc2-rule-out'],
    ['high-steacs', 'hs-male-16'],
    ['high-steacs', 'hs-3h-rule-out'],
  ] as const) {
    it(`${folder} ${name}: no URL in the trace or the troponin summary`, async () => {
      const d = await decideFixture(folder, name);
      expect(d.trace.some((s) => s.rule === '10')).toBe(true);
      expect(d.troponin.baseline).not.toBeNull();
      expect(urlSomewhere(d)).toBe(false);
    });
  }
  it('Chart 2 still names the URL it classifies against (rule 14)', async () => {
    const d = await decideFixture(null, 'below-url-small-change-not-consistent');
    expect(d.trace.some((s) => s.rule === '10' && /; URL [\d.]+ ng\/L \(overall 99th percentile URL, rule 14\)\.$/.test(s.text))).toBe(true);
    expect(d.troponin.baseline?.url).toMatch(/^[\d.]+$/);
  });
});

describe('High-STEACS rule 6: "sex unknown: the lower" only when the sex is unknown or other', () => {
  for (const [name, sex, unknown] of [
    ['hs-male-16', 'male', false],
    ['hs-3h-rule-out', 'female', false],
    ['hs-sex-unknown', null, true],
    ['hs-no-patient', null, true],
    ['hs-sex-other-3h', 'other', true],
  ] as const) {
    it(`${name}: sex ${sex ?? 'not known'}`, async () => {
      const d = await decideFixture('high-steacs', name);
      const line = d.trace.find((s) => s.rule === '6' && /^Sex /.test(s.text));
      expect(line, 'the rule-6 sex line').toBeDefined();
      expect(line?.text.includes('(sex unknown: the lower)')).toBe(unknown);
      if (sex === 'male') expect(line?.text).toBe('Sex male: the male threshold 34 ng/L applies.');
    });
  }
});
