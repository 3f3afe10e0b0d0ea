/**
 * The pathway's json-rules-engine Engine is shared by every evaluation (its facts are constants given
 * to run(), so each run has its own almanac). Overlapping evaluations must not lose or mix events.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decide.js';
import { runtime } from '../support/cases.js';

const DIR = fileURLToPath(new URL('../../fhir-fixtures/', import.meta.url));

describe('overlapping evaluations', () => {
  it('every fixture evaluated all at once gives the same decision as alone', async () => {
    const rt = await runtime();
    const cases = readdirSync(DIR)
      .filter((f) => f.endsWith('.expected.json'))
      .map((f) => {
        const exp = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as { now: string; encounter?: string; settings?: unknown };
        return { exp, doc: JSON.parse(readFileSync(join(DIR, f.replace('.expected.json', '.json')), 'utf8')) as unknown };
      })
      .filter((c) => c.exp.settings === undefined);
    const alone: string[] = [];
    for (const c of cases) alone.push(JSON.stringify(await decide(rt, c.doc, { now: c.exp.now, encounterId: c.exp.encounter ?? null })));
    const together = await Promise.all(
      [...cases, ...cases, ...cases].map(async (c) => JSON.stringify(await decide(rt, c.doc, { now: c.exp.now, encounterId: c.exp.encounter ?? null }))),
    );
    expect(together).toEqual([...alone, ...alone, ...alone]);
  });
});
