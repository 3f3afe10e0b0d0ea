/**
 * Rule 12 (contract 1.1): versions of one result that cannot be ordered are each a reading, and the most
 * serious counts. The readings are bounded (MAX_READINGS, src/engine/readings.ts): past the bound every
 * unordered version is read at once and each such result is also ambiguous, so the outcome is at least
 * indeterminate and never less serious than any reading. docs/pathway.md (rule 12) and the hazard log
 * (H-07, H-08) state this; these cases hold them to it. Real FHIR resources through the real engine.
 */
import { describe, expect, it } from 'vitest';
import { run, troponin, workedUp } from '../support/cases.js';

/** `n` retests, each with two versions that cannot be ordered (no meta.lastUpdated), of `a` and `b` ng/L. */
function unordered(n: number, a: number, b: number): ReturnType<typeof troponin>[] {
  const out: ReturnType<typeof troponin>[] = [];
  for (let i = 0; i < n; i++) {
    out.push(troponin(a, 180 + i, { identifier: `U${i}`, id: `u${i}a` }), troponin(b, 180 + i, { identifier: `U${i}`, id: `u${i}b` }));
  }
  return out;
}

describe('rule 12: versions that cannot be ordered, within and past the readings bound', () => {
  it('within the bound (4 results, 16 readings) reassuring versions stay reassuring', async () => {
    const d = await run([...workedUp(), troponin(5, 0), ...unordered(4, 5, 5.5)], 200);
    expect(d.outcome).toBe('not-consistent-with-mi');
  });
  it('past the bound (5 results, 32 readings) they are read at once and ambiguous: at least indeterminate', async () => {
    const d = await run([...workedUp(), troponin(5, 0), ...unordered(5, 5, 5.5)], 200);
    expect(d.outcome).toBe('indeterminate');
    expect(d.trace.some((s) => s.rule === '12' && /more readings than the pathway weighs one by one/.test(s.text))).toBe(true);
  });
  it('past the bound a version consistent with MI still counts', async () => {
    const d = await run([...workedUp(), troponin(5, 0), ...unordered(5, 5, 50)], 200);
    expect(d.outcome).toBe('consistent-with-mi');
  });
});
