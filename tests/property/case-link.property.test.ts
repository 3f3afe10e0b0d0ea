/**
 * A card's console link reproduces the card's decision (S-08, S-24): for any episode the pathway
 * reads, including malformed and hostile data (free text in units, codes, statuses and comparators,
 * unreadable units, other unit systems, value[x] of the wrong type, versions and identical copies of
 * one result, encounters), the case the link carries, once signed, read back and rebuilt, gives the
 * same outcome, the same missing items and the same retest state, and carries none of the free text.
 * For the pathways that read the chest-pain onset (ESC, High-STEACS), the same with onsets of every
 * form (a time, a period, a date alone, other values, several, non-final), and the same onset (H-65).
 */
import fc from 'fast-check';
import type { Resource } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { caseLinkUrl, readCaseParam } from '../../src/cds/case-link-codec.js';
import { caseToResources } from '../../src/cds/case-resources.js';
import { UNREADABLE_UNIT } from '../../src/cds/case-vocabulary.js';
import { decideResources } from '../../src/decide.js';
import { factorToNgPerL } from '../../src/fhir/units.js';
import { ABBOTT, at, PRODUCT, ROCHE, runtime, SNOMED } from '../support/cases.js';

const KEY = Buffer.from('a-key-for-the-case-link-property-test');
const UCUM = 'http://unitsofmeasure.org';
const FREE_TEXT = 'JOHN SMITH';

const time = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -300, max: 400 }).map((m) => at(m)) },
  { weight: 1, arbitrary: fc.constantFrom('2026-03-14', '2026-03-14T10:00:00', 'yesterday', 5 as unknown as string) },
);
const maybe = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 3 });
const status = fc.constantFrom<unknown>('final', 'final', 'final', 'amended', 'corrected', 'preliminary', 'registered', 'cancelled', 'entered-in-error', 'unknown', 'FINAL', `seen by ${FREE_TEXT}`, 42);
const identity = fc.record({ id: maybe(fc.constantFrom('r1', 'r2', 'r3')), identifier: maybe(fc.constantFrom('lab-1', 'lab-2')) });
const encounter = maybe(fc.constantFrom('enc-1', 'enc-2'));

const quantity = fc.record({
  value: fc.constantFrom<unknown>(0, 3, 5, 8, 13, 14, 15.6, 17, 31, 100, 0.031, -1, '8', null),
  comparator: maybe(fc.constantFrom<unknown>('<', '<=', '>', '>=', 'ad', '~', 5)),
  unit: fc.constantFrom<Record<string, unknown>>(
    { unit: 'ng/L', system: UCUM, code: 'ng/L' },
    { unit: 'ng/L', system: UCUM, code: 'ng/L' },
    { unit: 'ng/mL', system: UCUM, code: 'ng/mL' },
    { unit: 'pg/mL' },
    { unit: 'µg/L' },
    { unit: `ng/L (${FREE_TEXT})`, system: UCUM, code: 'ng/L' },
    { unit: FREE_TEXT },
    { unit: 'ng/L', system: `http://${FREE_TEXT.replace(' ', '')}.example` },
    { unit: 'ng/L', system: 7 },
    { unit: 'ng/L', code: 5 },
    { unit: 'ng/L', code: '' },
    { unit: 'U/L', system: UCUM, code: 'U/L' },
    { system: UCUM, code: `ng/L{${FREE_TEXT}}` },
    { unit: 7 },
    {},
  ),
});

const troponin = fc.record({
  kind: fc.constant('troponin' as const),
  identity,
  assay: fc.constantFrom([ROCHE], [ROCHE], [ABBOTT], [ROCHE, ABBOTT], [ROCHE, { system: 'http://lab.example/codes', code: FREE_TEXT }]),
  status,
  t: maybe(time),
  issued: maybe(time),
  updated: maybe(time),
  encounter,
  value: fc.oneof(
    { weight: 8, arbitrary: quantity.map((q) => ({ valueQuantity: { ...(q.value === null ? {} : { value: q.value }), ...(q.comparator === undefined ? {} : { comparator: q.comparator }), ...q.unit } })) },
    { weight: 1, arbitrary: fc.constantFrom<Record<string, unknown>>({ valueString: `8 ng/L ${FREE_TEXT}` }, { valueQuantity: 'x' }, { valueInteger: 8 }, {}) },
    { weight: 1, arbitrary: fc.constantFrom<Record<string, unknown>>({ dataAbsentReason: { coding: [{ code: 'error' }], text: `haemolysed, ${FREE_TEXT}` } }, { dataAbsentReason: { coding: [{ code: FREE_TEXT }] }, valueQuantity: { value: 8, unit: 'ng/L' } }) },
  ),
});

const ecgValue = fc.constantFrom<unknown>(
  { coding: [{ system: PRODUCT, code: 'no-stemi-or-new-lbbb' }] },
  { coding: [{ system: PRODUCT, code: 'stemi-or-new-lbbb' }, { system: 'http://local.example', code: FREE_TEXT }] },
  { coding: [{ system: SNOMED, code: '164909002' }] },
  { coding: [{ system: 'http://local.example', code: FREE_TEXT }], text: FREE_TEXT },
  'ST elevation',
  undefined,
);
const ecg = fc.record({ kind: fc.constant('ecg' as const), identity, status, t: maybe(time), issued: maybe(time), updated: maybe(time), encounter, value: ecgValue.map((v) => (v === undefined ? {} : { valueCodeableConcept: v })) });
const timi = fc.record({
  kind: fc.constant('timi' as const),
  identity,
  status,
  t: maybe(time),
  issued: maybe(time),
  updated: maybe(time),
  encounter,
  value: fc.constantFrom<unknown>(0, 1, 2, 3, 7, 8, -1, '2', 2.5, undefined).map((v) => (v === undefined ? {} : { valueInteger: v })),
});

/** Chest-pain onsets as records hold them, usable or not (esc-0h1h-0h2h.md rule 4 and section 6). */
const onset = fc.record({
  kind: fc.constant('onset' as const),
  identity,
  status,
  t: maybe(time),
  issued: maybe(time),
  updated: maybe(time),
  encounter,
  value: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: -600, max: 300 }).map((m) => ({ valueDateTime: at(m) })) },
    { weight: 2, arbitrary: fc.tuple(fc.integer({ min: -600, max: 300 }), fc.integer({ min: -120, max: 120 })).map(([m, d]) => ({ valuePeriod: { start: at(m), end: at(m + d) } })) },
    {
      weight: 2,
      arbitrary: fc.constantFrom<Record<string, unknown>>(
        { valueDateTime: '2026-03-14' },
        { valueDateTime: '2026-03-14T06:00:00' },
        { valueDateTime: `this morning, ${FREE_TEXT}` },
        { valuePeriod: { end: at(-200) } },
        { valuePeriod: 'x' },
        { valueString: `since breakfast, ${FREE_TEXT}` },
        { valueQuantity: { value: 4, unit: 'h' } },
        { valueDateTime: at(-200), valueString: FREE_TEXT },
        {},
      ),
    },
  ),
});

type Gen = typeof troponin extends fc.Arbitrary<infer T> ? T : never;
type AnyGen = Gen | (typeof ecg extends fc.Arbitrary<infer E> ? E : never) | (typeof timi extends fc.Arbitrary<infer M> ? M : never) | (typeof onset extends fc.Arbitrary<infer O> ? O : never);

const CODES = {
  ecg: { coding: [{ system: 'http://loinc.org', code: '8601-7', display: FREE_TEXT }] },
  timi: { coding: [{ system: PRODUCT, code: 'timi-risk-score' }] },
  onset: { coding: [{ system: PRODUCT, code: 'chest-pain-onset', display: FREE_TEXT }], text: FREE_TEXT },
};

function resourceOf(g: AnyGen): Record<string, unknown> {
  const code = g.kind === 'troponin' ? { coding: g.assay, text: FREE_TEXT } : CODES[g.kind];
  return {
    resourceType: 'Observation',
    ...(g.identity.id === undefined ? {} : { id: g.identity.id }),
    ...(g.identity.identifier === undefined ? {} : { identifier: [{ system: 'http://lab.example/result', value: g.identity.identifier }] }),
    ...(g.status === undefined ? {} : { status: g.status }),
    code,
    subject: { reference: 'Patient/p-secret', display: FREE_TEXT },
    note: [{ text: FREE_TEXT }],
    ...(g.t === undefined ? {} : { effectiveDateTime: g.t }),
    ...(g.issued === undefined ? {} : { issued: g.issued }),
    ...(g.updated === undefined ? {} : { meta: { lastUpdated: g.updated } }),
    ...(g.encounter === undefined ? {} : { encounter: { reference: `Encounter/${g.encounter}` } }),
    ...g.value,
  };
}

const episode = fc.record({
  observations: fc.array(fc.oneof({ weight: 3, arbitrary: troponin }, { weight: 1, arbitrary: ecg }, { weight: 1, arbitrary: timi }), { maxLength: 8 }),
  /** Copies of some of them, as a search listing one resource twice. */
  copies: fc.array(fc.nat({ max: 7 }), { maxLength: 2 }),
  sex: maybe(fc.constantFrom('female', 'male', 'other', 'unknown', FREE_TEXT)),
  now: fc.integer({ min: 0, max: 600 }),
  encounter: fc.constantFrom<string | null>(null, 'enc-1'),
  sexSpecificUrls: fc.boolean(),
});

/** An episode of a pathway that reads the onset: troponins, ECGs and onsets (TIMI is read by neither). */
const onsetEpisode = fc.record({
  pathway: fc.constantFrom('esc-0h1h', 'esc-0h2h', 'high-steacs'),
  observations: fc.array(fc.oneof({ weight: 3, arbitrary: troponin }, { weight: 1, arbitrary: ecg }, { weight: 2, arbitrary: onset }), { maxLength: 8 }),
  copies: fc.array(fc.nat({ max: 7 }), { maxLength: 2 }),
  sex: maybe(fc.constantFrom('female', 'male', 'unknown')),
  now: fc.integer({ min: 0, max: 600 }),
  encounter: fc.constantFrom<string | null>(null, 'enc-1'),
});

describe('a card link reproduces the card', () => {
  it('the placeholder unit is never readable', () => {
    expect(factorToNgPerL(UNREADABLE_UNIT).ok).toBe(false);
  });

  it('for any episode, the signed link decides as the card did and carries no free text', async () => {
    await fc.assert(
      fc.asyncProperty(episode, async (e) => {
        const rt = await runtime(e.sexSpecificUrls ? { sexSpecificUrls: true } : {});
        const observations = e.observations.map(resourceOf);
        for (const i of e.copies) if (observations[i] !== undefined) observations.push(structuredClone(observations[i]));
        const resources = [...(e.sex === undefined ? [] : [{ resourceType: 'Patient', id: 'p-secret', gender: e.sex, name: [{ text: FREE_TEXT }] }]), ...observations] as unknown as Resource[];
        const card = await decideResources(rt, resources, { now: at(e.now), encounterId: e.encounter });
        const url = caseLinkUrl({ publicBaseUrl: 'https://cds.example', key: KEY, resources, decision: card, runtime: rt, encounterId: e.encounter });
        const read = readCaseParam(new URLSearchParams(new URL(url).hash.slice(1)).get('case') ?? '', KEY);
        expect(read.verified).toBe(true);
        expect(read.case.summary).toBeUndefined();
        expect(JSON.stringify(read.case)).not.toMatch(/JOHN|SMITH|p-secret|enc-|r[123]"|lab-[12]|2026-/);
        const rebuilt = caseToResources(read.case);
        const link = await decideResources(rt, rebuilt.resources, { now: rebuilt.now, encounterId: rebuilt.encounterId });
        expect({ outcome: link.outcome, missing: link.missing, indicator: link.indicator, retest: link.retestDue !== undefined, overdue: link.retestOverdue }).toEqual({
          outcome: card.outcome,
          missing: card.missing,
          indicator: card.indicator,
          retest: card.retestDue !== undefined,
          overdue: card.retestOverdue,
        });
        expect(read.case.outcome).toBe(card.outcome);
      }),
      { numRuns: 400 },
    );
  });

  it('for a pathway that reads the chest-pain onset, the signed link carries the onset: the same outcome and the same onset (H-65)', async () => {
    await fc.assert(
      fc.asyncProperty(onsetEpisode, async (e) => {
        const rt = await runtime({ pathway: e.pathway });
        const observations = e.observations.map(resourceOf);
        for (const i of e.copies) if (observations[i] !== undefined) observations.push(structuredClone(observations[i]));
        const resources = [...(e.sex === undefined ? [] : [{ resourceType: 'Patient', id: 'p-secret', gender: e.sex }]), ...observations] as unknown as Resource[];
        const card = await decideResources(rt, resources, { now: at(e.now), encounterId: e.encounter });
        const url = caseLinkUrl({ publicBaseUrl: 'https://cds.example', key: KEY, resources, decision: card, runtime: rt, encounterId: e.encounter });
        const read = readCaseParam(new URLSearchParams(new URL(url).hash.slice(1)).get('case') ?? '', KEY);
        expect(read.verified).toBe(true);
        expect(JSON.stringify(read.case)).not.toMatch(/JOHN|SMITH|breakfast|morning|p-secret|enc-|r[123]"|lab-[12]|2026-/);
        const rebuilt = caseToResources(read.case);
        const link = await decideResources(rt, rebuilt.resources, { now: rebuilt.now, encounterId: rebuilt.encounterId });
        expect({ outcome: link.outcome, missing: link.missing, indicator: link.indicator, retest: link.retestDue !== undefined, basis: link.onset?.basis }).toEqual({
          outcome: card.outcome,
          missing: card.missing,
          indicator: card.indicator,
          retest: card.retestDue !== undefined,
          basis: card.onset?.basis,
        });
        // The same onset, relative to the same 0 h draw (the link moves every time by the same amount).
        const minutesBefore = (d: typeof card): number | null =>
          d.onset === undefined || d.onset.time === null || d.troponin.baseline === null ? null : (Date.parse(d.troponin.baseline.drawTime) - Date.parse(d.onset.time)) / 60_000;
        expect(minutesBefore(link)).toBe(minutesBefore(card));
      }),
      { numRuns: 300 },
    );
  });
});
