/**
 * A json-rules-engine Engine keeps per-run state on its rules, so each evaluation runs on an Engine no
 * other evaluation is using (pooled per pathway). Overlapping evaluations must not lose or mix events.
 */
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decide.js';
import { runtime } from '../support/cases.js';
import { allFixtures } from '../support/fixtures.js';

describe('overlapping evaluations', () => {
  it('every fixture evaluated all at once gives the same decision as alone', async () => {
    const rt = await runtime();
    const cases = allFixtures().filter((c) => c.expected.settings === undefined);
    const once = (c: (typeof cases)[number]) => decide(rt, c.doc, { now: c.expected.now, encounterId: c.expected.encounter ?? null });
    const alone: string[] = [];
    for (const c of cases) alone.push(JSON.stringify(await once(c)));
    const together = await Promise.all([...cases, ...cases, ...cases].map(async (c) => JSON.stringify(await once(c))));
    expect(together).toEqual([...alone, ...alone, ...alone]);
  });
});
