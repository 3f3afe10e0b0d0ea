/**
 * Properties of the whole evaluation (FHIR mapping + engine), checked with fast-check over generated
 * clinical cases. Where the clinical contract makes a naive property false, the property is stated
 * exactly as the contract allows, and the comment says why.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Observation, Resource } from 'fhir/r4.js';
import { ABBOTT, ROCHE, at, bundle, ecg, patient, run, runtime, timi, troponin } from '../support/cases.js';
import { decide } from '../../src/decide.js';
import { OUTCOME_CODES } from '../../src/engine/pathway.js';
import type { OutcomeCode } from '../../src/engine/types.js';

const RANK = new Map<OutcomeCode, number>(OUTCOME_CODES.map((o, i) => [o, i]));
const rank = (o: OutcomeCode): number => RANK.get(o) ?? 99;
/** a is at least as serious as b */
const atLeast = (a: OutcomeCode, b: OutcomeCode): boolean => rank(a) <= rank(b);

/** An exact decimal in ng/L as integer units of 10^-scale. */
const decimal = fc.record({ units: fc.integer({ min: 0, max: 200_000 }), scale: fc.integer({ min: 0, max: 2 }) });
const toNumber = (d: { units: number; scale: number }, extraScale = 0): number => Number(`${d.units}e-${d.scale + extraScale}`);

interface GenTrop {
  minutes: number;
  value: { units: number; scale: number };
  abbott: boolean;
}

const genTrop: fc.Arbitrary<GenTrop> = fc.record({
  minutes: fc.integer({ min: 0, max: 600 }),
  value: decimal,
  abbott: fc.boolean(),
});

const genCase = fc.record({
  ecg: fc.constantFrom('no-stemi-or-new-lbbb', 'stemi-or-new-lbbb', null),
  timi: fc.option(fc.integer({ min: 0, max: 7 }), { nil: null }),
  sex: fc.constantFrom<'female' | 'male' | 'other' | 'unknown'>('female', 'male', 'other', 'unknown'),
  troponins: fc.array(genTrop, { maxLength: 5 }),
  nowAfter: fc.integer({ min: 0, max: 300 }),
});

type Case = typeof genCase extends fc.Arbitrary<infer T> ? T : never;

function resourcesOf(c: Case, mutate?: (t: GenTrop, i: number) => Partial<Parameters<typeof troponin>[2]> & { value?: number }): Resource[] {
  const out: Resource[] = [patient(c.sex)];
  if (c.ecg !== null) out.push(ecg(c.ecg, 0, { id: 'ecg' }));
  if (c.timi !== null) out.push(timi(c.timi, 0, { id: 'timi' }));
  c.troponins.forEach((t, i) => {
    const m = mutate?.(t, i) ?? {};
    const { value, ...opts } = m;
    out.push(troponin(value ?? toNumber(t.value), t.minutes, { id: `t${i}`, assay: t.abbott ? ABBOTT : ROCHE, ...opts }));
  });
  return out;
}

const nowOf = (c: Case): number => Math.max(0, ...c.troponins.map((t) => t.minutes)) + c.nowAfter;

describe('properties of the evaluation', () => {
  it('totality: any input gets exactly one outcome and never an exception', async () => {
    const junk = fc.oneof(fc.anything(), fc.string(), fc.double(), fc.constant(null));
    const genObs = fc.record(
      {
        resourceType: fc.constantFrom('Observation', 'Observation', 'Patient', 'Condition'),
        id: fc.oneof(fc.string({ maxLength: 5 }), fc.constant(undefined)),
        status: fc.oneof(fc.constantFrom('final', 'amended', 'corrected', 'preliminary', 'registered', 'cancelled', 'entered-in-error', 'unknown'), junk),
        code: fc.oneof(
          fc.constant({ coding: [ROCHE] }),
          fc.constant({ coding: [ABBOTT] }),
          fc.constant({ coding: [{ system: 'http://loinc.org', code: '8601-7' }] }),
          fc.constant({ coding: [{ system: 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain', code: 'timi-risk-score' }] }),
          junk,
        ),
        effectiveDateTime: fc.oneof(fc.integer({ min: -2000, max: 2000 }).map((m) => at(m)), fc.constant('2026-03-14'), fc.constant('2026-03-14T10:00:00'), junk),
        issued: fc.oneof(fc.integer({ min: -2000, max: 2000 }).map((m) => at(m)), junk),
        valueQuantity: fc.oneof(
          fc.record({ value: fc.oneof(fc.double({ noNaN: false }), fc.integer()), comparator: fc.constantFrom('<', '<=', '>', '>=', 'ad', undefined), unit: fc.constantFrom('ng/L', 'ng/mL', 'pg/mL', 'U/L', 'µg/L', undefined), system: fc.constantFrom('http://unitsofmeasure.org', 'x', undefined), code: fc.constantFrom('ng/L', 'ng/mL', 'ug/L', 'mmol/L', '', undefined) }),
          junk,
        ),
        valueInteger: fc.oneof(fc.integer({ min: -2, max: 9 }), junk),
        valueCodeableConcept: fc.oneof(fc.constant({ coding: [{ system: 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain', code: 'no-stemi-or-new-lbbb' }] }), junk),
        dataAbsentReason: fc.oneof(fc.constant(undefined), junk),
        encounter: fc.oneof(fc.constant({ reference: 'Encounter/e1' }), fc.constant({ reference: 'http://x/Encounter/e2/_history/1' }), junk),
        identifier: fc.oneof(fc.constant([{ system: 's', value: 'v1' }]), junk),
        meta: fc.oneof(fc.record({ lastUpdated: fc.integer({ min: -2000, max: 2000 }).map((m) => at(m)) }), junk),
      },
      { requiredKeys: ['resourceType'] },
    );
    const rt = await runtime();
    await fc.assert(
      fc.asyncProperty(fc.array(genObs, { minLength: 1, maxLength: 8 }), fc.integer({ min: -100, max: 2500 }), fc.option(fc.constantFrom('e1', 'e2'), { nil: null }), async (resources, nowM, enc) => {
        const d = await decide(rt, resources, { now: at(nowM), encounterId: enc });
        expect(OUTCOME_CODES).toContain(d.outcome);
        expect(d.summary.length).toBeLessThan(140);
      }),
      { numRuns: 300 },
    );
  });

  it('order independence: any order of the same resources gives a byte-identical decision', async () => {
    await fc.assert(
      fc.asyncProperty(genCase, fc.integer(), async (c, seed) => {
        const rs = resourcesOf(c);
        const shuffled = fc.sample(fc.shuffledSubarray(rs, { minLength: rs.length, maxLength: rs.length }), { numRuns: 1, seed })[0] ?? rs;
        const a = JSON.stringify(await run(rs, nowOf(c)));
        const b = JSON.stringify(await run(shuffled, nowOf(c)));
        expect(b).toBe(a);
      }),
      { numRuns: 150 },
    );
  });

  it('unit equivalence: the same values in ng/L, pg/mL, ng/mL and ug/L give the same outcome', async () => {
    await fc.assert(
      fc.asyncProperty(genCase, async (c) => {
        const now = nowOf(c);
        const ngL = await run(resourcesOf(c), now);
        const pgMl = await run(resourcesOf(c, () => ({ unit: 'pg/mL' })), now);
        const ngMl = await run(resourcesOf(c, (t) => ({ unit: 'ng/mL', value: toNumber(t.value, 3) })), now);
        const ugL = await run(resourcesOf(c, (t) => ({ unit: 'ug/L', value: toNumber(t.value, 3) })), now);
        expect([pgMl.outcome, ngMl.outcome, ugL.outcome]).toEqual([ngL.outcome, ngL.outcome, ngL.outcome]);
        const values = (d: typeof ngL) => [d.troponin.baseline?.valueNgL, ...d.troponin.later.map((l) => l.valueNgL)];
        expect([values(pgMl), values(ngMl), values(ugL)]).toEqual([values(ngL), values(ngL), values(ngL)]);
      }),
      { numRuns: 150 },
    );
  });

  it('censoring: replacing a value by a censored range containing it never gives a less serious outcome', async () => {
    const comparator = fc.constantFrom('<', '<=', '>', '>=');
    await fc.assert(
      fc.asyncProperty(genCase.filter((c) => c.troponins.length > 0), fc.nat(), comparator, fc.integer({ min: 0, max: 5000 }), async (c, pick, cmp, slackUnits) => {
        const i = pick % c.troponins.length;
        const v = toNumber((c.troponins[i] as GenTrop).value);
        const slack = slackUnits / 100;
        // The censored bound keeps v inside the range it stands for.
        const bound = cmp === '<' ? v + slack + 0.01 : cmp === '<=' ? v + slack : cmp === '>' ? Math.max(0, v - slack - 0.01) : Math.max(0, v - slack);
        if ((cmp === '>' && !(bound < v)) || (cmp === '>=' && !(bound <= v))) return;
        const bnum = Number(bound.toFixed(2));
        if ((cmp === '<' && !(bnum > v)) || (cmp === '<=' && !(bnum >= v)) || (cmp === '>' && !(bnum < v)) || (cmp === '>=' && !(bnum <= v))) return;
        const now = nowOf(c);
        const exact = await run(resourcesOf(c), now);
        const censored = await run(resourcesOf(c, (_t, j) => (j === i ? { comparator: cmp, value: bnum } : {})), now);
        // Rule 2: a value that may be above the URL settles the TIMI branch, so a needs-input for TIMI
        // alone is answered (the troponin branch is the more serious one). Everything else: never less.
        const timiAnswered = exact.outcome === 'needs-input' && exact.missing.includes('timi') && !censored.missing.includes('timi');
        if (!timiAnswered) expect(atLeast(censored.outcome, exact.outcome), `${exact.outcome} -> ${censored.outcome}`).toBe(true);
        else expect(censored.path.edges).toContain('timi-raised-marker');
      }),
      { numRuns: 200 },
    );
  });

  it('uninterpretable: a result that becomes unreadable gives at least indeterminate, and never less than before unless the lost value was what made it consistent with MI', async () => {
    // The contract (section 2): unreadable data "give needs-input or indeterminate as those rules say,
    // never a less serious outcome, and the governing rule does not turn them into anything else". So a
    // retest that showed MI and becomes unreadable gives indeterminate: the value is no longer known.
    await fc.assert(
      fc.asyncProperty(genCase.filter((c) => c.troponins.length > 0), fc.nat(), fc.constantFrom('U/L', 'µg/L', 'mmol/L'), async (c, pick, unit) => {
        const i = pick % c.troponins.length;
        const now = nowOf(c);
        const before = await run(resourcesOf(c), now);
        const after = await run(resourcesOf(c, (_t, j) => (j === i ? { unit } : {})), now);
        expect(atLeast(after.outcome, 'indeterminate'), `after ${after.outcome}`).toBe(true);
        if (before.outcome !== 'consistent-with-mi') expect(atLeast(after.outcome, before.outcome), `${before.outcome} -> ${after.outcome}`).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('adding a result never gives a less serious outcome, except when it supplies what the pathway was waiting for', async () => {
    // Within one 24-hour episode. Adding the retest turns awaiting-retest into its classification,
    // which may be not-consistent-with-mi; adding a baseline (or a raised marker that settles TIMI)
    // answers a needs-input. That is the pathway completing, not uncertainty.
    await fc.assert(
      fc.asyncProperty(genCase, genTrop, async (c, extra) => {
        // A result added before the baseline becomes the baseline (rule 4) and changes every comparison
        // (a different assay then makes the others indeterminate, rule 9): the property is about results
        // added at or after the baseline.
        if (c.troponins.length > 0 && extra.minutes < Math.min(...c.troponins.map((t) => t.minutes))) return;
        const now = nowOf({ ...c, troponins: [...c.troponins, extra] });
        const before = await run(resourcesOf(c), now);
        const after = await run(resourcesOf({ ...c, troponins: [...c.troponins, extra] }), now);
        const completes = before.outcome === 'awaiting-retest' || (before.outcome === 'needs-input' && before.missing.some((m) => m === 'baseline-troponin' || m === 'timi'));
        if (!completes) expect(atLeast(after.outcome, before.outcome), `${before.outcome} -> ${after.outcome}`).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('a retest that rises 20% or more to above the URL is always consistent with MI', async () => {
    await fc.assert(
      fc.asyncProperty(decimal, fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 180, max: 600 }), fc.boolean(), async (b, extraUnits, minutes, abbott) => {
        const base = Math.max(toNumber(b), abbott ? 2 : 5); // at or above the LoD
        const url = abbott ? 26.2 : 14;
        const retest = Number((Math.max(base * 1.2, url) + extraUnits / 100 + 0.01).toFixed(2));
        if (!(retest > url) || !(retest * 100 >= base * 120)) return;
        const assay = abbott ? ABBOTT : ROCHE;
        const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), timi(2, 0), troponin(base, 0, { assay }), troponin(retest, minutes, { assay })], minutes + 5);
        expect(d.outcome).toBe('consistent-with-mi');
      }),
      { numRuns: 200 },
    );
  });

  it('the 20% boundary is exact: 5 x |retest - baseline| >= baseline, with no rounding', async () => {
    // Baselines above the URL, so the change alone decides. Exactly 20% up or down is a change; a
    // hundredth less is not.
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1500, max: 100_000 }), fc.boolean(), async (units, up) => {
        const base = units / 100; // 15.00 .. 1000.00 ng/L: above the Roche URL
        const exact = Number((up ? base * 1.2 : base * 0.8).toFixed(3));
        if (Math.abs(exact - base) * 5 !== base && Number(String(Math.abs(exact - base) * 5)) !== base) {
          // Only use baselines whose 20% is an exact decimal with at most 3 places.
          if (!Number.isInteger(units * (up ? 120 : 80) / 100 * 10)) return;
        }
        const near = Number((up ? exact - 0.001 : exact + 0.001).toFixed(3));
        const rs = (r: number): Resource[] => [patient(), ecg('no-stemi-or-new-lbbb', 0), timi(2, 0), troponin(base, 0), troponin(r, 180)];
        const atBoundary = await run(rs(exact), 200);
        const inside = await run(rs(near), 200);
        if (Number((exact * 1000).toFixed(0)) * 5 === Number((base * 1000).toFixed(0)) * (up ? 6 : 4)) {
          expect(atBoundary.outcome).toBe('consistent-with-mi');
          expect(inside.outcome).toBe('not-consistent-with-mi');
        }
      }),
      { numRuns: 200 },
    );
  });

  it('13 -> 15.6 ng/L is exactly a 20% change, and 0.0132 ng/mL is exactly 13.2 ng/L', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), timi(2, 0), troponin(0.013, 0, { unit: 'ng/mL' }), troponin(0.0156, 180, { unit: 'ug/L' })], 200);
    expect(d.outcome).toBe('consistent-with-mi');
    expect(d.troponin.later[0]?.changePercent).toBe('+20');
    const e = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), timi(2, 0), troponin(0.0132, 0, { unit: 'ng/mL' })], 10);
    expect(e.troponin.baseline?.valueNgL).toBe('13.2');
  });
});

export type { Observation };
void bundle;
