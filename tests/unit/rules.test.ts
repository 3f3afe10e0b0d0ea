/**
 * Every numbered rule of the clinical contract (chart2-pathway.md, section 4), as named clinical cases
 * run through the real FHIR mapping and the real engine. docs/pathway.md points here rule by rule.
 */
import { describe, expect, it } from 'vitest';
import type { Resource } from 'fhir/r4.js';
import { ABBOTT, PRODUCT, SNOMED, at, ecg, haemolysed, patient, run, runtime, timi, troponin, workedUp } from '../support/cases.js';
import { decide } from '../../src/decide.js';

describe('rule 0: assembly', () => {
  it('a missing ECG does not hide troponins already consistent with MI', async () => {
    const d = await run([patient(), timi(2, 0), troponin(10, 0), troponin(30, 180)], 200);
    expect(d.outcome).toBe('consistent-with-mi');
    expect(d.missing).toEqual(['ecg']);
  });
  it('a TIMI of 0 does not hide an indeterminate troponin pattern', async () => {
    // 13 -> 13 at the URL... use below-URL rise that stays below: indeterminate, with no raised marker
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), timi(0, 0), troponin(6, 0), troponin(9, 180)], 200);
    expect(d.outcome).toBe('indeterminate');
  });
  it('needs-input lists everything missing on the path: ECG, TIMI and baseline', async () => {
    const d = await run([patient()], 0);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['ecg', 'timi', 'baseline-troponin']);
    expect(d.missingDetails.map((m) => m.item)).toEqual(['ecg', 'timi', 'baseline-troponin']);
  });
  it('needs-input does not ask for a baseline when TIMI is 0', async () => {
    const d = await run([patient(), timi(0, 0)], 10);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['ecg']);
  });
  it('needs-input does not ask for TIMI when a raised marker settles it', async () => {
    const d = await run([patient(), troponin(40, 0)], 10);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['ecg']);
    expect(d.retestDue).toBe(at(180));
  });
  it('needs-input outranks a reassuring troponin pattern', async () => {
    const d = await run([patient(), timi(3, 0), troponin(6, 0), troponin(6, 180)], 200);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['ecg']);
  });
});

describe('rule 1: ECG', () => {
  it('ST-elevation or new LBBB gives the acute MI pathway whatever else is known', async () => {
    const d = await run([patient(), ecg('stemi-or-new-lbbb', 0), timi(0, 0), troponin(3, 0), troponin(3, 180)], 200);
    expect(d.outcome).toBe('acute-mi-pathway');
    expect(d.indicator).toBe('critical');
  });
  it('SNOMED CT acute STEMI and ST elevation codes mean ST-elevation', async () => {
    for (const code of ['401303003', '76388001']) {
      const d = await run([patient(), ecg([{ system: SNOMED, code }], 0)], 10);
      expect(d.outcome).toBe('acute-mi-pathway');
    }
  });
  it('no usable ECG gives needs-input (ECG)', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0, { status: 'preliminary' }), timi(2, 0), troponin(5, 0), troponin(5, 180)], 200);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['ecg']);
    expect(d.missingDetails[0]?.text).toMatch(/preliminary/);
  });
  it('a preliminary ECG showing ST-elevation can only escalate (contract 1.1, rules 1 and 12): acute MI pathway', async () => {
    const d = await run([patient(), ecg('stemi-or-new-lbbb', 0, { status: 'preliminary' })], 10);
    expect(d.outcome).toBe('acute-mi-pathway');
  });
  it('an ECG with an unrecognised code is unusable', async () => {
    const d = await run([patient(), ecg([{ system: SNOMED, code: '164854000' }], 0), timi(0, 0)], 10);
    expect(d.missing).toEqual(['ecg']);
  });
  it('LBBB of unknown age gives needs-input (whether it is new)', async () => {
    const d = await run([patient(), ecg([{ system: SNOMED, code: '164909002' }], 0), timi(2, 0), troponin(5, 0), troponin(5, 180)], 200);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['ecg-lbbb-new']);
  });
  it('LBBB of unknown age is answered by a product classification drawn at or after it', async () => {
    const d = await run([patient(), ecg([{ system: SNOMED, code: '164909002' }], 0), ecg('no-stemi-or-new-lbbb', 20), timi(2, 0), troponin(5, 0), troponin(5, 180)], 200);
    expect(d.outcome).toBe('not-consistent-with-mi');
  });
  it('the same ECG carrying the product classification answers the LBBB question', async () => {
    const both = [{ system: SNOMED, code: '164909002' }, { system: PRODUCT, code: 'no-stemi-or-new-lbbb' }];
    const d = await run([patient(), ecg(both, 0), timi(2, 0), troponin(5, 0), troponin(5, 180)], 200);
    expect(d.outcome).toBe('not-consistent-with-mi');
  });
  it('a product classification drawn before the LBBB does not answer it', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), ecg([{ system: SNOMED, code: '164909002' }], 30), timi(2, 0), troponin(5, 0), troponin(5, 180)], 200);
    expect(d.missing).toEqual(['ecg-lbbb-new']);
  });
  it('one ECG with codings of different meanings counts as the most serious', async () => {
    const both = [{ system: PRODUCT, code: 'no-stemi-or-new-lbbb' }, { system: SNOMED, code: '76388001' }];
    const d = await run([patient(), ecg(both, 0)], 10);
    expect(d.outcome).toBe('acute-mi-pathway');
  });
});

describe('rule 2: TIMI', () => {
  it('TIMI 0 gives the low-risk pathway', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), timi(0, 0)], 10);
    expect(d.outcome).toBe('low-risk-pathway');
  });
  it('TIMI 1 goes to the troponin branch (the chart leaves it undefined)', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), timi(1, 0), troponin(5, 0)], 10);
    expect(d.outcome).toBe('awaiting-retest');
    expect(d.path.edges).toContain('timi-one');
  });
  it('the highest of several usable scores counts', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), timi(0, 0), timi(3, 5)], 10);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['baseline-troponin']);
  });
  it('a troponin above the URL makes TIMI at least 1 even when 0 was recorded', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), timi(0, 0), troponin(20, 0)], 10);
    expect(d.outcome).toBe('awaiting-retest');
    expect(d.path.edges).toContain('timi-raised-marker');
  });
  it('a troponin exactly at the URL is not a raised marker', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), timi(0, 0), troponin(14, 0)], 10);
    expect(d.outcome).toBe('low-risk-pathway');
  });
  it('a censored troponin that may be above the URL is a raised marker', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), timi(0, 0), troponin(20, 0, { comparator: '<' })], 10);
    expect(d.path.edges).toContain('timi-raised-marker');
  });
  it('a TIMI score outside 0 to 7 is unusable', async () => {
    for (const bad of [8, -1, 2.5, '2']) {
      const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 0), timi(bad, 0), troponin(5, 0)], 10);
      expect(d.missing).toEqual(['timi']);
    }
  });
});

describe('rule 3: episode', () => {
  it('results from a previous attendance do not count', async () => {
    // An old raised troponin 30 h before the current baseline.
    const d = await run([...workedUp(), troponin(50, -30 * 60), troponin(5, 0), troponin(5, 180)], 200);
    expect(d.outcome).toBe('not-consistent-with-mi');
    expect(d.inputs.find((i) => i.use === 'outside-episode')).toBeDefined();
  });
  it('the episode is anchored on the latest troponin so results do not age out', async () => {
    // Evaluated 25 h after the baseline: the baseline is still in the episode because the retest anchors it.
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 180)], 25 * 60);
    expect(d.outcome).toBe('not-consistent-with-mi');
    expect(d.troponin.baseline?.drawTime).toBe(at(0));
  });
  it('a result drawn exactly 24 h before the anchor is in the episode (inclusive)', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 24 * 60 - 10), timi(2, 24 * 60 - 5), troponin(40, 0), troponin(5, 24 * 60)], 24 * 60 + 10);
    expect(d.troponin.baseline?.valueNgL).toBe('40');
  });
  it('a result drawn just over 24 h before the anchor is not', async () => {
    const d = await run([patient(), ecg('no-stemi-or-new-lbbb', 24 * 60 - 10), timi(2, 24 * 60 - 5), troponin(40, -1), troponin(5, 24 * 60)], 24 * 60 + 10);
    expect(d.troponin.baseline?.valueNgL).toBe('5');
  });
  it('observations of another encounter do not count when the request names one', async () => {
    const d = await run([...workedUp(), troponin(50, 0, { encounter: 'old' }), troponin(5, 0, { encounter: 'e1' }), troponin(5, 180)], 200, { encounter: 'e1' });
    expect(d.outcome).toBe('not-consistent-with-mi');
    expect(d.inputs.filter((i) => i.use === 'other-encounter')).toHaveLength(1);
  });
  it('a troponin drawn more than 5 minutes after the evaluation time is uninterpretable', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 200)], 190);
    expect(d.outcome).toBe('indeterminate');
  });
  it('a troponin drawn up to 5 minutes after the evaluation time counts (clocks differ)', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 185)], 180);
    expect(d.outcome).toBe('not-consistent-with-mi');
  });
  it('an ECG with a time of day but no time zone is unusable', async () => {
    const e = ecg('stemi-or-new-lbbb', 0) as unknown as Record<string, unknown>;
    e['effectiveDateTime'] = '2026-03-14T09:00:00';
    const d = await run([patient(), e as never, timi(2, 0), troponin(5, 0)], 10);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['ecg']);
  });
  it('an ECG with no draw time is timed by its issued time', async () => {
    const e = ecg('stemi-or-new-lbbb', 0) as unknown as Record<string, unknown>;
    delete e['effectiveDateTime'];
    e['issued'] = at(2);
    const d = await run([patient(), e as never], 10);
    expect(d.outcome).toBe('acute-mi-pathway');
  });
  it('a troponin with no draw time but an issued time in the episode is uninterpretable, never dropped', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 180), troponin(80, 0, { effective: null, issued: at(100) })], 200);
    expect(d.outcome).toBe('indeterminate');
  });
});

describe('rule 4: baseline', () => {
  it('the baseline is the earliest usable result', async () => {
    const d = await run([...workedUp(), troponin(8, 180), troponin(5, 0)], 200);
    expect(d.troponin.baseline?.valueNgL).toBe('5');
  });
  it('uninterpretable results are skipped when choosing it (and still count)', async () => {
    const d = await run([...workedUp(), troponin(5, -10, { unit: 'U/L' }), troponin(5, 0), troponin(5, 180)], 200);
    expect(d.troponin.baseline?.valueNgL).toBe('5');
    expect(d.outcome).toBe('indeterminate');
  });
  it('two usable results drawn at the same earliest time: the governing rule applies over both', async () => {
    // 10 or 13 as baseline; retest 15.6: from 13 it is +20% (a change) to above the URL -> consistent.
    const d = await run([...workedUp(), troponin(10, 0), troponin(13, 0), troponin(15.6, 180)], 200);
    expect(d.outcome).toBe('consistent-with-mi');
  });
  it('no usable result: needs-input (baseline troponin)', async () => {
    const d = await run([...workedUp()], 10);
    expect(d.outcome).toBe('needs-input');
    expect(d.missing).toEqual(['baseline-troponin']);
  });
});

describe('rule 5: retest timing', () => {
  it('a result drawn 2 h 59 min after the baseline is not the retest', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 179)], 185);
    expect(d.outcome).toBe('awaiting-retest');
  });
  it('a result drawn exactly 3 h after the baseline is the retest', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 180)], 185);
    expect(d.outcome).toBe('not-consistent-with-mi');
  });
  it('a date without a time of day is no draw time', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 180, { effective: { effectiveDateTime: '2026-03-14' } })], 200);
    expect(d.outcome).toBe('indeterminate');
  });
  it('effectivePeriod.start and effectiveInstant are draw times; issued is not', async () => {
    const d = await run([...workedUp(), troponin(5, 0, { effective: { effectiveInstant: at(0) } }), troponin(5, 0, { effective: { effectivePeriod: { start: at(180) } }, issued: at(0) })], 200);
    expect(d.outcome).toBe('not-consistent-with-mi');
  });
});

describe('rule 6: no retest yet', () => {
  it('awaiting-retest with the due time at baseline + 3 h', async () => {
    const d = await run([...workedUp(), troponin(5, 0)], 60);
    expect(d.outcome).toBe('awaiting-retest');
    expect(d.retestDue).toBe(at(180));
    expect(d.indicator).toBe('info');
  });
  it('overdue once the evaluation time is past the due time: a warning', async () => {
    const d = await run([...workedUp(), troponin(5, 0)], 181);
    expect(d.outcome).toBe('awaiting-retest');
    expect(d.retestOverdue).toBe(true);
    expect(d.indicator).toBe('warning');
  });
  it('not overdue exactly at the due time', async () => {
    const d = await run([...workedUp(), troponin(5, 0)], 180);
    expect(d.indicator).toBe('info');
  });
  it('retestDue is given whatever the outcome while there is a baseline and no retest', async () => {
    const d = await run([patient(), timi(2, 0), troponin(5, 0)], 30);
    expect(d.outcome).toBe('needs-input');
    expect(d.retestDue).toBe(at(180));
  });
});

describe('rule 7: classification', () => {
  it('below the URL, change under 20% and below the URL: not consistent', async () => {
    expect((await run([...workedUp(), troponin(10, 0), troponin(11, 180)], 200)).outcome).toBe('not-consistent-with-mi');
  });
  it('below the URL, a fall: not consistent', async () => {
    expect((await run([...workedUp(), troponin(12, 0), troponin(6, 180)], 200)).outcome).toBe('not-consistent-with-mi');
  });
  it('below the URL, a rise of 20% or more to above the URL: consistent', async () => {
    expect((await run([...workedUp(), troponin(10, 0), troponin(30, 180)], 200)).outcome).toBe('consistent-with-mi');
  });
  it('below the URL, exactly 20% (13 -> 15.6) to above the URL is a change: consistent', async () => {
    expect((await run([...workedUp(), troponin(13, 0), troponin(15.6, 180)], 200)).outcome).toBe('consistent-with-mi');
  });
  it('below the URL, 19.9% to above the URL: indeterminate', async () => {
    expect((await run([...workedUp(), troponin(13, 0), troponin(15.58, 180)], 200)).outcome).toBe('indeterminate');
  });
  it('below the URL, a rise of 20% or more that stays below the URL: indeterminate', async () => {
    expect((await run([...workedUp(), troponin(6, 0), troponin(9, 180)], 200)).outcome).toBe('indeterminate');
  });
  it('below the URL, a retest exactly at the URL: indeterminate', async () => {
    expect((await run([...workedUp(), troponin(13, 0), troponin(14, 180)], 200)).outcome).toBe('indeterminate');
  });
  it('below the URL, a rise of 20% or more to exactly the URL: indeterminate', async () => {
    expect((await run([...workedUp(), troponin(10, 0), troponin(14, 180)], 200)).outcome).toBe('indeterminate');
  });
  it('above the URL, change under 20%: not consistent, with a warning (injury of another cause)', async () => {
    const d = await run([...workedUp(), troponin(40, 0), troponin(44, 180)], 200);
    expect(d.outcome).toBe('not-consistent-with-mi');
    expect(d.indicator).toBe('warning');
  });
  it('above the URL, a rise of 20% or more: consistent', async () => {
    expect((await run([...workedUp(), troponin(40, 0), troponin(48, 180)], 200)).outcome).toBe('consistent-with-mi');
  });
  it('above the URL, a fall of 20% or more: consistent', async () => {
    expect((await run([...workedUp(), troponin(40, 0), troponin(32, 180)], 200)).outcome).toBe('consistent-with-mi');
  });
  it('above the URL, a fall of 19.9%: not consistent', async () => {
    expect((await run([...workedUp(), troponin(40, 0), troponin(32.04, 180)], 200)).outcome).toBe('not-consistent-with-mi');
  });
  it('baseline exactly at the URL: both readings, the more serious counts', async () => {
    // At 14: as "below", 14 -> 15 is under 20% to above the URL = indeterminate; as "above", under 20% = not consistent.
    expect((await run([...workedUp(), troponin(14, 0), troponin(15, 180)], 200)).outcome).toBe('indeterminate');
    // 14 -> 11.2 is a 20% fall: as "above", consistent.
    expect((await run([...workedUp(), troponin(14, 0), troponin(11.2, 180)], 200)).outcome).toBe('consistent-with-mi');
  });
});

describe('rule 8: several later results', () => {
  it('every retest is classified and the most serious counts', async () => {
    const d = await run([...workedUp(), troponin(10, 0), troponin(11, 180), troponin(30, 240)], 250);
    expect(d.outcome).toBe('consistent-with-mi');
  });
  it('an early result consistent with MI escalates', async () => {
    const d = await run([...workedUp(), troponin(10, 0), troponin(30, 60)], 70);
    expect(d.outcome).toBe('consistent-with-mi');
    expect(d.retestDue).toBe(at(180));
  });
  it('an early result that is not consistent with MI is noted and ignored', async () => {
    const d = await run([...workedUp(), troponin(10, 0), troponin(9, 60)], 70);
    expect(d.outcome).toBe('awaiting-retest');
    expect(d.trace.some((s) => s.rule === '8' && /noted and ignored/.test(s.text))).toBe(true);
  });
});

describe('rule 9: assays', () => {
  it('a result of a different assay after the baseline gives indeterminate', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 180, { assay: ABBOTT })], 200);
    expect(d.outcome).toBe('indeterminate');
    expect(d.reasons.join(' ')).toMatch(/different assays cannot be compared/);
  });
  it('an observation whose codings map to two assays is uninterpretable', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 180, { assay: [{ system: 'http://loinc.org', code: '67151-1' }, ABBOTT] })], 200);
    expect(d.outcome).toBe('indeterminate');
  });
  it('a site mapping of a local laboratory code selects the assay and is named on the decision', async () => {
    const local = { system: 'http://lab.example.org/codes', code: 'HSTNT' };
    const settings = { assayCodeMappings: [{ ...local, assay: 'roche-elecsys-hs-tnt' }] };
    const d = await run([...workedUp(), troponin(5, 0, { assay: local }), troponin(5, 180, { assay: local })], 200, { settings });
    expect(d.outcome).toBe('not-consistent-with-mi');
    expect(d.assays.every((a) => a.source === 'site-mapping')).toBe(true);
  });
});

describe('rules 9 and 13: below the URL, a result that cannot be weighed is named as such on the chart', () => {
  // hs-cTnT 10 ng/L (below the URL) at 0, TIMI 3, a normal ECG, and one result no rule 7 reading can weigh:
  // the chart's walk says why (different assays, or uninterpretable), never "any other combination" of rule 7.
  const context = (): Resource[] => [patient(), ecg('no-stemi-or-new-lbbb', -10), timi(3, -5), troponin(10, 0)];
  const cases: [string, Resource, number, string][] = [
    ['a retest in U/L (rule 13)', troponin(11, 180, { unit: 'U/L' }), 200, '13'],
    ['a retest of another assay (rule 9)', troponin(11, 180, { assay: ABBOTT }), 200, '9'],
    ['a result with no draw time (rule 13)', troponin(11, 0, { effective: null }), 30, '13'],
  ];
  for (const [name, extra, now, rule] of cases) {
    it(name, async () => {
      const d = await run([...context(), extra], now);
      expect(d.outcome).toBe('indeterminate');
      expect(d.path.edges.slice(-2)).toEqual(['baseline-below', 'below-incomparable']);
      const chart = d.trace.filter((s) => s.node === 'retest-below');
      expect(chart.map((s) => s.text)).toEqual(['Chart: Retest in 3 hours -> Different assays or uninterpretable results. Where the chart is silent: Different assays or an uninterpretable result: indeterminate (rules 9 and 13).']);
      // The result is named under its own rule.
      expect(d.trace.some((s) => s.rule === rule && s.text.includes(`Observation/${extra.id ?? ''}`))).toBe(true);
      expect(d.trace.some((s) => /Any other combination|\(rule 7\)/.test(s.text))).toBe(false);
    });
  }
  it('a rise of 20% or more that stays below the URL is still rule 7\'s "any other combination"', async () => {
    const d = await run([...context(), troponin(13, 180)], 200);
    expect(d.outcome).toBe('indeterminate');
    expect(d.path.edges.slice(-1)).toEqual(['below-indeterminate']);
  });
});

describe('rule 10: units', () => {
  it('0.0132 ng/mL is exactly 13.2 ng/L', async () => {
    const d = await run([...workedUp(), troponin(0.0132, 0, { unit: 'ng/mL' })], 10);
    expect(d.troponin.baseline?.valueNgL).toBe('13.2');
  });
  it('pg/mL, ug/L and ng/l are read as mass concentrations', async () => {
    for (const [v, unit, want] of [[13, 'pg/mL', '13'], [0.013, 'ug/L', '13'], [13, 'ng/l', '13'], [1.3, 'ng/dL', '13']] as const) {
      const d = await run([...workedUp(), troponin(v, 0, { unit })], 10);
      expect(d.troponin.baseline?.valueNgL).toBe(want);
    }
  });
  it('a non-UCUM unit, a missing unit, or a non-mass unit makes the result uninterpretable', async () => {
    for (const o of [{ unit: 'µg/L' }, { unit: null, code: null }, { unit: 'U/L' }, { unit: 'mmol/L' }, { system: 'http://example.org/units' }]) {
      const d = await run([...workedUp(), troponin(5, 0), troponin(5, 180, o)], 200);
      expect(d.outcome).toBe('indeterminate');
    }
  });
  it('a unit system other than UCUM is uninterpretable even when the unit text looks like UCUM', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 180, { system: 'http://example.org/units', code: null, unit: 'ng/L' })], 200);
    expect(d.outcome).toBe('indeterminate');
  });
  it('a unit spelt like an inherited member of a JavaScript object (ucum-lhc keeps its table in plain objects) is uninterpretable, alone or in a product, never an error', async () => {
    for (const unit of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'ng/toString', 'toString/L']) {
      const d = await run([...workedUp(), troponin(5, 0), troponin(5, 180, { unit, code: unit })], 200);
      expect(d.outcome, unit).toBe('indeterminate');
    }
  });
  it('the unit text is read when there is no code', async () => {
    const d = await run([...workedUp(), troponin(0.005, 0, { unit: 'ng/mL', code: null, system: null })], 10);
    expect(d.troponin.baseline?.valueNgL).toBe('5');
  });
});

describe('rule 11: values below the limit of detection', () => {
  it('"<5" with an LoD of 5 is taken as 5', async () => {
    const d = await run([...workedUp(), troponin(5, 0, { comparator: '<' }), troponin(5, 180)], 200);
    expect(d.troponin.baseline?.valueNgL).toBe('5');
    expect(d.outcome).toBe('not-consistent-with-mi');
  });
  it('a number under the LoD (0, 1.2) is taken as the LoD', async () => {
    const d = await run([...workedUp(), troponin(0, 0), troponin(1.2, 180)], 200);
    expect(d.outcome).toBe('not-consistent-with-mi');
  });
  it('a censored value above the LoD stands for every value it allows', async () => {
    // "<20" (5 to <20) baseline with a 16 ng/L retest: some reading is a 20% rise to above the URL.
    const d = await run([...workedUp(), troponin(20, 0, { comparator: '<' }), troponin(16, 180)], 200);
    expect(d.outcome).toBe('consistent-with-mi');
  });
  it('">50000" stands for every value above it', async () => {
    const d = await run([...workedUp(), troponin(50000, 0, { comparator: '>' }), troponin(50000, 180, { comparator: '>' })], 200);
    expect(d.outcome).toBe('consistent-with-mi');
  });
  it('a negative value or the comparator "ad" is uninterpretable', async () => {
    expect((await run([...workedUp(), troponin(5, 0), troponin(-1, 180)], 200)).outcome).toBe('indeterminate');
    expect((await run([...workedUp(), troponin(5, 0), troponin(5, 180, { comparator: 'ad' })], 200)).outcome).toBe('indeterminate');
  });
});

describe('rule 12: status', () => {
  it('preliminary and registered results that would not escalate are listed and not used', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(5, 180, { status: 'preliminary' })], 200);
    expect(d.outcome).toBe('awaiting-retest');
    expect(d.inputs.find((i) => i.use === 'not-used' && /preliminary/.test(i.reason))).toBeDefined();
  });
  it('cancelled and entered-in-error are void', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(50, 180, { status: 'entered-in-error' }), troponin(5, 181, { status: 'cancelled' })], 200);
    expect(d.outcome).toBe('awaiting-retest');
  });
  it('any other status, or none, makes a troponin uninterpretable', async () => {
    expect((await run([...workedUp(), troponin(5, 0), troponin(5, 180, { status: 'unknown' })], 200)).outcome).toBe('indeterminate');
    const none = troponin(5, 180) as unknown as Record<string, unknown>;
    delete none['status'];
    expect((await run([...workedUp(), troponin(5, 0), none as never], 200)).outcome).toBe('indeterminate');
  });
  it('results sharing an identifier are one result: the latest version stands', async () => {
    const first = troponin(50, 180, { identifier: 'R1', lastUpdated: '2026-03-14T12:10:00Z', id: 'v1' });
    const corrected = troponin(5.5, 180, { identifier: 'R1', lastUpdated: '2026-03-14T12:20:00Z', status: 'corrected', id: 'v2' });
    const d = await run([...workedUp(), troponin(5, 0), corrected, first], 200);
    expect(d.outcome).toBe('not-consistent-with-mi');
    expect(d.inputs.find((i) => i.ref === 'Observation/v1')?.use).toBe('superseded');
  });
  it('an entered-in-error latest version voids the result', async () => {
    const first = troponin(50, 180, { identifier: 'R2', lastUpdated: '2026-03-14T12:10:00Z', id: 'w1' });
    const voided = troponin(50, 180, { identifier: 'R2', lastUpdated: '2026-03-14T12:30:00Z', status: 'entered-in-error', id: 'w2' });
    const d = await run([...workedUp(), troponin(5, 0), first, voided], 200);
    expect(d.outcome).toBe('awaiting-retest');
  });
  it('troponin versions that cannot be ordered are each a reading, even when one says entered-in-error or preliminary (contract 1.1)', async () => {
    for (const status of ['entered-in-error', 'preliminary']) {
      const a = troponin(50, 180, { identifier: 'R4', id: 'y1' });
      const b = troponin(50, 180, { identifier: 'R4', id: 'y2', status });
      const d = await run([...workedUp(), troponin(5, 0), a, b], 200);
      expect(d.outcome, status).toBe('consistent-with-mi');
    }
  });
  it('ECG versions that cannot be ordered are each read: one saying ST-elevation gives the acute MI pathway', async () => {
    const a = { ...ecg('no-stemi-or-new-lbbb', 0, { id: 'e1' }), identifier: [{ system: 'http://ecg.example', value: 'E1' }] };
    const b = { ...ecg('stemi-or-new-lbbb', 0, { id: 'e2' }), identifier: [{ system: 'http://ecg.example', value: 'E1' }] };
    const d = await run([patient(), a, b, timi(2, 0)], 10);
    expect(d.outcome).toBe('acute-mi-pathway');
  });
  it('versions that cannot be ordered are each a reading: the most serious counts (contract 1.1)', async () => {
    const a = troponin(50, 180, { identifier: 'R3', id: 'x1' });
    const b = troponin(6, 180, { identifier: 'R3', id: 'x2' });
    const d = await run([...workedUp(), troponin(5, 0), a, b], 200);
    expect(d.outcome).toBe('consistent-with-mi');
  });
});

describe('rule 13: uninterpretable results', () => {
  it('a haemolysed sample (dataAbsentReason) is listed and not used', async () => {
    const d = await run([...workedUp(), troponin(5, 0), haemolysed(180)], 200);
    expect(d.outcome).toBe('awaiting-retest');
    expect(d.inputs.find((i) => /Haemolysed/.test(i.reason))).toBeDefined();
  });
  it('a result with no usable value is never silently dropped', async () => {
    const d = await run([...workedUp(), troponin(5, 0), troponin(null, 180)], 200);
    expect(d.outcome).toBe('indeterminate');
    expect(d.trace.some((s) => s.rule === '13')).toBe(true);
  });
  it('an uninterpretable result with no baseline at all is still at least indeterminate', async () => {
    const d = await run([...workedUp(), troponin(5, 0, { unit: 'U/L' })], 10);
    expect(d.outcome).toBe('indeterminate');
    expect(d.missing).toEqual(['baseline-troponin']);
  });
});

describe('rule 14: URL choice', () => {
  it('the overall URL by default', async () => {
    const d = await run([...workedUp(), troponin(20, 0, { assay: ABBOTT })], 10);
    expect(d.troponin.baseline?.url).toBe('26.2');
  });
  it('sex-specific URLs when the site chooses them', async () => {
    const settings = { sexSpecificUrls: true };
    const female = await run([patient('female'), ecg('no-stemi-or-new-lbbb', 0), timi(2, 0), troponin(20, 0, { assay: ABBOTT })], 10, { settings });
    expect(female.troponin.baseline?.url).toBe('15.6');
    const male = await run([patient('male'), ecg('no-stemi-or-new-lbbb', 0), timi(2, 0), troponin(20, 0, { assay: ABBOTT })], 10, { settings });
    expect(male.troponin.baseline?.url).toBe('34.2');
  });
  it('an unknown or other sex uses the lower URL; an assay without sex URLs keeps its overall URL', async () => {
    const settings = { sexSpecificUrls: true };
    const other = await run([patient('other'), ecg('no-stemi-or-new-lbbb', 0), timi(2, 0), troponin(20, 0, { assay: ABBOTT })], 10, { settings });
    expect(other.troponin.baseline?.url).toBe('15.6');
    const roche = await run([patient('male'), ecg('no-stemi-or-new-lbbb', 0), timi(2, 0), troponin(10, 0)], 10, { settings });
    expect(roche.troponin.baseline?.url).toBe('14');
  });
  it('the sex is read only from the Patient the observations name as their subject: another Patient is ignored, and said so', async () => {
    const settings = { sexSpecificUrls: true };
    const stranger: Resource = { ...patient('male'), id: 'zz' };
    const d = await run([stranger, ecg('no-stemi-or-new-lbbb', 0), timi(2, 0), troponin(20, 0, { assay: ABBOTT })], 10, { settings });
    // Not the stranger's male URL (34.2): the case's sex is unknown, so the lower URL.
    expect(d.troponin.baseline?.url).toBe('15.6');
    expect(d.inputs.find((i) => i.ref === 'Patient/zz')).toMatchObject({ kind: 'patient', use: 'ignored', reason: expect.stringMatching(/other than the case's \(Patient\/p1\).*rule 14/) });
    // With the case's own Patient beside another's, the case's counts: male p1 beside a female stranger.
    const both = await run([{ ...patient('female'), id: 'zz' }, patient('male'), ecg('no-stemi-or-new-lbbb', 0), timi(2, 0), troponin(20, 0, { assay: ABBOTT })], 10, { settings });
    expect(both.troponin.baseline?.url).toBe('34.2');
  });
  it('with no observation naming a subject, no Patient is read: the sex is unknown', async () => {
    const settings = { sexSpecificUrls: true };
    const unnamed = (r: Resource): Resource => ({ ...r, subject: undefined }) as Resource;
    const d = await run([patient('male'), ...[ecg('no-stemi-or-new-lbbb', 0), timi(2, 0), troponin(20, 0, { assay: ABBOTT })].map(unnamed)], 10, { settings });
    expect(d.troponin.baseline?.url).toBe('15.6');
    expect(d.inputs.find((i) => i.ref === 'Patient/p1')).toMatchObject({ reason: expect.stringMatching(/no observation names as its subject.*rule 14/) });
  });
  it('a Bundle naming its Patient by fullUrl (urn:uuid references) names that Patient, with or without an id; two fullUrls are two patients', async () => {
    const settings = { sexSpecificUrls: true };
    const rt = await runtime(settings);
    const U = 'urn:uuid:0b7d2a54-1111-4c4e-9d1a-5f0e8f2b7a01';
    const V = 'urn:uuid:0b7d2a54-9999-4c4e-9d1a-5f0e8f2b7a02';
    const about = (r: Resource, reference: string): Resource => ({ ...r, subject: { reference } }) as Resource;
    const doc = (entries: [string, Resource][]): unknown => ({ resourceType: 'Bundle', type: 'collection', entry: entries.map(([fullUrl, resource]) => ({ fullUrl, resource })) });
    const caseOf = (ref: string): [string, Resource][] => [
      [`${ref}-ecg`, about(ecg('no-stemi-or-new-lbbb', 0), ref)],
      [`${ref}-timi`, about(timi(2, 0), ref)],
      [`${ref}-t0`, about(troponin(20, 0, { assay: ABBOTT }), ref)],
    ];
    const male = patient('male');
    const withId = await decide(rt, doc([[U, male], ...caseOf(U)]), { now: at(10) });
    expect(withId.troponin.baseline?.url).toBe('34.2');
    const { id: _id, ...noId } = male;
    const withoutId = await decide(rt, doc([[U, noId], ...caseOf(U)]), { now: at(10) });
    expect(withoutId.troponin.baseline?.url).toBe('34.2');
    // Patient/p1 and the fullUrl of Patient p1 are one patient.
    const mixed = await decide(rt, doc([[U, male], ...caseOf(U).slice(0, 2), ['t0', troponin(20, 0, { assay: ABBOTT })]]), { now: at(10) });
    expect(mixed.troponin.baseline?.url).toBe('34.2');
    // Another fullUrl is another patient: refused, never weighed together.
    await expect(decide(rt, doc([[U, male], ...caseOf(U), [`${V}-t3`, about(troponin(21, 180, { assay: ABBOTT }), V)]]), { now: at(190) })).rejects.toMatchObject({
      code: 'TNP_ERR_INPUT_MORE_THAN_ONE_PATIENT',
      message: expect.stringContaining(`Patient/p1, ${V}`),
    });
  });
  it('resources about more than one patient are refused: one patient\'s results never decide for another', async () => {
    const other: Resource = { ...troponin(60, 180), subject: { reference: 'https://ehr.example/fhir/Patient/other' } } as Resource;
    await expect(run([...workedUp(), troponin(10, 0), other], 190)).rejects.toMatchObject({ code: 'TNP_ERR_INPUT_MORE_THAN_ONE_PATIENT', message: expect.stringContaining('Patient/other, Patient/p1') });
    // The same reference spelt absolutely, or with a version, is the same patient.
    const same: Resource = { ...troponin(10.5, 180), subject: { reference: 'https://ehr.example/fhir/Patient/p1/_history/3' } } as Resource;
    await expect(run([...workedUp(), troponin(10, 0), same], 190)).resolves.toMatchObject({ outcome: 'not-consistent-with-mi' });
  });
});

describe('rule 15: determinism', () => {
  it('the same inputs in another order give the same decision, byte for byte', async () => {
    const resources = [...workedUp(), troponin(5, 0), troponin(20, 0, { comparator: '<' }), troponin(7, 180), haemolysed(100)];
    const a = JSON.stringify(await run(resources, 200));
    const b = JSON.stringify(await run([...resources].reverse(), 200));
    expect(b).toBe(a);
  });
});

describe('rule 16: bounded episodes', () => {
  /** A baseline of 8 ng/L, `early` results just above it before the retest time, and a retest of 8.5 at 3 h. */
  const results = (early: number): Resource[] => [
    troponin(8, 0, { id: 'b' }),
    ...Array.from({ length: early }, (_, i) => troponin(Number((8 + (i + 1) / 100).toFixed(2)), 1 + i, { id: `e${i}` })),
    troponin(8.5, 180, { id: 'r' }),
  ];

  it('exact duplicates (same assay, value, unit, comparator, draw time and status) count once', async () => {
    const d = await run([...workedUp(), ...results(48), troponin(8.1, 10, { id: 'z-copy', identifier: 'another' })], 190);
    // 50 results, not 51: the chart decides.
    expect(d.outcome).toBe('not-consistent-with-mi');
    expect(d.troponin.summary).toMatchObject({ results: 50, duplicates: 1, overMax: false });
    expect(d.inputs.find((i) => i.ref === 'Observation/z-copy')).toMatchObject({ use: 'superseded', reason: expect.stringMatching(/exact duplicate of Observation\/e9.*rule 16/) });
    expect(d.trace.some((s) => s.rule === '16' && /1 exact duplicate/.test(s.text))).toBe(true);
  });
  it('results differing in status, unit or comparator are not duplicates', async () => {
    const d = await run([...workedUp(), troponin(8, 0, { id: 'a' }), troponin(8, 0, { id: 'b', status: 'amended' }), troponin(0.008, 0, { id: 'c', unit: 'ng/mL' }), troponin(8, 0, { id: 'd', comparator: '<=' })], 10);
    expect(d.troponin.summary).toMatchObject({ results: 4, duplicates: 0 });
  });
  it(`more results than maxTroponinResults (50) is indeterminate, with the pathway file's words and a summary`, async () => {
    const rt = await runtime();
    const d = await run([...workedUp(), ...results(49)], 190);
    expect(d.outcome).toBe('indeterminate');
    const step = d.trace.find((s) => s.rule === '16' && s.result === 'indeterminate');
    expect(step?.text).toContain(rt.pathway.file.settings.maxTroponinResultsText.replace(/\.$/, ''));
    expect(step?.facts).toMatchObject({ results: 51, maxTroponinResults: 50, first: 'Observation/b', last: 'Observation/r', highest: 'Observation/r' });
    expect(d.troponin.summary).toMatchObject({ results: 51, overMax: true, first: { ref: 'Observation/b' }, last: { ref: 'Observation/r' }, highest: { ref: 'Observation/r' } });
    // Summarised, not listed: no per-result step or row.
    expect(d.troponin.later).toEqual([]);
    expect(d.trace.filter((s) => s.rule === '10')).toEqual([]);
    expect(d.reasons.some((r) => r.includes(rt.pathway.file.settings.maxTroponinResultsText.replace(/\.$/, '')))).toBe(true);
  });
  it('exactly maxTroponinResults is weighed as usual', async () => {
    const d = await run([...workedUp(), ...results(48)], 190);
    expect(d.outcome).toBe('not-consistent-with-mi');
    expect(d.troponin.later.length).toBe(49);
  });
  it('over the bound, a more serious outcome still counts: consistent with MI, or the acute MI pathway', async () => {
    const rise = await run([...workedUp(), ...results(49), troponin(40, 181, { id: 'high' })], 190);
    expect(rise.outcome).toBe('consistent-with-mi');
    const stemi = await run([patient(), ecg('stemi-or-new-lbbb', -10), ...results(49)], 190);
    expect(stemi.outcome).toBe('acute-mi-pathway');
  });
  it('over the bound without a TIMI score or ECG, the troponin reading on its own still counts indeterminate (rule 0)', async () => {
    const d = await run([patient(), ...results(49)], 190);
    expect(d.outcome).toBe('indeterminate');
    expect(d.missing).toContain('ecg');
  });
  it('many baselines at one time: each later result counts with the most serious reading any of them allows', async () => {
    // 12 and 13 at one time, retest 15.5: with 13 it is indeterminate, with 12 a rise of >= 20% above the URL.
    const many = Array.from({ length: 30 }, (_, i) => troponin(13 + i / 100, 0, { id: `m${i}` }));
    const d = await run([...workedUp(), ...many, troponin(12, 0, { id: 'low' }), troponin(15.5, 180, { id: 'r' })], 190);
    expect(d.outcome).toBe('consistent-with-mi');
    expect(d.troponin.later.filter((l) => l.role === 'retest')).toEqual([expect.objectContaining({ ref: 'Observation/r', outcome: 'consistent-with-mi', changePercent: null })]);
  });
  it('many baselines at one time: an early result consistent with MI against any of them escalates (rule 8), over the bound too', async () => {
    const many = Array.from({ length: 60 }, (_, i) => troponin(10 + i / 100, 0, { id: `m${i}` }));
    expect((await run([...workedUp(), ...many], 30)).outcome).toBe('indeterminate');
    expect((await run([...workedUp(), ...many, troponin(40, 0, { id: 'same-time-high' })], 30)).outcome).toBe('consistent-with-mi');
    expect((await run([...workedUp(), ...many, troponin(40, 20, { id: 'early-high' })], 30)).outcome).toBe('consistent-with-mi');
    expect((await run([...workedUp(), ...many.slice(0, 5), troponin(40, 20, { id: 'early-high' })], 30)).outcome).toBe('consistent-with-mi');
    expect((await run([...workedUp(), ...many.slice(0, 5), troponin(11, 20, { id: 'early-low' })], 30)).outcome).toBe('awaiting-retest');
  });
  it('the inputs, trace and reasons stay bounded and account for every resource', async () => {
    const ignored = Array.from({ length: 500 }, (_, i) => ({ resourceType: 'Condition', id: `c${i}` }));
    const d = await run([...workedUp(), ...results(2), ...ignored], 190);
    expect(d.inputs.length).toBeLessThanOrEqual(60);
    expect(d.inputs.reduce((n, i) => n + (i.count ?? 1), 0)).toBe(3 + 4 + 500);
    expect(d.inputs.find((i) => i.count === 450)).toMatchObject({ kind: 'other', use: 'ignored', reason: expect.stringContaining('Condition/') });
  });
});
