/**
 * The clinical scenario table: every FHIR fixture in fhir-fixtures/ runs through the real mapping and
 * engine at its evaluation time, and must give its expected outcome, missing items and retest time.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decide.js';
import { runtime } from '../support/cases.js';
import { allFixtures } from '../support/fixtures.js';
import { folderFixtureNames, loadPathwayFixture, loadVignetteList, pathwayFolders } from '../support/vignettes.js';

const fixtures = allFixtures();

describe('clinical scenarios (fhir-fixtures/)', () => {
  it('there is a fixture for every numbered rule 0 to 16', () => {
    const covered = new Set(fixtures.flatMap((f) => f.expected.rules));
    for (let r = 0; r <= 16; r++) expect(covered, `rule ${r}`).toContain(String(r));
  });

  for (const { name, expected, doc } of fixtures) {
    it(name, async () => {
      const rt = await runtime(expected.settings ?? {});
      const d = await decide(rt, doc, { now: expected.now, encounterId: expected.encounter ?? null });
      expect({ outcome: d.outcome, missing: d.missing, retestDue: d.retestDue }).toEqual({
        outcome: expected.outcome,
        missing: expected.missing,
        retestDue: expected.retestDue,
      });
    });
  }
});

// The worked vignettes of the other pathways' contracts (fhir-fixtures/<pathway>/): each runs with the
// pathway its folder names, and must give the contract's outcome, missing items, retest due time and,
// where the expected file states them, the onset and the sex-specific threshold used.
for (const folder of pathwayFolders()) {
  const list = loadVignetteList(folder);
  describe(`clinical scenarios (fhir-fixtures/${folder}/, ${list?.spec ?? ''} section 10)`, () => {
    it('every worked vignette of the contract has a fixture here', () => {
      expect(folderFixtureNames(folder)).toEqual([...(list?.vignettes ?? []).map((v) => v.id)].sort());
    });
    for (const name of folderFixtureNames(folder)) {
      it(name, async () => {
        const { expected, doc } = loadPathwayFixture(folder, name);
        const rt = await runtime({ ...(expected.settings ?? {}), pathway: expected.pathway ?? folder });
        const d = await decide(rt, doc, { now: expected.now, encounterId: expected.encounter ?? null });
        expect(d.pathway.id).toBe(folder);
        expect({ outcome: d.outcome, missing: d.missing, retestDue: d.retestDue, ...(expected.onset === undefined ? {} : { onset: d.onset }), ...(expected.threshold === undefined ? {} : { threshold: d.threshold }) }).toEqual({
          outcome: expected.outcome,
          missing: expected.missing,
          retestDue: expected.retestDue,
          ...(expected.onset === undefined ? {} : { onset: expected.onset }),
          ...(expected.threshold === undefined ? {} : { threshold: expected.threshold }),
        });
      });
    }
  });
}
