/**
 * The clinical scenario table: every FHIR fixture in fhir-fixtures/ runs through the real mapping and
 * engine at its evaluation time, and must give its expected outcome, missing items and retest time.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decide.js';
import { runtime } from '../support/cases.js';

const DIR = fileURLToPath(new URL('../../fhir-fixtures/', import.meta.url));

interface Expected {
  description: string;
  rules: string[];
  now: string;
  encounter?: string;
  settings?: Record<string, unknown>;
  outcome: string;
  missing: string[];
  retestDue?: string;
}

const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.expected.json'))
  .map((f) => f.replace(/\.expected\.json$/, ''))
  .sort();

describe('clinical scenarios (fhir-fixtures/)', () => {
  it('there is a fixture for every numbered rule 0 to 15', () => {
    const covered = new Set(names.flatMap((n) => (JSON.parse(readFileSync(join(DIR, `${n}.expected.json`), 'utf8')) as Expected).rules));
    for (let r = 0; r <= 15; r++) expect(covered, `rule ${r}`).toContain(String(r));
  });

  for (const name of names) {
    it(name, async () => {
      const expected = JSON.parse(readFileSync(join(DIR, `${name}.expected.json`), 'utf8')) as Expected;
      const doc = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as unknown;
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
