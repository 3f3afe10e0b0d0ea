/**
 * The console and the CDS service, in the same real app (buildApp over real HTTP, SQLite audit store,
 * real signed JWTs): for every clinical fixture, the card the console shows is the card the EHR gets,
 * field for field, except what only an audited CDS call has (its uuid, the audit id, the ServiceRequest's
 * patient), the suggestion's fresh uuid, and the link to the console: only the CDS card has one (signed;
 * the console signs no link, so that a case pasted into it can never pass as one from a card).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CardView, EvaluateResponse } from '../../src/console/web/api-types.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { call, EHR_ISS, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp } from '../support/cds-app.js';
import { allFixtures, type Fixture } from '../support/fixtures.js';

interface Actionable {
  readonly uuid?: string;
  readonly actions?: readonly { readonly resource?: Record<string, unknown> }[];
}

/** The card without what differs by construction between an audited CDS answer and the console. */
function comparable(card: CardView): unknown {
  const ext = { ...(card.extension?.['hs-troponin-cds'] as Record<string, unknown>) };
  delete ext['auditId'];
  return {
    ...card,
    uuid: undefined,
    links: undefined,
    extension: { 'hs-troponin-cds': ext },
    suggestions: (card.suggestions as readonly Actionable[] | undefined)?.map((s) => ({
      ...s,
      uuid: undefined,
      actions: s.actions?.map((a) => ({ ...a, resource: a.resource === undefined ? undefined : { ...a.resource, subject: undefined } })),
    })),
  };
}

function resourcesOf(f: Fixture): Record<string, unknown>[] {
  return (f.doc as { entry: { resource: Record<string, unknown> }[] }).entry.map((e) => e.resource);
}

describe('the console shows the card the CDS service returns', () => {
  let now = Date.now();
  const clock = (): Date => new Date(now);
  let ehr: CdsTestClient;
  let app: RunningApp;
  let sexApp: RunningApp;

  beforeAll(async () => {
    ehr = await createCdsClient({ iss: EHR_ISS, alg: 'RS384', now: clock });
    app = await startApp({ clients: [ehr], now: clock });
    sexApp = await startApp({ clients: [ehr], now: clock, settings: { sexSpecificUrls: true } });
  });
  afterAll(async () => {
    await app?.close();
    await sexApp?.close();
  });

  it.each(allFixtures().map((f) => [f.name, f] as const))('%s', async (_name, f) => {
    const sex = f.expected.settings?.['sexSpecificUrls'] === true;
    const target = sex ? sexApp : app;
    now = Date.parse(f.expected.now);
    const resources = resourcesOf(f);
    const patient = resources.find((r) => r['resourceType'] === 'Patient');
    const patientId = typeof patient?.['id'] === 'string' ? patient['id'] : 'p1';
    const cds = await call(target, ehr, 'POST', SERVICE_PATH, {
      ...hookBody(patientId),
      context: { userId: 'Practitioner/dr-1', patientId, ...(f.expected.encounter === undefined ? {} : { encounterId: f.expected.encounter }) },
      prefetch: { observations: searchset(resources.filter((r) => r['resourceType'] === 'Observation')), ...(sex && patient !== undefined ? { patient } : {}) },
    });
    expect(cds.status, cds.text).toBe(200);

    const res = await fetch(`${target.url}/console/api/evaluate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ bundle: f.doc, now: f.expected.now, ...(f.expected.encounter === undefined ? {} : { encounter: f.expected.encounter }) }),
    });
    expect(res.status).toBe(200);
    const console = (await res.json()) as EvaluateResponse;
    expect(console.decision.outcome).toBe(f.expected.outcome);
    const cdsCards = cds.json.cards as CardView[];
    expect(console.cards.map(comparable)).toEqual(cdsCards.map(comparable));
    expect(cdsCards[0]?.links?.[0]?.url).toMatch(/\/console#case=/);
    expect(console.cards[0]?.links).toBeUndefined();
  });
});
