/**
 * The changes of contract version 1.1 (chart2-pathway.md, "Version 1.1"): each makes an outcome more
 * serious, never less, or settles a reading 1.0 left open. Real FHIR resources through the real mapping
 * and engine.
 */
import { describe, expect, it } from 'vitest';
import type { Resource } from 'fhir/r4.js';
import { ABBOTT, at, ecg, patient, run, timi, troponin, workedUp } from '../support/cases.js';

describe('contract 1.1, rule 12: non-final results can only escalate', () => {
  it('a preliminary retest that would be consistent with MI gives consistent-with-mi', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(50, 180, { status: 'preliminary' })], 200);
    expect(d.outcome).toBe('consistent-with-mi');
    expect(d.trace.some((s) => s.rule === '12' && /as if final/.test(s.text))).toBe(true);
  });
  it('a preliminary retest that would reassure does not: awaiting-retest stands, due at baseline + 3 h', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 180, { status: 'preliminary' })], 200);
    expect(d.outcome).toBe('awaiting-retest');
    expect(d.retestDue).toBe(at(180));
  });
  it('a preliminary baseline alone still gives needs-input (baseline troponin)', async () => {
    const d = await run([...workedUp(), troponin(5, 0, { status: 'preliminary' })], 10);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['baseline-troponin']);
  });
  it('a preliminary TIMI alone still gives needs-input (TIMI)', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', -10), timi(0, -5, { status: 'preliminary' }), troponin(5, 0), troponin(5, 180)], 200);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['timi']);
  });
  // A preliminary raised baseline alone: its raised marker (TIMI's seventh item) may put the case on the
  // troponin branch, but it cannot stand for the baseline there, whatever the recorded TIMI score: a lower
  // TIMI never gives a less serious outcome (rules 0, 2 and 12).
  const context = (score: number | null): Resource[] => [patient(), ecg('no-stemi-or-new-lbbb', -10), ...(score === null ? [] : [timi(score, -5)])];
  for (const [score, missing] of [
    [0, ['baseline-troponin']],
    [3, ['baseline-troponin']],
    [null, ['timi', 'baseline-troponin']],
  ] as const) {
    it(`a preliminary raised baseline alone, TIMI ${score ?? 'not recorded'}: needs-input (${missing.join(', ')}), never awaiting-retest`, async () => {
      for (const tn of [troponin(20, 0, { status: 'preliminary' }), troponin(30, 0, { status: 'preliminary', assay: ABBOTT })]) {
        const d = await run([...context(score), tn], 10, { settings: { sexSpecificUrls: true } });
        expect(d.outcome).toBe('needs-input');
        expect(d.missing).toEqual(missing);
        expect(d.retestDue).toBeUndefined();
      }
    });
  }
  it('a preliminary raised baseline beside a final TIMI 0: the trace says the baseline is still needed (rule 12)', async () => {
    const d = await run([...context(0), troponin(20, 0, { status: 'preliminary' })], 10);
    expect(d.missingDetails.map((m) => m.item)).toEqual(['baseline-troponin']);
    expect(d.trace.some((s) => s.rule === '12' && /without the non-final results; needs baseline troponin/.test(s.text))).toBe(true);
  });
  it('a preliminary raised retest beside a final baseline still escalates past TIMI 0: nothing is missing', async () => {
    const d = await run([...context(0), troponin(5, 0), troponin(50, 180, { status: 'preliminary' })], 200);
    expect(d.outcome).toBe('consistent-with-mi');
    expect(d.missing).toEqual([]);
  });
  it('a registered result with no value yet is pending: listed, not uninterpretable', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(null, 180, { status: 'registered' })], 200);
    expect(d.outcome).toBe('awaiting-retest');
  });
  it('a later non-final version never supersedes a used version: both are readings', async () => {
    const final = troponin(5, 180, { identifier: 'R9', lastUpdated: '2026-03-14T12:10:00Z', id: 'f1' });
    const prelim = troponin(50, 180, { identifier: 'R9', lastUpdated: '2026-03-14T12:20:00Z', status: 'preliminary', id: 'f2' });
    expect((await run([...workedUp(), troponin(5, 0), final, prelim], 200)).outcome).toBe('consistent-with-mi');
    const reassuring = troponin(5.5, 180, { identifier: 'R8', lastUpdated: '2026-03-14T12:20:00Z', status: 'preliminary', id: 'g2' });
    const rising = troponin(50, 180, { identifier: 'R8', lastUpdated: '2026-03-14T12:10:00Z', id: 'g1' });
    expect((await run([...workedUp(), troponin(5, 0), rising, reassuring], 200)).outcome).toBe('consistent-with-mi');
  });
});

describe('contract 1.1, rule 12: versions that cannot be ordered are all readings', () => {
  it('two unordered versions of a retest: the most serious reading counts', async () => {
    const a = troponin(50, 180, { identifier: 'R3', id: 'x1' });
    const b = troponin(6, 180, { identifier: 'R3', id: 'x2' });
    const d = await run([...workedUp(), troponin(5, 0), a, b], 200);
    expect(d.outcome).toBe('consistent-with-mi');
    expect(d.trace.some((s) => s.rule === '12' && /readings/.test(s.text))).toBe(true);
  });
  it('two unordered reassuring versions are not indeterminate', async () => {
    const a = troponin(5, 180, { identifier: 'R5', id: 'z1' });
    const b = troponin(5.5, 180, { identifier: 'R5', id: 'z2' });
    expect((await run([...workedUp(), troponin(5, 0), a, b], 200)).outcome).toBe('not-consistent-with-mi');
  });
  it('an unordered void version is a reading in which the result is absent', async () => {
    const a = troponin(5, 180, { identifier: 'R6', id: 'u1' });
    const b = troponin(5, 180, { identifier: 'R6', id: 'u2', status: 'entered-in-error' });
    const d = await run([...workedUp(), troponin(5, 0), a, b], 200);
    expect(d.outcome).toBe('awaiting-retest');
  });
});

describe('contract 1.1, rule 12: a shared identifier with different draw times is two results', () => {
  it('baseline and retest under one identifier are both weighed, and the trace notes the shared identifier', async () => {
    const b = troponin(5, 0, { identifier: 'S1', lastUpdated: '2026-03-14T09:30:00Z', id: 's1' });
    const r = troponin(50, 180, { identifier: 'S1', lastUpdated: '2026-03-14T12:30:00Z', id: 's2' });
    const d = await run([...workedUp(), b, r], 200);
    expect(d.outcome).toBe('consistent-with-mi');
    expect(d.trace.some((s) => s.rule === '12' && /share an identifier/.test(s.text) && /different draw times/.test(s.text))).toBe(true);
  });
});

describe('contract 1.1, rule 1: an ECG meaning ST-elevation or new LBBB can only escalate', () => {
  it('counts when preliminary', async () => {
    const d = await run([patient(), ecg('stemi-or-new-lbbb', 0, { status: 'preliminary' }), timi(2, 0), troponin(5, 0)], 10);
    expect(d.outcome).toBe('acute-mi-pathway');
  });
  it('counts when drawn more than 5 minutes after the evaluation time', async () => {
    const d = await run([...workedUp(), ecg('stemi-or-new-lbbb', 30), troponin(5, 0)], 10);
    expect(d.outcome).toBe('acute-mi-pathway');
  });
  it('counts when recorded in another encounter', async () => {
    const d = await run([...workedUp(), ecg('stemi-or-new-lbbb', 0, { encounter: 'other' }), troponin(5, 0, { encounter: 'enc1' })], 10, { encounter: 'enc1' });
    expect(d.outcome).toBe('acute-mi-pathway');
  });
  it('does not count when drawn more than 24 hours before the evaluation time in another encounter', async () => {
    const d = await run([...workedUp(), ecg('stemi-or-new-lbbb', -24 * 60 - 1, { encounter: 'other' }), troponin(5, 0, { encounter: 'enc1' })], 10, { encounter: 'enc1' });
    expect(d.outcome).toBe('awaiting-retest');
  });
  it('a future ECG without ST-elevation is still unusable', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 30), timi(2, 0), troponin(5, 0)], 10);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['ecg']);
  });
});

describe('contract 1.1, rule 3: a troponin whose only time is after the episode end', () => {
  it('is in the episode and uninterpretable: at least indeterminate', async () => {
    const late = troponin(5, 0, { effective: null, issued: at(60) });
    const d = await run([...workedUp(), troponin(5, 0), late], 10);
    expect(d.outcome).toBe('indeterminate');
    expect(d.inputs.find((i) => i.ref === `Observation/${late.id ?? ''}`)?.use).toBe('uninterpretable');
  });
});

describe('contract 1.1, rule 11: "<0" allows no value', () => {
  it('is uninterpretable, while "<=0" is the LoD', async () => {
    expect((await run([...workedUp(), troponin(5, 0), troponin(0, 60, { comparator: '<' })], 200)).outcome).toBe('indeterminate');
    expect((await run([...workedUp(), troponin(5, 0), troponin(0, 180, { comparator: '<=' })], 200)).outcome).toBe('not-consistent-with-mi');
  });
});
