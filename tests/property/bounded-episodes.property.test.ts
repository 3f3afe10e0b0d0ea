/**
 * Rule 16 and the weighing of several baselines, as properties over generated cases:
 * - adding exact duplicates (same assay, value, unit, comparator, draw time and status; another id and
 *   identifier) never changes the decision;
 * - the indexed weighing over many candidate baselines (src/engine/baselines.ts) reaches exactly the
 *   cells that weighing every pair would (ranges.ts `reachableCells`), for point and censored values.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Big } from 'big.js';
import type { Resource } from 'fhir/r4.js';
import { ABBOTT, ROCHE, ecg, patient, run, timi, troponin } from '../support/cases.js';
import { BaselineSet } from '../../src/engine/baselines.js';
import { type Interval, reachableCells } from '../../src/engine/ranges.js';

const genTrop = fc.record({
  minutes: fc.integer({ min: 0, max: 400 }),
  tenths: fc.integer({ min: 0, max: 600 }),
  comparator: fc.constantFrom<string | undefined>(undefined, undefined, undefined, '<', '>'),
  abbott: fc.boolean(),
  status: fc.constantFrom('final', 'final', 'amended', 'preliminary'),
});

describe('properties of bounded episodes (rule 16)', () => {
  it('adding exact duplicates never changes the decision', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(genTrop, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        fc.option(fc.integer({ min: 0, max: 7 }), { nil: null }),
        fc.integer({ min: 0, max: 300 }),
        async (trops, copies, score, after) => {
          const base: Resource[] = [patient(), ecg('no-stemi-or-new-lbbb', 0, { id: 'ecg' }), ...(score === null ? [] : [timi(score, 0, { id: 'timi' })])];
          const make = (t: (typeof trops)[number], id: string): Resource =>
            troponin(t.tenths / 10, t.minutes, { id, identifier: id, status: t.status, assay: t.abbott ? ABBOTT : ROCHE, ...(t.comparator === undefined ? {} : { comparator: t.comparator }) });
          const original = [...base, ...trops.map((t, i) => make(t, `t${i}`))];
          const duplicated = [...original, ...copies.map((c, k) => make(trops[c % trops.length]!, `copy${k}`))];
          const now = Math.max(...trops.map((t) => t.minutes)) + after;
          const a = await run(original, now);
          const b = await run(duplicated, now);
          // Which of two exact duplicates stands is decided by the canonical order (rule 15), so references may
          // differ, and so may which of several baselines drawn at one time is shown first.
          const essentials = (d: typeof a) => ({
            outcome: d.outcome,
            indicator: d.indicator,
            summary: d.summary,
            missing: d.missing,
            retestDue: d.retestDue,
            baseline: d.troponin.baseline?.drawTime ?? null,
            later: d.troponin.later.map((l) => JSON.stringify([l.drawTime, l.role, l.outcome, l.valueNgL])).sort(),
            path: d.path,
            results: d.troponin.summary?.results,
          });
          expect(essentials(b)).toEqual(essentials(a));
          expect(b.troponin.summary?.duplicates).toBe((a.troponin.summary?.duplicates ?? 0) + copies.length);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('the indexed weighing of many baselines reaches exactly the cells of weighing every pair', () => {
    const value = fc.integer({ min: 2, max: 60 }).map((n) => new Big(n).div(2));
    const interval: fc.Arbitrary<Interval> = fc.oneof(
      value.map((v) => ({ lo: v, loOpen: false, hi: v, hiOpen: false })),
      fc.tuple(value, value, fc.boolean(), fc.boolean()).map(([a, b, lo, hi]) => (a.lte(b) ? { lo: a, loOpen: lo && a.lt(b), hi: b, hiOpen: hi && a.lt(b) } : { lo: b, loOpen: false, hi: a, hiOpen: false })),
      value.map((v) => ({ lo: v, loOpen: true, hi: null, hiOpen: true })),
    );
    const limit = new Big(14);
    const threshold = new Big(20);
    const key = (c: { baselineVsLimit: string; laterVsLimit: string; direction: string; changeReachesThreshold: boolean }): string => `${c.baselineVsLimit}|${c.laterVsLimit}|${c.direction}|${c.changeReachesThreshold}`;
    fc.assert(
      fc.property(fc.array(interval, { minLength: 1, maxLength: 12 }), interval, fc.option(fc.nat(), { nil: null }), (baselines, r, skip) => {
        const except = skip === null ? null : skip % baselines.length;
        const set = new BaselineSet(baselines);
        const indexed = new Set(set.cells(r, limit, threshold, except).map(key));
        const pairwise = new Set(baselines.flatMap((b, i) => (i === except ? [] : reachableCells(b, r, limit, threshold).map(key))));
        expect([...indexed].sort()).toEqual([...pairwise].sort());
      }),
      { numRuns: 1000 },
    );
  });
});
