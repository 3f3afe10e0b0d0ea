/**
 * The facts of the sample-window pathways, each on its own (src/engine/cutoffs.ts, onset.ts,
 * serial-reading.ts, serial-pathway.ts): exact absolute changes with the LoD, sides of a cut-off for
 * censored values, the catalogue's tables and the smallest cut-offs, sex-specific thresholds, the onset
 * (usable, latest, a period's end, unknown), the onset bands at their boundaries, the sample windows,
 * and a pathway file whose reading table is not total or whose windows overlap, refused at load.
 */
import { Big } from 'big.js';
import { describe, expect, it } from 'vitest';
import { absoluteChange, sexSpecificCutoff, sidesOf, smallestCutoffs, tablesOf } from '../../src/engine/cutoffs.js';
import { readOnset } from '../../src/engine/onset.js';
import { compilePathway, PathwayProblem } from '../../src/engine/pathway.js';
import type { PathwayFile } from '../../src/engine/pathway.js';
import type { Interval } from '../../src/engine/ranges.js';
import { onsetBandOf, readSerial, type Sample } from '../../src/engine/serial-reading.js';
import { NS_PER_MINUTE, parseInstant } from '../../src/engine/time.js';
import type { OnsetFact, OnsetValue } from '../../src/engine/types.js';
import { loadCatalogue, loadPathway, runtimeFrom } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PATHWAYS_DIR } from '../../src/pathways/load.js';

const point = (x: string): Interval => ({ lo: new Big(x), loOpen: false, hi: new Big(x), hiOpen: false });
const below = (x: string): Interval => ({ lo: new Big(0), loOpen: false, hi: new Big(x), hiOpen: true });
const atMost = (x: string): Interval => ({ lo: new Big(0), loOpen: false, hi: new Big(x), hiOpen: false });
const above = (x: string): Interval => ({ lo: new Big(x), loOpen: true, hi: null, hiOpen: true });
const text = (x: Interval): string => `${x.loOpen ? '(' : '['}${x.lo.toFixed()}, ${x.hi === null ? '∞' : x.hi.toFixed()}${x.hiOpen ? ')' : ']'}`;
const T0 = (parseInstant('2026-11-27T10:00:00Z') as { ok: true; instant: bigint }).instant;
const min = (m: number): bigint => T0 + BigInt(m) * NS_PER_MINUTE;

describe('absolute change in ng/L (esc rule 6 and 9)', () => {
  it('is exact: 0.0039 ng/mL and 5.9 pg/mL differ by exactly 2 ng/L (floats give 2.0000000000000004)', () => {
    expect(5.9 - 3.9).not.toBe(2);
    const d = absoluteChange(point('3.9'), point('5.9'), new Big('2'));
    expect(text(d)).toBe('[2, 2]');
    expect(sidesOf(d, new Big('2'))).toEqual(['at-or-above']);
  });

  it('counts rises and falls alike', () => {
    expect(text(absoluteChange(point('11'), point('6'), new Big('5')))).toBe('[5, 5]');
    expect(text(absoluteChange(point('10'), point('15'), new Big('5')))).toBe('[5, 5]');
  });

  it('takes a concentration under the LoD as the LoD (Elecsys "<5" then 7 is 2; ARCHITECT 1.0 then 4 is 2)', () => {
    expect(text(absoluteChange(below('5'), point('7'), new Big('5')))).toBe('[2, 2]');
    expect(text(absoluteChange(point('1.0'), point('4'), new Big('2')))).toBe('[2, 2]');
    expect(text(absoluteChange(point('4'), point('8'), new Big('5')))).toBe('[3, 3]');
  });

  it('over a censored value gives every size the pair allows', () => {
    // "<20" then 10 on Elecsys: 0 h in [5, 20), so Δ in (-10, 5] and |Δ| in [0, 10).
    const d = absoluteChange(below('20'), point('10'), new Big('5'));
    expect(text(d)).toBe('[0, 10)');
    expect(sidesOf(d, new Big('5'))).toEqual(['below', 'at-or-above']);
    expect(text(absoluteChange(point('30'), above('10000'), new Big('5')))).toBe('(9970, ∞)');
  });
});

describe('sides of a cut-off: rule-out strict (<), rule-in inclusive (>=)', () => {
  it('a value at the cut-off is not below it; "<5" is all below 5 and "<=5" is not', () => {
    expect(sidesOf(point('5'), new Big('5'))).toEqual(['at-or-above']);
    expect(sidesOf(point('4.9'), new Big('5'))).toEqual(['below']);
    expect(sidesOf(below('5'), new Big('5'))).toEqual(['below']);
    expect(sidesOf(atMost('5'), new Big('5'))).toEqual(['below', 'at-or-above']);
    expect(sidesOf(above('10000'), new Big('52'))).toEqual(['at-or-above']);
  });
});

describe('catalogue cut-off tables and sex-specific thresholds', () => {
  const catalogue = loadCatalogue().catalogue;
  const elecsys = tablesOf(catalogue.assays.find((a) => a.id === 'roche-elecsys-hs-tnt') as unknown as Record<string, unknown>);
  const architect = tablesOf(catalogue.assays.find((a) => a.id === 'abbott-architect-hs-tni') as unknown as Record<string, unknown>);

  it('every table of the shipped catalogue is complete and names its source', () => {
    for (const a of catalogue.assays) {
      for (const t of tablesOf(a as unknown as Record<string, unknown>).values()) {
        expect(t.source, `${a.id} ${t.name}`).not.toBe('');
        expect(t.values.size, `${a.id} ${t.name}`).toBe(t.name === 'highSteacs' ? 4 : 5);
      }
    }
    expect([...elecsys.keys()].sort()).toEqual(['esc0h1h', 'esc0h2h']);
    expect([...architect.keys()].sort()).toEqual(['esc0h1h', 'esc0h2h', 'highSteacs']);
    expect(elecsys.get('esc0h1h')?.values.get('high')?.toFixed()).toBe('52');
    expect(architect.get('esc0h2h')?.values.get('delta')?.toFixed()).toBe('15');
  });

  it('off-table samples read the smallest cut-offs of the assay\'s tables (Elecsys D* = 5, N* = 3)', () => {
    const s = smallestCutoffs(elecsys, ['esc0h1h', 'esc0h2h']);
    expect(s?.values.get('delta')?.toFixed()).toBe('5');
    expect(s?.values.get('noDelta')?.toFixed()).toBe('3');
    expect(smallestCutoffs(elecsys, ['highSteacs'])).toBeNull();
  });

  it('High-STEACS: women 16, men 34, and for unknown or other sex the lower, 16', () => {
    const t = architect.get('highSteacs');
    if (t === undefined) throw new Error('no table');
    expect(sexSpecificCutoff(t, 'url99Female', 'url99Male', 'female')).toEqual({ value: new Big('16'), basis: 'female' });
    expect(sexSpecificCutoff(t, 'url99Female', 'url99Male', 'male')).toEqual({ value: new Big('34'), basis: 'male' });
    for (const sex of ['other', 'unknown', null] as const) expect(sexSpecificCutoff(t, 'url99Female', 'url99Male', sex)?.basis).toBe('sex-unknown');
    expect(sexSpecificCutoff(t, 'url99Female', 'url99Male', null)?.value.toFixed()).toBe('16');
  });
});

function onset(id: string, value: OnsetValue, recorded = min(-10), status: OnsetFact['status'] = 'used'): OnsetFact {
  return { kind: 'onset', ref: `Observation/${id}`, status, statusText: status === 'used' ? 'final' : 'preliminary', drawTime: recorded, drawTimeProblem: null, issued: null, encounterId: null, identities: [], versionTime: null, contentKey: () => id, value };
}
const at = (m: number): OnsetValue => ({ kind: 'time', time: min(m), basis: 'recorded', reported: '' });

describe('the chest-pain onset (esc rule 4)', () => {
  const start = min(-24 * 60);
  it('the latest usable onset counts; a period counts as its end', () => {
    const r = readOnset([onset('a', at(-300)), onset('b', at(-120)), onset('c', { kind: 'time', time: min(-179), basis: 'period-end', reported: '' })], start, min(10), 5n * NS_PER_MINUTE);
    expect(r.ref).toBe('Observation/b');
    expect(r.time).toBe(min(-120));
  });
  it('unusable: a date only, a non-final status, recorded after now, an onset after now; none usable: unknown', () => {
    const r = readOnset(
      [onset('d', { kind: 'unusable', reason: 'a date with no time of day' }), onset('p', at(-100), min(-10), 'listed'), onset('late', at(-100), min(20)), onset('future', at(30))],
      start,
      min(10),
      5n * NS_PER_MINUTE,
    );
    expect(r.basis).toBe('unknown');
    expect(r.time).toBeNull();
    expect(r.problems).toHaveLength(4);
    expect(r.uses.every((u) => u.use === 'not-used')).toBe(true);
  });
});

describe('onset bands and sample windows (esc rules 4, 7, 10, 11)', async () => {
  const p = await loadPathway('esc-0h1h');
  const s = p.serial;
  if (s === null) throw new Error('esc-0h1h has no serial section');
  it('more than 3 h is strictly more than 180 min; early is strictly under 60 min, unknown included', () => {
    expect(onsetBandOf(s, T0, min(-181))).toBe('single-sample-eligible');
    expect(onsetBandOf(s, T0, min(-180))).toBe('intermediate');
    expect(onsetBandOf(s, T0, min(-60))).toBe('intermediate');
    expect(onsetBandOf(s, T0, min(-59))).toBe('early-presenter');
    expect(onsetBandOf(s, T0, null)).toBe('early-presenter');
    expect(onsetBandOf(s, T0, min(30))).toBe('early-presenter');
  });

  const rt = runtimeFrom(p, loadCatalogue(), loadSettings({ object: {} }));
  const elecsys = rt.assays.get('roche-elecsys-hs-tnt');
  if (elecsys === undefined) throw new Error('no Elecsys');
  const sample = (m: number, v: string): Sample => ({ ref: `Observation/t${m}`, drawTime: min(m), assay: elecsys, value: point(v) });
  const read = (samples: Sample[], nowMin: number, onsetMin: number | null = -120) =>
    readSerial({ serial: s, zero: samples[0] as Sample, usable: samples, pending: [], onset: onsetMin === null ? null : min(onsetMin), sex: null, now: min(nowMin) });

  it('the 1 h window is 50 to 70 min inclusive, the 2 h window 110 to 130 min; outside them a sample only escalates', () => {
    for (const [m, timing] of [[49, 'off-table'], [50, 'in-table'], [70, 'in-table'], [71, 'off-table'], [109, 'off-table'], [110, 'in-table'], [130, 'in-table'], [131, 'off-table']] as const) {
      expect(read([sample(0, '8'), sample(m, '9')], m + 5).later[0]?.timing, `+${m}`).toBe(timing);
    }
    expect(read([sample(0, '8'), sample(120, '9')], 125).later[0]?.table).toBe('esc0h2h');
  });

  it('a rule-out never comes from an off-table sample, however small the change', () => {
    const r = read([sample(0, '8'), sample(90, '8')], 95);
    expect(r.later[0]?.reading).toBe('none');
    expect(r.reading).toBe('awaiting-retest');
    expect(r.retestDue).toBe(min(120));
  });

  it('the next sample is due at the first open window, and none once both windows have closed (missed timing)', () => {
    expect(read([sample(0, '10')], 65).retestDue).toBe(min(60));
    expect(read([sample(0, '10')], 71).retestDue).toBe(min(120));
    const missed = read([sample(0, '10')], 131);
    expect([missed.reading, missed.why, missed.retestDue]).toEqual(['indeterminate', 'missed-timing', null]);
  });

  it('a pending (non-final) sample drawn in a window keeps it open', () => {
    const r = readSerial({ serial: s, zero: sample(0, '10'), usable: [sample(0, '10')], pending: [{ assayId: elecsys.id, drawTime: min(60) }], onset: min(-120), sex: null, now: min(131) });
    expect([r.reading, r.retestDue]).toEqual(['awaiting-retest', min(60)]);
  });
});

describe('a pathway file is checked at load', () => {
  const file = (): PathwayFile => JSON.parse(readFileSync(join(PATHWAYS_DIR, 'esc-0h1h.json'), 'utf8')) as PathwayFile;
  it('two reading rules that match one cell are refused, naming the cell', async () => {
    const f = file() as unknown as { serial: { readings: { conditions: unknown }[] } };
    const first = f.serial.readings[0];
    if (first === undefined) throw new Error('no reading rule');
    f.serial.readings.push({ ...first, id: 'duplicate-rule-in' } as unknown as { conditions: unknown });
    await expect(compilePathway(f as unknown as PathwayFile, 'x')).rejects.toThrow(/matches several reading rules/);
  });
  it('overlapping windows, a window with its nominal time outside it, and a table rule with an unknown fact are refused', async () => {
    const overlap = file() as unknown as { settings: { windows: { fromMinutes: number; nominalMinutes: number }[] } };
    (overlap.settings.windows[1] as { fromMinutes: number }).fromMinutes = 60;
    await expect(compilePathway(overlap as unknown as PathwayFile, 'x')).rejects.toBeInstanceOf(PathwayProblem);
    const nominal = file() as unknown as { settings: { windows: { nominalMinutes: number }[] } };
    (nominal.settings.windows[0] as { nominalMinutes: number }).nominalMinutes = 80;
    await expect(compilePathway(nominal as unknown as PathwayFile, 'x')).rejects.toThrow(/nominal time is outside/);
    const fact = file() as unknown as { serial: { readings: { conditions: { all: { fact: string }[] } }[] } };
    ((fact.serial.readings[0] as { conditions: { all: { fact: string }[] } }).conditions.all[0] as { fact: string }).fact = 'baselineVsLimit';
    await expect(compilePathway(fact as unknown as PathwayFile, 'x')).rejects.toThrow(/the cell facts are/);
  });
  it('a serial pathway without the outcomes it needs, or with both a classification and a serial section, is refused', async () => {
    const noObserve = file() as unknown as { severity: string[]; outcomes: Record<string, unknown>; graph: { nodes: { outcome?: string }[] } };
    noObserve.severity = noObserve.severity.filter((o) => o !== 'observe');
    delete noObserve.outcomes['observe'];
    await expect(compilePathway(noObserve as unknown as PathwayFile, 'x')).rejects.toBeInstanceOf(PathwayProblem);
    const both = { ...file(), classification: JSON.parse(readFileSync(join(PATHWAYS_DIR, 'chart2.json'), 'utf8')).classification } as PathwayFile;
    await expect(compilePathway(both, 'x')).rejects.toThrow(/exactly one of/);
  });
});
