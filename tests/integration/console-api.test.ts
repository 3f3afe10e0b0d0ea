/**
 * The console API over real HTTP: the console plugin on 127.0.0.1:0 with the real pathway runtime.
 * The console must decide exactly as the engine, the command line and the CDS cards do, for the same data.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardsFor } from '../../src/cds/cards.js';
import { readCaseParam } from '../../src/cds/case-link-codec.js';
import { decide } from '../../src/decide.js';
import { extractResources } from '../../src/fhir/mapping.js';
import { allFixtures, fixtureNames, loadFixture } from '../support/fixtures.js';
import { startConsole, type ConsoleApp } from '../support/browser.js';
import type { CardView, EvaluateResponse, FixtureResponse, FixturesResponse, MapResponse, OperationOutcomeView, PathwayResponse } from '../../src/console/web/api-types.js';

/** What the console API answers, by path (or an OperationOutcome on error). */
type Answer<T> = { status: number; headers: Headers; json: T; text: string };

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let app: ConsoleApp;

beforeAll(async () => {
  app = await startConsole();
});
afterAll(async () => {
  await app.close();
});

async function http<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown, raw?: string): Promise<Answer<T>> {
  const init: RequestInit = { method };
  if (raw !== undefined || body !== undefined) {
    init.body = raw ?? JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const res = await fetch(`${app.url}${path}`, init);
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json: json as T, text };
}

function errorCode(json: unknown): string | undefined {
  return (json as { issue?: { details?: { coding?: { code: string }[] } }[] } | undefined)?.issue?.[0]?.details?.coding?.[0]?.code;
}

const outcome = (json: unknown): OperationOutcomeView => json as OperationOutcomeView;

describe('the page and its assets', () => {
  it('serves /console with its scripts and styles, from this service only, under a strict CSP', async () => {
    const page = await http('GET', '/console');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(page.text).toContain('src="/console/js/main.js"');
    expect(page.text).toContain('href="/console/assets/console.css"');
    // No CDN, no other origin: every src/href is local.
    for (const m of page.text.matchAll(/(?:src|href)="([^"]+)"/g)) expect(m[1]).toMatch(/^(\/|#|data:)/);
    for (const asset of ['/console/js/main.js', '/console/js/chart.js', '/console/js/mapplot.js', '/console/assets/console.css']) {
      const r = await fetch(`${app.url}${asset}`);
      expect(r.status, asset).toBe(200);
      expect(r.headers.get('content-type') ?? '', asset).toMatch(asset.endsWith('.js') ? /javascript/ : /text\/css/);
      expect((await r.text()).length, asset).toBeGreaterThan(100);
    }
    // Only the compiled modules are served from dist/console/web.
    expect((await fetch(`${app.url}/console/js/../../server.js`)).status).toBe(404);
    expect((await fetch(`${app.url}/console/js/tsconfig.json`)).status).toBe(404);
  });

  it('serves the rules page with an anchor for every rule of the contract', async () => {
    const r = await http('GET', '/console/rules');
    expect(r.status).toBe(200);
    for (let n = 0; n <= 15; n++) expect(r.text, `rule-${n}`).toMatch(new RegExp(`id="rule-${n}"`));
    expect(r.text).not.toMatch(/<script/i);
  });
});

describe('POST /console/api/evaluate', () => {
  it('gives every fixture its expected outcome, exactly as decide() does, with the CDS card', async () => {
    for (const f of allFixtures()) {
      const body = { bundle: f.doc, now: f.expected.now, ...(f.expected.encounter === undefined ? {} : { encounter: f.expected.encounter }), ...(f.expected.settings === undefined ? {} : { settings: f.expected.settings }) };
      const r = await http<EvaluateResponse>('POST', '/console/api/evaluate', body);
      expect(r.status, f.name).toBe(200);
      expect(r.json.decision.outcome, f.name).toBe(f.expected.outcome);
      expect(r.json.decision.missing, f.name).toEqual(f.expected.missing);
      expect(r.json.decision.retestDue, f.name).toBe(f.expected.retestDue);
      expect(r.json.settings.sexSpecificUrls, f.name).toBe(f.expected.settings?.['sexSpecificUrls'] === true);
      // The decision is the engine's, byte for byte.
      if (f.expected.settings === undefined) {
        const direct = await decide(app.runtime, f.doc, { now: f.expected.now, encounterId: f.expected.encounter ?? null });
        expect(r.json.decision, f.name).toEqual(JSON.parse(JSON.stringify(direct)));
        // The card is the CDS service's card for the same decision (ids aside).
        const cards = cardsFor(direct, { newId: randomUUID, publicBaseUrl: app.settings.publicBaseUrl, displayTimeZone: app.settings.displayTimeZone, auditId: null, runtime: app.runtime, resources: extractResources(f.doc), encounterId: f.expected.encounter ?? null });
        const strip = (c: CardView): CardView => ({ ...c, uuid: undefined, suggestions: c.suggestions?.map((sg) => ({ ...sg, uuid: undefined })) });
        expect(r.json.cards.map(strip), f.name).toEqual((JSON.parse(JSON.stringify(cards)) as CardView[]).map(strip));
      }
      expect(r.json.cards).toHaveLength(1);
      expect(r.json.cards[0]?.indicator, f.name).toBe(r.json.decision.indicator);
      const ext = r.json.cards[0]?.extension?.['hs-troponin-cds'] as { outcome: string; auditId?: string } | undefined;
      expect(ext?.outcome, f.name).toBe(f.expected.outcome);
      expect(ext?.auditId, 'the console writes no audit record').toBeUndefined();
    }
  });

  it('agrees with the command line for the same data', () => {
    for (const name of ['below-url-rise-above-url-consistent', 'needs-input-lists-everything', 'awaiting-retest-overdue']) {
      const f = loadFixture(name);
      const out = execFileSync(process.execPath, [`${ROOT}bin/hs-troponin-cds.js`, 'evaluate', f.path, '--now', f.expected.now], { encoding: 'utf8' });
      const cli = JSON.parse(out) as { outcome: string };
      expect(cli.outcome, name).toBe(f.expected.outcome);
    }
  });

  it('annotates the decision points on the path with the values used', async () => {
    const f = loadFixture('below-url-rise-above-url-consistent');
    const r = await http<EvaluateResponse>('POST', '/console/api/evaluate', { bundle: f.doc, now: f.expected.now });
    const a = r.json.annotations as Record<string, string[]>;
    expect(r.json.decision.path.nodes).toEqual(['chest-pain', 'ecg', 'timi', 'baseline', 'retest-below', 'below-mi']);
    expect(a['ecg']?.join(' ')).toContain('No ST-elevation or new LBBB');
    expect(a['timi']?.join(' ')).toContain('TIMI score: 3');
    expect(a['baseline']?.join(' ')).toContain('baseline 8 ng/L');
    expect(a['retest-below']?.join(' ')).toMatch(/retest 31 ng\/L at \+190 min, \+287\.5%/);
  });

  it('reads a case link from a card: the de-identified case decides the same, and its signature verifies', async () => {
    for (const name of fixtureNames()) {
      const f = loadFixture(name);
      if (f.expected.settings !== undefined) continue;
      const first = await http<EvaluateResponse>('POST', '/console/api/evaluate', { bundle: f.doc, now: f.expected.now, ...(f.expected.encounter === undefined ? {} : { encounter: f.expected.encounter }) });
      // The console signs no link: only the CDS service does, for what an EHR sent it.
      expect(first.json.cards[0]?.links, name).toBeUndefined();
      // The link the CDS card carries for the same evaluation (cardsFor with the service's key).
      const decision = await decide(app.runtime, f.doc, { now: f.expected.now, encounterId: f.expected.encounter ?? null });
      const [card] = cardsFor(decision, { newId: randomUUID, publicBaseUrl: app.settings.publicBaseUrl, displayTimeZone: app.settings.displayTimeZone, auditId: 'a', runtime: app.runtime, resources: extractResources(f.doc), encounterId: f.expected.encounter ?? null, caseLinkKey: app.caseLinkKey });
      const link = card?.links?.[0]?.url ?? '';
      expect(link, name).toMatch(/\/console#case=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
      const param = new URLSearchParams(new URL(link).hash.slice(1)).get('case') ?? '';
      // The link carries no patient identifier, no resource id and no absolute date of the case.
      const decoded = JSON.stringify(readCaseParam(param, app.caseLinkKey).case);
      for (const id of ['pt-', 'Patient/', 'enc-', 'Encounter/', '2026-']) expect(decoded, `${name}: ${id}`).not.toContain(id);
      const again = await http<EvaluateResponse>('POST', '/console/api/evaluate', { case: param });
      expect(again.status, name).toBe(200);
      expect(again.json.caseLink, name).toEqual({ verified: true, problem: null, cardOutcome: f.expected.outcome, summary: null });
      expect(again.json.decision.outcome, name).toBe(f.expected.outcome);
      expect(again.json.decision.missing, name).toEqual(f.expected.missing);
      expect(again.json.decision.retestDue === undefined, name).toBe(f.expected.retestDue === undefined);
      expect(Array.isArray(again.json.resources), name).toBe(true);
    }
  });

  it('answers bad requests with an OperationOutcome naming the problem', async () => {
    const cases: [string, unknown, string | undefined, number, string][] = [
      ['not JSON', undefined, '{"bundle": ', 400, 'TNP_ERR_INPUT_NOT_JSON'],
      ['unknown key', { bundle: { resourceType: 'Bundle' }, patient: 'x' }, undefined, 400, 'TNP_ERR_CONSOLE_REQUEST_INVALID'],
      ['no input', { now: '2026-01-01T00:00:00Z' }, undefined, 400, 'TNP_ERR_CONSOLE_REQUEST_INVALID'],
      ['two inputs', { bundle: {}, resources: [] }, undefined, 400, 'TNP_ERR_CONSOLE_REQUEST_INVALID'],
      ['empty resources', { resources: [] }, undefined, 400, 'TNP_ERR_INPUT_EMPTY'],
      ['not FHIR', { resources: [{ a: 1 }] }, undefined, 400, 'TNP_ERR_INPUT_NOT_FHIR'],
      ['bad time', { resources: [{ resourceType: 'Patient' }], now: 'yesterday at noon' }, undefined, 400, 'TNP_ERR_BAD_ARGUMENT'],
      ['bad case link', { case: 'not-a-case' }, undefined, 400, 'TNP_ERR_CONSOLE_CASE_LINK_INVALID'],
      ['a JSON array body', undefined, '[1,2]', 400, 'TNP_ERR_CONSOLE_REQUEST_INVALID'],
      [
        'two patients',
        { resources: [{ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '89579-7' }] }, subject: { reference: 'Patient/p1' } }, { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '89579-7' }] }, subject: { reference: 'Patient/other' } }] },
        undefined,
        400,
        'TNP_ERR_INPUT_MORE_THAN_ONE_PATIENT',
      ],
    ];
    for (const [what, body, raw, status, code] of cases) {
      const r = await http('POST', '/console/api/evaluate', body, raw);
      expect(r.status, what).toBe(status);
      expect(outcome(r.json)?.resourceType, what).toBe('OperationOutcome');
      expect(errorCode(r.json), what).toBe(code);
      expect(outcome(r.json).issue[0]?.diagnostics, what).toMatch(/^How to fix: /);
    }
  });

  it('reads the sex only from the Patient the observations name (rule 14): High-STEACS with another patient\'s male Patient still rules in at 16 ng/L', async () => {
    const hs = await startConsole({ pathway: 'high-steacs' });
    try {
      const t0 = Date.parse('2026-11-27T10:00:00Z');
      const at = (min: number): string => new Date(t0 + min * 60_000).toISOString();
      const tni = (id: string, value: number, min: number): unknown => ({
        resourceType: 'Observation',
        id,
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '89579-7' }] },
        subject: { reference: 'Patient/p1' },
        effectiveDateTime: at(min),
        valueQuantity: { value, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
      });
      const ecgNormal = {
        resourceType: 'Observation',
        id: 'ecg',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8601-7' }] },
        subject: { reference: 'Patient/p1' },
        effectiveDateTime: at(-15),
        valueCodeableConcept: { coding: [{ system: 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain', code: 'no-stemi-or-new-lbbb' }] },
      };
      const resources = [{ resourceType: 'Patient', id: 'zz', gender: 'male' }, ecgNormal, tni('t0', 20, 0), tni('t3', 21, 180)];
      const res = await fetch(`${hs.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resources, now: at(185) }) });
      const json = (await res.json()) as EvaluateResponse;
      expect(res.status).toBe(200);
      // Sex unknown: the lower threshold (16 ng/L), not the stranger's male 34 ng/L.
      expect(json.decision.outcome).not.toBe('rule-out');
      expect((json.decision as unknown as { threshold?: unknown }).threshold).toMatchObject({ basis: 'sex-unknown' });
    } finally {
      await hs.close();
    }
  });

  it('never answers 500, whatever the body', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), fc.record({ resources: fc.array(fc.jsonValue(), { maxLength: 4 }) }), fc.record({ bundle: fc.jsonValue(), now: fc.string() }), fc.record({ case: fc.string() })), async (body) => {
        const r = await http('POST', '/console/api/evaluate', body);
        expect(r.status).toBeLessThan(500);
        if (r.status >= 400) expect(outcome(r.json)?.resourceType).toBe('OperationOutcome');
      }),
      { numRuns: 60 },
    );
  });
});

describe('GET /console/api/pathway', () => {
  it('gives the pathway file as it is, and the catalogue, for drawing', async () => {
    const r = await http<PathwayResponse>('GET', '/console/api/pathway');
    expect(r.status).toBe(200);
    expect(r.json.pathway).toEqual(JSON.parse(JSON.stringify(app.runtime.pathway.file)));
    expect(r.json.identity).toEqual(app.runtime.identity);
    expect(r.json.assays.map((a) => a.id).sort()).toEqual([...app.runtime.assays.keys()].sort());
    const roche = r.json.assays.find((a) => a.id === 'roche-elecsys-hs-tnt');
    expect(roche?.url99.overall).toBe('14');
    expect(roche?.lod).toBe('5');
    expect(r.json.rulesUrl).toBe('/console/rules');
  });
});

describe('the scenario library', () => {
  it('lists every fixture with its expected outcome and a live pass mark', async () => {
    const r = await http<FixturesResponse>('GET', '/console/api/fixtures');
    expect(r.status).toBe(200);
    const names = fixtureNames();
    expect(r.json.fixtures.map((f) => f.name)).toEqual(names);
    expect(r.json.failed).toBe(0);
    expect(r.json.passed).toBe(names.length);
    for (const f of r.json.fixtures) {
      const exp = loadFixture(f.name).expected;
      expect(f.expected.outcome, f.name).toBe(exp.outcome);
      expect(f.actual?.outcome, f.name).toBe(exp.outcome);
      expect(f.pass, f.name).toBe(true);
    }
  });

  it('gives one fixture with its Bundle, its decision and its card', async () => {
    const r = await http<FixtureResponse & { bundle: { resourceType: string }; evaluation: EvaluateResponse }>('GET', '/console/api/fixtures/sex-specific-url-female');
    expect(r.status).toBe(200);
    expect(r.json.bundle.resourceType).toBe('Bundle');
    expect(r.json.evaluation.decision.outcome).toBe('consistent-with-mi');
    expect(r.json.evaluation.settings).toEqual({ sexSpecificUrls: true, source: 'request' });
    expect(r.json.evaluation.cards[0]?.summary.length).toBeLessThan(140);
    for (const bad of ['no-such-fixture', '..%2Fpackage', 'README']) {
      const x = await http('GET', `/console/api/fixtures/${bad}`);
      expect(x.status, bad).toBe(404);
      expect(errorCode(x.json), bad).toBe('TNP_ERR_CONSOLE_FIXTURE_UNKNOWN');
    }
  });
});

describe('POST /console/api/map', () => {
  it('maps the outcome over the retest value with the real engine', async () => {
    const r = await http<MapResponse>('POST', '/console/api/map', { assay: 'roche-elecsys-hs-tnt', baseline: '10', timi: 2 });
    expect(r.status).toBe(200);
    const m = r.json;
    expect(m.url).toBe('14');
    expect(m.lines).toEqual({ url: '14', lod: '5', baseline: '10', fall: '8', rise: '12' });
    const at = (v: string): string | undefined => m.retest.samples.find((x) => x.value === v)?.outcome;
    // Rule 7, baseline below the URL: a fall of 20% or more is not consistent; a retest exactly at the
    // URL is indeterminate; a rise of 20% or more to above the URL is consistent.
    expect(at('8')).toBe('not-consistent-with-mi');
    expect(at('10')).toBe('not-consistent-with-mi');
    expect(at('12')).toBe('indeterminate');
    expect(at('14')).toBe('indeterminate');
    expect(at('20')).toBe('consistent-with-mi');
    // Every value is sorted and every sample is a real decision: spot-check against decide().
    const values = m.retest.samples.map((x) => Number(x.value));
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    expect(m.grid.outcomes).toHaveLength(40);
    for (const row of m.grid.outcomes) expect(row).toHaveLength(40);
    expect(m.evaluations).toBe(m.retest.samples.length + 40 * 40);
  });

  it('shows that TIMI 0 is overridden by a raised marker (rule 2)', async () => {
    const r = await http<MapResponse>('POST', '/console/api/map', { assay: 'roche-elecsys-hs-tnt', baseline: 10, timi: 0 });
    const at = (v: string): string | undefined => r.json.retest.samples.find((x) => x.value === v)?.outcome;
    expect(at('10')).toBe('low-risk-pathway');
    expect(at('20')).toBe('consistent-with-mi');
  });

  it('uses the lower URL for unknown sex only when the site uses sex-specific URLs', async () => {
    const plain = await http<MapResponse>('POST', '/console/api/map', { assay: 'abbott-architect-hs-tni', baseline: 10, timi: 2, sex: 'unknown' });
    expect(plain.json.url).toBe('26.2');
    const site = await startConsole({ sexSpecificUrls: true });
    try {
      const res = await fetch(`${site.url}/console/api/map`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ assay: 'abbott-architect-hs-tni', baseline: 10, timi: 2, sex: 'unknown' }) });
      expect(((await res.json()) as { url: string }).url).toBe('15.6');
    } finally {
      await site.close();
    }
  });

  it('refuses bad map requests', async () => {
    for (const [body, code] of [
      [{ assay: 'no-such-assay', baseline: 10, timi: 2 }, 'TNP_ERR_CONSOLE_REQUEST_INVALID'],
      [{ assay: 'roche-elecsys-hs-tnt', baseline: '-1', timi: 2 }, 'TNP_ERR_CONSOLE_REQUEST_INVALID'],
      [{ assay: 'roche-elecsys-hs-tnt', baseline: 10, timi: 8 }, 'TNP_ERR_CONSOLE_REQUEST_INVALID'],
      [{ assay: 'roche-elecsys-hs-tnt', baseline: 10 }, 'TNP_ERR_CONSOLE_REQUEST_INVALID'],
      [{ assay: 'roche-elecsys-hs-tnt', baseline: 10, timi: 2, extra: true }, 'TNP_ERR_CONSOLE_REQUEST_INVALID'],
    ] as const) {
      const r = await http('POST', '/console/api/map', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(errorCode(r.json), JSON.stringify(body)).toBe(code);
    }
  });
});
