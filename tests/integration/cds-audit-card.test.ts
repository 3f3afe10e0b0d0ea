/**
 * The evaluation record keeps the card the EHR was shown (hazard I-10): over real HTTP, against a real
 * audit store (SQLite, and the PostgreSQL of this machine / CI), every clinical fixture of every pathway
 * is called by prefetch, its record read back through `GET /audit/{id}` with the admin token, and the
 * record's card, with the record's id put back as its `uuid` and `auditId` (`withRecordId`), must be the
 * card the response carried: equal as JSON and with the same canonical JSON text. The record keeps the
 * card without those two fields (they are the record's own id), and keeps the keys it always had.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withRecordId } from '../../src/cds/cards.js';
import type { CdsCard } from '../../src/cds/types.js';
import { canonicalJson } from '../../src/util/canonical-json.js';
import { admin, call, DISCOVERY_PATH, EHR_ISS, harnessFor, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp, type WireJson } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { pgAvailable, requireService } from '../support/services.js';
import { folderFixtureNames, loadPathwayFixture, pathwayFolders, type PathwayFixture } from '../support/vignettes.js';

type Json = Record<string, unknown>;

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable(), 'the CI script starts it; locally: a PostgreSQL with a "test" database and trust auth');

/** The card wording of a pathway file, to know which parts of the detail a card shows. */
function cardText(pathway: string): Record<string, string> {
  const file = JSON.parse(readFileSync(new URL(`../../pathways/${pathway}.json`, import.meta.url), 'utf8')) as { cards: { text: Record<string, string> } };
  return file.cards.text;
}

function resourcesOf(f: PathwayFixture): Json[] {
  return (f.doc as { entry: { resource: Json }[] }).entry.map((e) => e.resource);
}

function patientIdOf(resources: readonly Json[]): string {
  const patient = resources.find((r) => r['resourceType'] === 'Patient');
  if (typeof patient?.['id'] === 'string') return patient['id'];
  const subject = resources.map((r) => r['subject'] as { reference?: string } | undefined).find((s) => typeof s?.reference === 'string');
  return subject?.reference?.split('/')[1] ?? 'p1';
}

/** The site settings one app runs a folder's fixtures with (the Chart 2 sex-specific fixtures get their own app). */
interface Site {
  readonly name: string;
  readonly pathway: string;
  readonly settings: Json;
  readonly fixtures: PathwayFixture[];
}

function sites(): Site[] {
  const chart2 = folderFixtureNames(null).map((n) => loadPathwayFixture(null, n));
  const sex = (f: PathwayFixture): boolean => f.expected.settings?.['sexSpecificUrls'] === true;
  const out: Site[] = [
    { name: 'chart2', pathway: 'chart2', settings: {}, fixtures: chart2.filter((f) => !sex(f)) },
    { name: 'chart2 (sex-specific URLs)', pathway: 'chart2', settings: { sexSpecificUrls: true }, fixtures: chart2.filter(sex) },
  ];
  for (const folder of pathwayFolders()) {
    const fixtures = folderFixtureNames(folder).map((n) => loadPathwayFixture(folder, n));
    const settings: Json = { pathway: folder };
    for (const f of fixtures) Object.assign(settings, f.expected.settings ?? {});
    out.push({ name: folder, pathway: folder, settings, fixtures });
  }
  return out;
}

/** One CDS call by prefetch (the Patient when discovery asks for it), its record read back with the admin token. */
async function callAndRead(app: RunningApp, ehr: CdsTestClient, f: PathwayFixture, setNow: (ms: number) => void, asksPatient: boolean): Promise<{ card: CdsCard; record: WireJson }> {
  setNow(Date.parse(f.expected.now));
  const resources = resourcesOf(f);
  const patientId = patientIdOf(resources);
  const patient = resources.find((r) => r['resourceType'] === 'Patient');
  const context = { userId: 'Practitioner/dr-1', patientId, ...(f.expected.encounter === undefined ? {} : { encounterId: f.expected.encounter }) };
  const res = await call(app, ehr, 'POST', SERVICE_PATH, {
    ...hookBody(patientId),
    context,
    prefetch: { observations: searchset(resources.filter((r) => r['resourceType'] === 'Observation')), ...(asksPatient ? { patient: patient ?? null } : {}) },
  });
  expect(res.status, res.text).toBe(200);
  expect(res.json.cards).toHaveLength(1);
  const card = res.json.cards[0] as CdsCard;
  const rec = await admin(app, `/audit/${card.uuid}`);
  expect(rec.status, rec.text).toBe(200);
  expect(rec.json.integrity.ok).toBe(true);
  return { card, record: rec.json };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe.runIf(kind === 'sqlite' || runPg)(`the evaluation record keeps the card the EHR was shown (audit on ${kind})`, () => {
    const harness = harnessFor(kind);
    let nowMs = Date.parse('2026-03-06T12:00:00Z');
    const now = (): Date => new Date(nowMs);
    const setNow = (ms: number): void => void (nowMs = ms);
    let ehr: CdsTestClient;
    const apps = new Map<string, RunningApp>();
    const asksPatient = new Map<string, boolean>();
    const all = sites();
    /** What the calls covered: outcomes, and the parts of a card that only some outcomes have. */
    const seen = { outcomes: new Set<string>(), withSuggestion: new Set<string>(), caveat: 0, safetyNet: 0, assayAssumed: 0, links: 0, onset: 0, cutoffs: 0, threshold: 0 };

    beforeAll(async () => {
      ehr = await createCdsClient({ iss: EHR_ISS, alg: 'RS384', now });
      for (const s of all) {
        const app = await startApp({ storage: harness.fresh(), clients: [ehr], now, settings: s.settings });
        apps.set(s.name, app);
        const discovery = await call(app, ehr, 'GET', DISCOVERY_PATH);
        asksPatient.set(s.name, 'patient' in (discovery.json.services[0].prefetch as Json));
      }
    });
    afterAll(async () => {
      for (const a of apps.values()) await a.close();
      await harness.cleanup();
    });

    for (const site of all) {
      it(`${site.name}: for each of its ${site.fixtures.length} fixtures, the record's card with its id put back is the card sent`, async () => {
        const app = apps.get(site.name) as RunningApp;
        const text = cardText(site.pathway);
        for (const f of site.fixtures) {
          const { card, record } = await callAndRead(app, ehr, f, setNow, asksPatient.get(site.name) === true);
          const entry = record.body.cards[0];
          // The keys the record always had, unchanged.
          expect(record.body.cards, f.name).toHaveLength(1);
          expect({ uuidIsRecordId: entry.uuidIsRecordId, summary: entry.summary, indicator: entry.indicator, suggestionUuids: entry.suggestionUuids }, f.name).toEqual({
            uuidIsRecordId: true,
            summary: card.summary,
            indicator: card.indicator,
            suggestionUuids: (card.suggestions ?? []).map((s) => s.uuid),
          });
          // The whole card, but for the two fields that are the record's own id.
          const kept = entry.card as Json;
          expect(kept, f.name).toBeDefined();
          expect('uuid' in kept, f.name).toBe(false);
          expect('auditId' in ((kept['extension'] as Json)['hs-troponin-cds'] as Json), f.name).toBe(false);
          const rebuilt = withRecordId(kept as unknown as CdsCard, record.id as string);
          expect(rebuilt, f.name).toStrictEqual(card);
          expect(canonicalJson(rebuilt), f.name).toBe(canonicalJson(card));

          const ext = card.extension['hs-troponin-cds'];
          expect(ext.outcome, f.name).toBe(f.expected.outcome);
          seen.outcomes.add(ext.outcome);
          if (card.suggestions !== undefined) seen.withSuggestion.add(ext.outcome);
          if (card.detail?.includes(text['caveat'] as string) === true) seen.caveat++;
          if (card.detail?.includes(text['safetyNet'] as string) === true) seen.safetyNet++;
          if (card.detail?.includes((text['assayAssumed'] as string).split('(')[0] as string) === true) seen.assayAssumed++;
          if (card.links !== undefined) seen.links++;
          if (ext.onset !== undefined) seen.onset++;
          if (ext.cutoffs !== undefined) seen.cutoffs++;
          if (ext.threshold !== undefined) seen.threshold++;
        }
      });
    }

    it('the calls covered rule-in, rule-out, awaiting-retest with its order, needs-input, and every optional part of a card', () => {
      for (const o of ['consistent-with-mi', 'acute-mi-pathway', 'low-risk-pathway', 'not-consistent-with-mi', 'awaiting-retest', 'needs-input', 'indeterminate']) expect(seen.outcomes, o).toContain(o);
      expect(seen.withSuggestion).toContain('awaiting-retest');
      for (const part of ['caveat', 'safetyNet', 'assayAssumed', 'links', 'onset', 'cutoffs', 'threshold'] as const) expect(seen[part], part).toBeGreaterThan(0);
    });
  });
}
