/**
 * The CDS card for every outcome of chart2-pathway.md section 3: summary length, indicator, the section 7
 * extension, the retest suggestion, override reasons, and a console link that carries no identifier;
 * and the card for a doctor: the detail under 1.2 kB, no resource ids or internal codes, local times
 * only, one evidence line, the rule-out wording and safety net from the pathway file, and no retest
 * where a retest is not the action.
 */
import { describe, expect, it } from 'vitest';
import type { Resource } from 'fhir/r4.js';
import { cardsFor, MAX_SUMMARY_LENGTH, md, OVERRIDE_REASON_SYSTEM, summaryFor } from '../../src/cds/cards.js';
import type { CdsCard } from '../../src/cds/types.js';
import type { PathwayRuntime } from '../../src/engine/catalogue.js';
import { caseToResources } from '../../src/cds/case-resources.js';
import { decodeCase, encodeCase, readCaseParam } from '../../src/cds/case-link-codec.js';
import { decideResources } from '../../src/decide.js';
import type { OutcomeCode } from '../../src/engine/types.js';
import { ABBOTT, at, ecg, haemolysed, patient, runtime, run, SNOMED, timi, troponin, workedUp } from '../support/cases.js';

const PATIENT_ID = 'p1';
const KEY = Buffer.from('a-key-for-signing-case-links-in-tests');
const ENCOUNTER = 'enc-secret-77';
let n = 0;
const newId = (): string => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;

interface Case {
  readonly outcome: OutcomeCode;
  readonly indicator: 'info' | 'warning' | 'critical';
  readonly resources: () => Resource[];
  readonly now: number;
}

const withEnc = (o: Resource): Resource => ({ ...o, encounter: { reference: `Encounter/${ENCOUNTER}` } }) as Resource;

/** The card's text for people: summary, detail, suggestion labels and descriptions, link labels. */
const readable = (card: CdsCard): string =>
  [card.summary, card.detail ?? '', ...(card.suggestions ?? []).flatMap((s) => [s.label, ...(s.actions ?? []).map((a) => a.description)]), ...(card.links ?? []).map((l) => l.label)].join('\n');

type Json = Record<string, unknown>;
/** The pathway file's internal codes: outcome codes, classification rule ids, hyphenated missing items, assay ids, ECG meanings. */
function internalCodes(rt: PathwayRuntime): string[] {
  const file = rt.pathway.file as unknown as Json;
  const cls = file['classification'] as { rules: { id: string }[]; otherwise?: { id: string } };
  const edges = (file['graph'] as { edges: Json[] }).edges;
  return [
    ...Object.keys(file['outcomes'] as Json),
    ...cls.rules.map((r) => r.id),
    ...(cls.otherwise === undefined ? [] : [cls.otherwise.id]),
    ...edges.flatMap((e) => (typeof e['needsInput'] === 'string' && e['needsInput'].includes('-') ? [e['needsInput']] : [])),
    ...rt.assays.keys(),
    'stemi-or-new-lbbb',
    'no-stemi-or-new-lbbb',
    'timi-risk-score',
    rt.identity.sha256.slice(0, 12),
  ];
}

/** The pathway file's card text for an outcome (what the rule-out card must say). */
function cardText(rt: PathwayRuntime, outcome: string): { caveat?: string; safetyNet?: string } {
  const cards = (rt.pathway.file as unknown as Json)['cards'] as { outcomes: Record<string, { caveat?: string; safetyNet?: string }> };
  return cards.outcomes[outcome] ?? {};
}

/** The card as a doctor reads it: checks common to every outcome. */
function checkReadable(card: CdsCard, rt: PathwayRuntime, resources: readonly Resource[], outcome: OutcomeCode, twoTroponins: boolean): void {
  const text = readable(card);
  const detail = card.detail ?? '';
  if (twoTroponins) expect(Buffer.byteLength(detail), 'detail bytes').toBeLessThan(1200);
  expect(Buffer.byteLength(detail), 'detail bytes').toBeLessThan(1500);
  // No resource ids, no patient or encounter, no internal codes.
  for (const r of resources) if (r.id !== undefined) expect(text, `resource id ${r.id}`).not.toContain(r.id);
  expect(text).not.toMatch(/\b(Observation|Patient|Encounter|ServiceRequest)\//);
  expect(text).not.toContain(ENCOUNTER);
  for (const code of internalCodes(rt)) expect(text, `internal code ${code}`).not.toContain(code);
  expect(text).not.toMatch(/`/);
  // Local times only: no ISO or UTC time.
  expect(text).not.toMatch(/\d{4}-\d{2}-\d{2}T|\bUTC\b|\dZ\b/);
  // Evidence: one line, a link to the console's rules page, and no other link in the detail.
  const links = [...detail.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]);
  expect(links).toEqual(['https://cds.example.org/console/rules']);
  expect(detail.trimEnd().split('\n').at(-1)).toMatch(/^\[[^\]]+\]\(https:\/\/cds\.example\.org\/console\/rules\)$/);
  // The outcome is stated once: the summary; the detail opens with the next step.
  expect(detail.split('\n')[0]).toMatch(/^\*\*Next step:\*\* \S/);
  // The rule-out wording, from the pathway file.
  if (outcome === 'not-consistent-with-mi' || outcome === 'low-risk-pathway') {
    const { caveat, safetyNet } = cardText(rt, outcome);
    expect(caveat).toMatch(/other causes of chest pain/);
    expect(caveat).toMatch(/clinical judgement decides/);
    expect(safetyNet?.length).toBeGreaterThan(20);
    expect(detail).toContain(caveat!);
    expect(detail).toContain(safetyNet!);
  }
}

const CASES: readonly Case[] = [
  { outcome: 'acute-mi-pathway', indicator: 'critical', now: 30, resources: () => [patient(), ecg('stemi-or-new-lbbb', 0)] },
  { outcome: 'consistent-with-mi', indicator: 'critical', now: 200, resources: () => [...workedUp(), troponin(8, 0), troponin(31, 190)] },
  { outcome: 'indeterminate', indicator: 'warning', now: 200, resources: () => [...workedUp(), troponin(8, 0), troponin(13, 190, { unit: 'U/L' })] },
  { outcome: 'needs-input', indicator: 'info', now: 30, resources: () => [patient(), troponin(8, 0)] },
  { outcome: 'awaiting-retest', indicator: 'info', now: 30, resources: () => [...workedUp(), troponin(8, 0)] },
  { outcome: 'awaiting-retest', indicator: 'warning', now: 200, resources: () => [...workedUp(), troponin(8, 0)] },
  { outcome: 'not-consistent-with-mi', indicator: 'info', now: 200, resources: () => [...workedUp(), troponin(8, 0), troponin(9, 185)] },
  { outcome: 'not-consistent-with-mi', indicator: 'warning', now: 200, resources: () => [...workedUp(), troponin(40, 0), troponin(42, 185)] },
  { outcome: 'low-risk-pathway', indicator: 'info', now: 30, resources: () => [patient(), ecg('no-stemi-or-new-lbbb', -10), timi(0, -5)] },
];

/** Every outcome and indicator with two troponins (issue 10: the detail of a two-troponin case under 1.2 kB). */
const TWO_TROPONINS: readonly Case[] = [
  { outcome: 'acute-mi-pathway', indicator: 'critical', now: 200, resources: () => [patient(), ecg('stemi-or-new-lbbb', 0), troponin(8, 0), troponin(9, 185)] },
  { outcome: 'consistent-with-mi', indicator: 'critical', now: 200, resources: () => [...workedUp(), troponin(8, 0), troponin(31, 190)] },
  { outcome: 'indeterminate', indicator: 'warning', now: 200, resources: () => [...workedUp(), troponin(8, 0), troponin(13, 190, { unit: 'U/L' })] },
  { outcome: 'needs-input', indicator: 'info', now: 200, resources: () => [patient(), troponin(8, 0), troponin(9, 185)] },
  { outcome: 'awaiting-retest', indicator: 'info', now: 90, resources: () => [...workedUp(), troponin(8, 0), troponin(9, 60)] },
  { outcome: 'awaiting-retest', indicator: 'warning', now: 200, resources: () => [...workedUp(), troponin(8, 0), troponin(9, 60)] },
  { outcome: 'not-consistent-with-mi', indicator: 'info', now: 200, resources: () => [...workedUp(), troponin(8, 0), troponin(9, 185)] },
  { outcome: 'not-consistent-with-mi', indicator: 'warning', now: 200, resources: () => [...workedUp(), troponin(40, 0), troponin(42, 185)] },
  { outcome: 'low-risk-pathway', indicator: 'info', now: 200, resources: () => [patient(), ecg('no-stemi-or-new-lbbb', -10), timi(0, -5), troponin(5, 0), troponin(5, 185)] },
];

describe('the card for a doctor, every outcome with two troponins', () => {
  it('covers every outcome of the pathway file', async () => {
    const rt = await runtime();
    expect(new Set(TWO_TROPONINS.map((c) => c.outcome))).toEqual(new Set(Object.keys((rt.pathway.file as unknown as Json)['outcomes'] as Json)));
  });
  for (const c of TWO_TROPONINS) {
    it(`${c.outcome} (${c.indicator}): detail under 1.2 kB, no resource id or internal code, local times only, the rule-out wording`, async () => {
      const rt = await runtime();
      const resources = c.resources().map(withEnc);
      const decision = await run(resources, c.now, { encounter: ENCOUNTER });
      expect(decision.outcome).toBe(c.outcome);
      expect(decision.indicator).toBe(c.indicator);
      expect(resources.filter((r) => (r as { code?: { coding?: { code?: string }[] } }).code?.coding?.some((x) => x.code === '67151-1') === true)).toHaveLength(2);
      const [card] = cardsFor(decision, { newId, publicBaseUrl: 'https://cds.example.org/', displayTimeZone: 'Europe/London', auditId: 'audit-1', runtime: rt, resources, patientId: PATIENT_ID, encounterId: ENCOUNTER, caseLinkKey: KEY });
      checkReadable(card!, rt, resources, c.outcome, true);
      // Both values in local time (T0 is 09:00 in London, GMT in March).
      expect(card!.detail).toContain('| Baseline 09:00 |');
    });
  }
});

describe('cardsFor', () => {
  for (const c of CASES) {
    it(`${c.outcome} (${c.indicator}): one card, summary < 140, indicator, section 7 extension, no identifier in the link`, async () => {
      const rt = await runtime();
      const resources = c.resources().map(withEnc);
      const decision = await run(resources, c.now, { encounter: ENCOUNTER });
      expect(decision.outcome).toBe(c.outcome);
      const cards = cardsFor(decision, { newId, publicBaseUrl: 'https://cds.example.org/', displayTimeZone: 'Europe/London', auditId: 'audit-1', runtime: rt, resources, patientId: PATIENT_ID, encounterId: ENCOUNTER, caseLinkKey: KEY });
      expect(cards).toHaveLength(1);
      const card = cards[0]!;
      const troponins = resources.filter((r) => (r as { code?: { coding?: { code?: string }[] } }).code?.coding?.some((x) => x.code === '67151-1') === true).length;
      checkReadable(card, rt, resources, c.outcome, troponins === 2);
      // Times local: T0 is 09:00 in London (GMT in March); the baseline's draw time says so.
      if (decision.troponin.baseline !== null) expect(card.detail).toContain('| Baseline 09:00 |');
      if (decision.retestDue !== undefined && /Retest hs-troponin/.test(card.summary)) expect(card.summary).toContain('12:00 (Europe/London)');
      expect(card.uuid).toMatch(/^[0-9a-f-]{36}$/);
      expect(card.summary.length).toBeLessThan(140);
      expect(card.summary.length).toBeGreaterThan(10);
      expect(card.indicator).toBe(c.indicator);
      expect(card.source.label).toBe('hs-troponin-cds: Chart 2: Diagnosis pathways using high sensitivity troponin tests');
      expect(card.source.topic?.code).toBe(c.outcome);
      const ext = card.extension['hs-troponin-cds'];
      expect(ext.outcome).toBe(c.outcome);
      expect(ext.pathway).toEqual(rt.identity);
      expect(ext.auditId).toBe('audit-1');
      expect(ext.assays).toEqual(decision.assays);
      if (decision.retestDue !== undefined) expect(ext.retestDue).toBe(decision.retestDue);
      else expect('retestDue' in ext).toBe(false);
      // Override reasons: each a Coding with a display (CDS Hooks 2.0).
      expect(card.overrideReasons!.length).toBeGreaterThan(0);
      for (const r of card.overrideReasons!) {
        expect(r.system).toBe(OVERRIDE_REASON_SYSTEM);
        expect(r.display!.length).toBeGreaterThan(0);
      }
      // No null or empty values anywhere in the card (CDS Hooks 2.0, JSON values).
      const walk = (v: unknown, path: string): void => {
        expect(v, path).not.toBeNull();
        if (typeof v === 'string') expect(v, path).not.toBe('');
        if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
        else if (typeof v === 'object' && v !== null) {
          if (!path.endsWith('assays') && !path.endsWith('extension')) expect(Object.keys(v).length, path).toBeGreaterThan(0);
          for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
        }
      };
      walk({ ...card, extension: { ...card.extension, 'hs-troponin-cds': { ...ext, assays: ext.assays.length === 0 ? ['(none)'] : ext.assays } } }, 'card');
      // The console link: absolute, de-identified.
      expect(card.links).toHaveLength(1);
      const link = card.links![0]!;
      expect(link.type).toBe('absolute');
      expect(link.url.startsWith('https://cds.example.org/console#case=')).toBe(true);
      const param = new URLSearchParams(new URL(link.url).hash.slice(1)).get('case')!;
      const read = readCaseParam(param, KEY);
      expect(read.verified).toBe(true);
      const decoded = JSON.stringify(read.case);
      for (const secret of [`"${PATIENT_ID}"`, 'Patient/', ENCOUNTER, 'result-id', '2026']) expect(decoded).not.toContain(secret);
      expect(decoded).not.toMatch(/(trop|ecg|timi)-\d+/);
      for (const r of resources) if (r.id !== undefined) expect(decoded).not.toContain(`"${r.id}"`);
      // ... and reproduces the decision from the case alone.
      const rebuilt = caseToResources(read.case);
      const again = await decideResources(rt, rebuilt.resources, { now: rebuilt.now, encounterId: rebuilt.encounterId });
      expect(again.outcome).toBe(decision.outcome);
      expect(again.missing).toEqual(decision.missing);
      expect(again.indicator).toBe(decision.indicator);
      // The suggestion only for awaiting-retest.
      if (c.outcome === 'awaiting-retest') {
        expect(card.selectionBehavior).toBe('at-most-one');
        expect(card.suggestions).toHaveLength(1);
        const s = card.suggestions![0]!;
        expect(s.isRecommended).toBe(true);
        expect(s.uuid).toBeTruthy();
        const action = s.actions![0]!;
        expect(action.type).toBe('create');
        expect(action.description.length).toBeGreaterThan(0);
        const sr = action.resource as Record<string, unknown> & { code: { coding: unknown[] } };
        expect(sr.resourceType).toBe('ServiceRequest');
        expect(sr.occurrenceDateTime).toBe(decision.retestDue);
        expect(sr.subject).toEqual({ reference: `Patient/${PATIENT_ID}` });
        expect(sr.code.coding[0]).toMatchObject({ system: 'http://loinc.org', code: '67151-1' });
      } else {
        expect(card.suggestions).toBeUndefined();
        expect(card.selectionBehavior).toBeUndefined();
      }
    });
  }

  it('shows the retest time in the display time zone', async () => {
    // T0 = 2026-03-14T09:00Z; due 12:00Z = 12:00 in London (GMT in March before the change), 08:00 in New York (EDT).
    const rt = await runtime();
    const decision = await run([...workedUp(), troponin(8, 0)], 30);
    expect(decision.retestDue).toBe(at(180));
    expect(summaryFor(decision, rt, 'Europe/London')).toBe('Retest hs-troponin due 12:00 (Europe/London)');
    expect(summaryFor(decision, rt, 'America/New_York')).toBe('Retest hs-troponin due 08:00 (America/New_York)');
    const overdue = await run([...workedUp(), troponin(8, 0)], 200);
    expect(summaryFor(overdue, rt, 'Europe/London')).toBe('Retest hs-troponin now: it was due 12:00 (Europe/London)');
    // The detail's draw times are local too, with the zone named once, in the table's heading.
    const resources = [...workedUp(), troponin(8, 0), troponin(31, 190)];
    const [card] = cardsFor(await run(resources, 200), { newId, publicBaseUrl: 'https://cds.example.org', displayTimeZone: 'America/New_York', auditId: null, runtime: rt, resources });
    expect(card!.detail).toContain('| Troponin, drawn (America/New\\_York) | ng/L | Change from baseline |');
    expect(card!.detail).toContain('| Baseline 05:00 | 8 |  |');
    expect(card!.detail).toContain('| Retest 08:10 (+190 min) | 31 | +287.5% |');
  });

  it('names the day when the retest falls on another day', async () => {
    const decision = await run([...workedUp(), troponin(8, 0)], 30);
    expect(summaryFor(decision, await runtime(), 'Pacific/Kiritimati')).toMatch(/^Retest hs-troponin due 15 Mar 02:00 \(Pacific\/Kiritimati\)$/);
  });

  it('STEMI and TIMI 0 cards say nothing of a retest, even with a baseline past its due time', async () => {
    // Failed before: both cards said "Retest overdue, was due ..." though a retest is not their action.
    const rt = await runtime();
    for (const resources of [[patient(), ecg('stemi-or-new-lbbb', 0), troponin(8, 0)], [patient(), ecg('no-stemi-or-new-lbbb', -10), timi(0, -5), troponin(8, 0)]]) {
      const decision = await run(resources, 300);
      expect(decision.retestOverdue).toBe(true);
      const [card] = cardsFor(decision, { newId, publicBaseUrl: 'https://cds.example.org', displayTimeZone: 'Europe/London', auditId: 'a', runtime: rt, resources });
      expect(readable(card!)).not.toMatch(/overdue|retest/i);
      expect(card!.suggestions).toBeUndefined();
      expect(card!.extension['hs-troponin-cds'].retestDue).toBe(decision.retestDue);
    }
  });

  it('the detail names values, draw times, the URL, the change and the threshold; the default-assay warning', async () => {
    const rt = await runtime();
    const resources = [...workedUp(), troponin(8, 0), troponin(31, 190)];
    const decision = await run(resources, 200);
    const [card] = cardsFor(decision, { newId, publicBaseUrl: 'https://cds.example.org', displayTimeZone: 'Europe/London', auditId: null, runtime: rt, resources });
    const d = card!.detail!;
    expect(d).toContain('| Baseline 09:00 | 8 |  |');
    expect(d).toContain('| Retest 12:10 (+190 min) | 31 | +287.5% |');
    expect(d).toContain('Roche Elecsys Troponin T high-sensitive: 99th percentile URL 14 ng/L; change threshold 20%.');
    expect(d).toContain("catalogue's default codes");
    expect('auditId' in card!.extension['hs-troponin-cds']).toBe(false);
  });

  it('lists uninterpretable results without their ids, and counts those not used', async () => {
    const rt = await runtime();
    const resources = [...workedUp(), troponin(8, 0), haemolysed(190), troponin(-3, 195), troponin(13, 200, { unit: 'U/L' })];
    const decision = await run(resources, 200);
    const [card] = cardsFor(decision, { newId, publicBaseUrl: 'https://x.example', displayTimeZone: 'Europe/London', auditId: 'a', runtime: rt, resources });
    const d = card!.detail!;
    expect(d).toContain('**Results the pathway could not read (check them in the record):**');
    expect(d).toMatch(/- impossible value -3/);
    expect(d).toMatch(/- \\?"U\/L\\?" is not a mass concentration/);
    expect(d).toMatch(/Other results not used: 1 /);
    for (const r of resources) if (r.id !== undefined) expect(d).not.toContain(r.id);
    expect(card!.indicator).not.toBe('info');
  });

  it('escapes Markdown and HTML that comes from the data', () => {
    expect(md('<script>[x](javascript:alert(1))')).toBe('&lt;script&gt;\\[x\\](javascript:alert(1))');
    expect(md('a\nb')).toBe('a b');
  });

  it('a long needs-input summary stays under 140 characters', async () => {
    const decision = await run([patient(), ecg([{ system: SNOMED, code: '164909002' }], 0), troponin(8, 0, { assay: ABBOTT })], 30);
    const s = summaryFor(decision, await runtime(), 'America/Argentina/ComodRivadavia');
    expect(s.length).toBeLessThanOrEqual(MAX_SUMMARY_LENGTH);
  });

  it('the case survives encoding, and a bad case is refused', () => {
    const c = { v: 1 as const, ref: 'baseline' as const, now: 30, encounter: false, observations: [{ codes: [['http://loinc.org', '67151-1'] as const], t: 0, quantity: { value: 8, unit: 'ng/L', code: 'ng/L', ucum: true } }] };
    expect(decodeCase(encodeCase(c))).toEqual(c);
    expect(() => decodeCase('!!')).toThrow(/case/);
    expect(() => decodeCase(Buffer.from('{"v":3}').toString('base64url'))).toThrow(/version/);
    expect(() => decodeCase(Buffer.from(JSON.stringify({ ...c, observations: [{ codes: 'x' }] })).toString('base64url'))).toThrow(/codes/);
  });
});
