/**
 * Every worked vignette of the ESC 0 h/1 h, ESC 0 h/2 h and High-STEACS contracts (fhir-fixtures/<pathway>/)
 * through the real app over real HTTP, one app per pathway (settings `pathway`, one per site): the CDS
 * service, with its prefetch templates resolved as an EHR resolves them (the Patient only when the
 * discovery document asks for it), and the console's evaluate API. Each must give the contract's outcome
 * and retest time; the discovery document and every card say which pathway gave it; the console shows the
 * card the EHR gets; and the console's pathway API serves that pathway's file for drawing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CardView, EvaluateResponse, PathwayResponse } from '../../src/console/web/api-types.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { call, DISCOVERY_PATH, EHR_ISS, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp } from '../support/cds-app.js';
import { folderFixtureNames, loadPathwayFixture, loadVignetteList, pathwayFolders, type PathwayFixture } from '../support/vignettes.js';

type Json = Record<string, unknown>;

function resourcesOf(f: PathwayFixture): Json[] {
  return (f.doc as { entry: { resource: Json }[] }).entry.map((e) => e.resource);
}

/** The patient the fixture is about: its Patient's id, else its observations' subject. */
function patientIdOf(resources: readonly Json[]): string {
  const patient = resources.find((r) => r['resourceType'] === 'Patient');
  if (typeof patient?.['id'] === 'string') return patient['id'];
  const subject = resources.map((r) => r['subject'] as { reference?: string } | undefined).find((s) => typeof s?.reference === 'string');
  return subject?.reference?.split('/')[1] ?? 'p1';
}

/** The card without what differs by construction between an audited CDS answer and the console. */
function comparable(card: CardView): unknown {
  const ext = { ...(card.extension?.['hs-troponin-cds'] as Json) };
  delete ext['auditId'];
  const suggestions = (card.suggestions as readonly { uuid?: string; actions?: readonly { resource?: Json }[] }[] | undefined)?.map((s) => ({
    ...s,
    uuid: undefined,
    actions: s.actions?.map((a) => ({ ...a, resource: a.resource === undefined ? undefined : { ...a.resource, subject: undefined } })),
  }));
  return { ...card, uuid: undefined, links: undefined, extension: { 'hs-troponin-cds': ext }, suggestions };
}

for (const folder of pathwayFolders()) {
  const names = folderFixtureNames(folder);
  const fixtures = names.map((n) => loadPathwayFixture(folder, n));
  // The site settings of the vignettes that name any (a site assay without cut-offs), merged: one site.
  const siteSettings: Json = {};
  for (const f of fixtures) Object.assign(siteSettings, f.expected.settings ?? {});

  describe(`${folder}: every worked vignette by the CDS service and the console (settings pathway "${folder}")`, () => {
    let now = Date.parse('2026-11-27T10:00:00Z');
    const clock = (): Date => new Date(now);
    let ehr: CdsTestClient;
    let app: RunningApp;
    let discovery: Json;
    let prefetch: Record<string, string>;
    let pathwayTitle = '';

    beforeAll(async () => {
      ehr = await createCdsClient({ iss: EHR_ISS, alg: 'RS384', now: clock });
      app = await startApp({ clients: [ehr], now: clock, settings: { ...siteSettings, pathway: folder } });
      const d = await call(app, ehr, 'GET', DISCOVERY_PATH);
      expect(d.status).toBe(200);
      discovery = ((d.json as { services: Json[] }).services[0] ?? {});
      prefetch = discovery['prefetch'] as Record<string, string>;
      const p = await fetch(`${app.url}/console/api/pathway`);
      expect(p.status).toBe(200);
      const body = (await p.json()) as PathwayResponse;
      expect(body.pathway.id).toBe(folder);
      expect(body.identity.id).toBe(folder);
      pathwayTitle = body.pathway.title;
    });
    afterAll(async () => {
      await app?.close();
    });

    it('the discovery document names the pathway, asks for the chest-pain onset, and for the Patient only when the pathway reads sex', () => {
      expect(discovery['title']).toContain(pathwayTitle.split(':')[0]);
      expect(String(discovery['description'])).toContain(pathwayTitle);
      expect(prefetch['observations']).toContain('chest-pain-onset');
      expect('patient' in prefetch).toBe(folder === 'high-steacs');
      expect(String(discovery['usageRequirements'])).not.toContain('TIMI');
    });

    it('the console\'s scenario library is this pathway\'s vignettes, every one passing', async () => {
      const res = await fetch(`${app.url}/console/api/fixtures`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { fixtures: { name: string; pass: boolean; differences: string[] }[]; failed: number };
      expect(body.fixtures.map((f) => f.name)).toEqual(names);
      expect(body.fixtures.filter((f) => !f.pass)).toEqual([]);
    });

    it('its vignette list is the folder', () => {
      expect(names).toEqual([...(loadVignetteList(folder)?.vignettes ?? []).map((v) => v.id)].sort());
    });

    it.each(fixtures.map((f) => [f.name, f] as const))('%s', async (_name, f) => {
      now = Date.parse(f.expected.now);
      const resources = resourcesOf(f);
      const patientId = patientIdOf(resources);
      const patient = resources.find((r) => r['resourceType'] === 'Patient') ?? null;
      const cds = await call(app, ehr, 'POST', SERVICE_PATH, {
        ...hookBody(patientId),
        prefetch: { observations: searchset(resources.filter((r) => r['resourceType'] === 'Observation')), ...('patient' in prefetch ? { patient } : {}) },
      });
      expect(cds.status, cds.text).toBe(200);
      const cards = (cds.json as { cards: CardView[] }).cards;
      expect(cards).toHaveLength(1);
      const card = cards[0] as CardView;
      const ext = card.extension?.['hs-troponin-cds'] as Json & { pathway: { id: string }; onset?: unknown; threshold?: unknown };
      expect({ outcome: ext['outcome'], retestDue: ext['retestDue'], pathway: ext.pathway.id }).toEqual({ outcome: f.expected.outcome, retestDue: f.expected.retestDue, pathway: folder });
      if (f.expected.onset !== undefined) expect(ext.onset).toEqual(f.expected.onset);
      if (f.expected.threshold !== undefined) expect(ext.threshold).toEqual(f.expected.threshold);
      expect((card.source as { label: string }).label).toContain(pathwayTitle);

      const res = await fetch(`${app.url}/console/api/evaluate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ bundle: f.doc, now: f.expected.now }),
      });
      expect(res.status).toBe(200);
      const consoleAnswer = (await res.json()) as EvaluateResponse;
      expect({ outcome: consoleAnswer.decision.outcome, missing: consoleAnswer.decision.missing, retestDue: consoleAnswer.decision.retestDue }).toEqual({
        outcome: f.expected.outcome,
        missing: f.expected.missing,
        retestDue: f.expected.retestDue,
      });
      expect(consoleAnswer.decision.pathway.id).toBe(folder);
      expect(consoleAnswer.cards.map(comparable)).toEqual(cards.map(comparable));
    });

    // Hazard H-65: the card's link to the console carried no chest-pain onset, so the console read the onset
    // as unknown and could decide otherwise than the card (more seriously). The link carries the onset, signed
    // with the rest of the case: the console decides every vignette with an onset exactly as the card did.
    it('a card\'s link to the console: the console decides as the card did, with the same onset', async () => {
      for (const f of fixtures.filter((x) => x.expected.onset !== undefined)) {
        now = Date.parse(f.expected.now);
        const resources = resourcesOf(f);
        const patientId = patientIdOf(resources);
        const patient = resources.find((r) => r['resourceType'] === 'Patient') ?? null;
        const cds = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(patientId), prefetch: { observations: searchset(resources.filter((r) => r['resourceType'] === 'Observation')), ...('patient' in prefetch ? { patient } : {}) } });
        const card = (cds.json as { cards: CardView[] }).cards[0] as CardView;
        const url = card.links?.[0]?.url ?? '';
        const param = url.slice(url.indexOf('#case=') + '#case='.length);
        const res = await fetch(`${app.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ case: param }) });
        expect(res.status, f.name).toBe(200);
        const answer = (await res.json()) as EvaluateResponse & { decision: { onset?: { time: string | null; basis: string } } };
        expect(answer.caseLink?.verified, f.name).toBe(true);
        expect(answer.caseLink?.cardOutcome, f.name).toBe(f.expected.outcome);
        expect({ outcome: answer.decision.outcome, retest: answer.decision.retestDue !== undefined, basis: answer.decision.onset?.basis }, f.name).toEqual({ outcome: f.expected.outcome, retest: f.expected.retestDue !== undefined, basis: f.expected.onset?.basis });
        // The same time from the onset to the 0 h draw (the link places the case on another date) as the
        // decision the card was made from (the same engine on the same Bundle, through the console's API).
        const direct = (await (await fetch(`${app.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle: f.doc, now: f.expected.now }) })).json()) as typeof answer;
        const sinceOnset = (d: typeof answer['decision']): number | null => (d.onset?.time === null || d.onset?.time === undefined || d.troponin.baseline === null ? null : Date.parse(d.troponin.baseline.drawTime) - Date.parse(d.onset.time));
        expect(direct.decision.onset, f.name).toEqual(f.expected.onset);
        expect(sinceOnset(answer.decision), f.name).toBe(sinceOnset(direct.decision));
      }
    });
  });
}
