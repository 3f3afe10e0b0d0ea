/**
 * The clinical scenario table: every FHIR fixture in fhir-fixtures/ runs through the real mapping and
 * engine at its evaluation time, and must give its expected outcome, missing items and retest time.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decide.js';
import { runtime } from '../support/cases.js';
import { allFixtures } from '../support/fixtures.js';

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
