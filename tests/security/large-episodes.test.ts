/**
 * Hostile or absurd episode sizes (hardening item "quadratic evaluation"): many troponins drawn at one
 * time (distinct ids and values), many at distinct times, many ECGs, many TIMI scores and many ignored
 * resources, at 10x and 1,000x a normal episode (about 6 observations). Each goes through the real
 * app three ways: `decide()`, `POST /console/api/evaluate` (fastify inject, no credentials needed) and
 * the CDS service with the data in prefetch over a real socket, with the audit record read back.
 *
 * Before the fix the 1,000x cases exhausted the heap (every baseline at one time was weighed against
 * every other result, each pair with its trace step) or answered with megabytes of card. The bounds
 * asserted here are the contract's: card detail under 32 kB, decision and audit record (which keeps the whole card) bounded
 * whatever the input, the outcome never less serious than the contract's (rule 16: an episode with more
 * troponin results than the pathway can weigh is indeterminate, unless something more serious applies).
 * Speed is measured by `npm run bench`, never here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Observation, Resource } from 'fhir/r4.js';
import { decide } from '../../src/decide.js';
import { cardsFor, withRecordId } from '../../src/cds/cards.js';
import type { Decision } from '../../src/engine/types.js';
import { at, bundle, ecg, patient, runtime, timi, troponin } from '../support/cases.js';
import { MAX_RESOURCES } from '../../src/console/evaluate.js';
import { admin, call, EHR_ISS, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';

/** A normal episode: Patient, ECG, TIMI, baseline, 3-hour retest, and one more result. */
const NORMAL = 6;
const SIZES = [10 * NORMAL, 1000 * NORMAL] as const;

/** The contract's bound on the card detail. */
const MAX_DETAIL_BYTES = 32 * 1024;
/** Bounds this suite holds the decision and the audit record to, whatever the input. */
const MAX_DECISION_BYTES = 256 * 1024;
const MAX_RECORD_BYTES = 512 * 1024;
/** The whole card, which the record keeps: its detail (under 32 kB), its console link (under 8 kB), and the rest. */
const MAX_CARD_BYTES = 64 * 1024;

const bytes = (x: unknown): number => Buffer.byteLength(typeof x === 'string' ? x : JSON.stringify(x));

const NOW_MINUTES = 200;

interface Shape {
  readonly name: string;
  /** `n` observations of the shape on top of a worked-up context (Patient, ECG, TIMI). */
  readonly build: (n: number) => Resource[];
  readonly outcome: Decision['outcome'];
}

/** Distinct values, so that no two are exact duplicates (rule 16), all below the URL and within 20% of each other. */
const value = (i: number): number => Number((10 + i / 10000).toFixed(4));

const context = (): Resource[] => [patient(), ecg('no-stemi-or-new-lbbb', -10, { id: 'ecg-main' }), timi(2, -5, { id: 'timi-main' })];

const SHAPES: readonly Shape[] = [
  {
    name: 'troponins drawn at one time (distinct ids and values)',
    build: (n) => [...context(), ...Array.from({ length: n }, (_, i) => troponin(value(i), 0, { id: `same-${i}` }))],
    // More results than the pathway weighs: indeterminate (rule 16).
    outcome: 'indeterminate',
  },
  {
    name: 'troponins at distinct times in one episode',
    build: (n) => [...context(), ...Array.from({ length: n }, (_, i) => troponin(value(i), (i * 190) / n, { id: `dist-${i}` }))],
    outcome: 'indeterminate',
  },
  {
    name: 'a baseline and many retests showing a rise above the URL (consistent with MI outranks indeterminate)',
    build: (n) => [...context(), troponin(10, 0, { id: 'base' }), ...Array.from({ length: n - 1 }, (_, i) => troponin(40 + i / 1000, 180 + (i % 15), { id: `rise-${i}` }))],
    outcome: 'consistent-with-mi',
  },
  {
    name: 'many troponins with an ECG showing ST-elevation (the acute MI pathway outranks indeterminate)',
    build: (n) => [patient(), ecg('stemi-or-new-lbbb', -10, { id: 'ecg-stemi' }), ...Array.from({ length: n }, (_, i) => troponin(value(i), 0, { id: `stemi-${i}` }))],
    outcome: 'acute-mi-pathway',
  },
  {
    name: 'ECGs (LBBB of unknown age, each answered by a classification)',
    build: (n) => [
      patient(),
      timi(2, -5, { id: 'timi-main' }),
      troponin(6, 0, { id: 'b' }),
      troponin(6, 180, { id: 'r' }),
      ...Array.from({ length: n }, (_, i) =>
        i % 2 === 0 ? ecg([{ system: 'http://snomed.info/sct', code: '164909002' }], -100 + (i % 90), { id: `lbbb-${i}` }) : ecg('no-stemi-or-new-lbbb', 0, { id: `ecg-${i}` }),
      ),
    ],
    outcome: 'not-consistent-with-mi',
  },
  {
    name: 'unusable TIMI scores',
    build: (n) => [patient(), ecg('no-stemi-or-new-lbbb', -10, { id: 'ecg-main' }), troponin(6, 0, { id: 'b' }), troponin(6, 180, { id: 'r' }), ...Array.from({ length: n }, (_, i) => timi(9, -(i % 60), { id: `timi-${i}` }))],
    outcome: 'needs-input',
  },
  {
    name: 'resources the pathway does not use',
    build: (n) => [...context(), troponin(6, 0, { id: 'b' }), troponin(6, 180, { id: 'r' }), ...Array.from({ length: n }, (_, i) => ({ resourceType: 'Condition', id: `cond-${i}` }))],
    outcome: 'not-consistent-with-mi',
  },
];

function checkDecision(d: Decision, shape: Shape, n: number): void {
  expect(d.outcome, shape.name).toBe(shape.outcome);
  expect(bytes(d), `decision size for ${n}`).toBeLessThan(MAX_DECISION_BYTES);
  // Never silently dropped: every resource is accounted for, listed or counted in a summary.
  const accounted = d.inputs.reduce((sum, u) => sum + (u.count ?? 1), 0);
  expect(accounted, 'every resource accounted for in inputs').toBeGreaterThanOrEqual(n);
}

describe('large episodes through decide()', () => {
  for (const shape of SHAPES) {
    for (const n of SIZES) {
      it(`${shape.name}: ${n} observations`, async () => {
        const rt = await runtime();
        const resources = shape.build(n);
        const d = await decide(rt, bundle(...resources), { now: at(NOW_MINUTES) });
        checkDecision(d, shape, n);
        const [card] = cardsFor(d, { newId: () => 'id', publicBaseUrl: 'https://cds.example', displayTimeZone: 'Europe/London', auditId: 'a', runtime: rt, resources });
        expect(bytes(card?.detail ?? ''), 'card detail').toBeLessThan(MAX_DETAIL_BYTES);
      });
    }
  }

  it('over the cap, the trace and card summarise the results: counts, first, last, highest', async () => {
    const rt = await runtime();
    const resources = SHAPES[1]!.build(6000);
    const d = await decide(rt, bundle(...resources), { now: at(NOW_MINUTES) });
    const summary = d.trace.find((s) => s.rule === '16' && s.result === 'indeterminate');
    expect(summary?.text).toMatch(/more results than the pathway can weigh/i);
    expect(summary?.facts).toMatchObject({ results: 6000, first: 'Observation/dist-0', last: 'Observation/dist-5999', highest: 'Observation/dist-5999' });
    const [card] = cardsFor(d, { newId: () => 'id', publicBaseUrl: 'https://cds.example', displayTimeZone: 'Europe/London', auditId: 'a', runtime: rt, resources });
    expect(card?.detail).toMatch(/6,000 troponin results/);
  });
});

describe('long texts from the data', () => {
  it('a 100,000-character status, id, unit and encounter are clipped in the decision and the card', async () => {
    const rt = await runtime();
    const long = 'x'.repeat(100_000);
    const resources = [
      ...context(),
      ...Array.from({ length: 40 }, (_, i) => troponin(10, i, { id: `${long}${i}`, status: long, encounter: long })),
      troponin(10, 0, { id: 'u', unit: long }),
      { resourceType: 'Observation', id: 'odd', status: 'final', code: { coding: [{ system: long, code: long }] } } as Resource,
    ];
    const d = await decide(rt, bundle(...resources), { now: at(NOW_MINUTES) });
    expect(d.outcome).toBe('indeterminate');
    expect(bytes(d)).toBeLessThan(MAX_DECISION_BYTES);
    const [card] = cardsFor(d, { newId: () => 'id', publicBaseUrl: 'https://cds.example', displayTimeZone: 'Europe/London', auditId: 'a', runtime: rt, resources });
    expect(bytes(card?.detail ?? '')).toBeLessThan(MAX_DETAIL_BYTES);
  });
});

describe('large episodes through POST /console/api/evaluate (inject, no credentials)', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({});
  });
  afterAll(async () => {
    await app?.close();
  });

  for (const shape of SHAPES) {
    for (const n of SIZES) {
      it(`${shape.name}: ${n} observations`, async () => {
        const res = await app.app.inject({ method: 'POST', url: '/console/api/evaluate', payload: { bundle: bundle(...shape.build(n)), now: at(NOW_MINUTES) } });
        if (n > MAX_RESOURCES) {
          // The public console refuses the case before the engine sees it (64 kB body, 200 resources).
          expect(res.statusCode).toBe(413);
          expect(res.json<{ resourceType: string }>().resourceType).toBe('OperationOutcome');
          return;
        }
        expect(res.statusCode).toBe(200);
        const json = res.json<{ decision: Decision; cards: { detail: string }[] }>();
        checkDecision(json.decision, shape, n);
        expect(bytes(json.cards[0]?.detail ?? ''), 'card detail').toBeLessThan(MAX_DETAIL_BYTES);
      });
    }
  }
});

describe('large episodes through the CDS service (prefetch, real socket, audit record read back)', () => {
  let app: RunningApp;
  let ehr: CdsTestClient;
  beforeAll(async () => {
    // One fixed clock for the app, the store and the JWT signer: the evaluation time is the request's.
    const now = (): Date => new Date(at(NOW_MINUTES));
    ehr = await createCdsClient({ iss: EHR_ISS, alg: 'RS384', now });
    app = await startApp({ clients: [ehr], now });
  });
  afterAll(async () => {
    await app?.close();
  });

  for (const shape of SHAPES) {
    for (const n of SIZES) {
      it(`${shape.name}: ${n} observations`, async () => {
        const observations = shape.build(n).filter((r): r is Observation => r.resourceType !== 'Patient');
        const res = await call(app, ehr, 'POST', SERVICE_PATH, hookBody('p1', { prefetch: { observations: searchset(observations) } }));
        expect(res.status).toBe(200);
        const card = res.json.cards[0];
        expect(card.extension['hs-troponin-cds'].outcome, shape.name).toBe(shape.outcome);
        expect(bytes(card.detail), 'card detail').toBeLessThan(MAX_DETAIL_BYTES);
        const rec = await admin(app, `/audit/${String(card.extension['hs-troponin-cds'].auditId)}`);
        expect(rec.status).toBe(200);
        expect(bytes(rec.text), 'audit record').toBeLessThan(MAX_RECORD_BYTES);
        // The record keeps the card as sent (hazard I-10), which stays bounded: its detail, its link, the rest.
        expect(withRecordId(rec.json.body.cards[0].card, rec.json.id)).toStrictEqual(card);
        expect(bytes(card), 'card').toBeLessThan(MAX_CARD_BYTES);
        expect(rec.json.body.outcome).toBe(shape.outcome);
        // The record pins every input resource (a count and a digest over all), even when it lists only some.
        expect(rec.json.body.inputResourceCount).toBe(observations.length);
        expect(rec.json.body.inputResourcesSha256).toMatch(/^[0-9a-f]{64}$/);
      });
    }
  }

  it('6,000 observations about another patient: left out, listed 20 and counted in the record', async () => {
    const others = Array.from({ length: 6000 }, (_, i) => ({ ...troponin(value(i), 0, { id: `other-${i}` }), subject: { reference: 'Patient/someone-else' } }));
    const res = await call(app, ehr, 'POST', SERVICE_PATH, hookBody('p1', { prefetch: { observations: searchset(others) } }));
    expect(res.status).toBe(200);
    expect(res.json.cards[0].extension['hs-troponin-cds'].outcome).toBe('needs-input');
    const rec = await admin(app, `/audit/${String(res.json.cards[0].extension['hs-troponin-cds'].auditId)}`);
    expect(bytes(rec.text)).toBeLessThan(MAX_RECORD_BYTES);
    expect(rec.json.body.data.excluded).toHaveLength(20);
    expect(rec.json.body.data.excludedCount).toBe(6000);
  });
});
