/**
 * The CDS Hooks service over real HTTP, against real audit stores (SQLite in a temp dir and the
 * PostgreSQL of this machine / CI), a real FHIR R4 server on loopback and real signed JWTs.
 *
 * Every clinical fixture is played three ways: prefetch from the fixture itself (against its expected
 * outcome), FHIR pull from the test FHIR server, and prefetch as an EHR resolves the discovery templates
 * on that same server: the pull and the resolved prefetch must give the same card.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditStoreSettings } from '../../src/audit/store.js';
import { openAuditStore, type AuditStore } from '../../src/audit/store.js';
import type { CdsTestClient } from '../support/cds-client.js';
import { createCdsClient } from '../support/cds-client.js';
import { startFhirServer, type TestFhirServer } from '../support/fhir-server.js';
import { manualTimers } from '../support/manual-timers.js';
import { pgAvailable, requireService } from '../support/services.js';
import { randomUUID } from 'node:crypto';
import { TnpError } from '../../src/errors.js';
import { decodeCase } from '../../src/cds/case-link-codec.js';
import {
  admin,
  ADMIN_TOKEN,
  call,
  DISCOVERY_PATH,
  EHR_ISS,
  FEEDBACK_PATH,
  harnessFor,
  hookBody,
  PUBLIC_BASE_URL,
  searchset,
  SERVICE_PATH,
  startApp,
  type RunningApp,
  type WireJson,
} from '../support/cds-app.js';

const FIXTURES = new URL('../../fhir-fixtures/', import.meta.url);
const FHIR_TOKEN = 'fhir-access-token-7f3a9c-secret';

interface Fixture {
  readonly name: string;
  readonly patientId: string;
  readonly patient: Record<string, unknown>;
  readonly observations: Record<string, unknown>[];
  readonly expected: { now: string; outcome: string; missing: string[]; retestDue?: string; encounter?: string; settings?: { sexSpecificUrls?: boolean } };
}

function loadFixtures(): Fixture[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json'))
    .sort()
    .map((f) => {
      const bundle = JSON.parse(readFileSync(new URL(f, FIXTURES), 'utf8')) as { entry: { resource: Record<string, unknown> }[] };
      const resources = bundle.entry.map((e) => e.resource);
      const patient = resources.find((r) => r['resourceType'] === 'Patient')!;
      return {
        name: f.replace(/\.json$/, ''),
        patientId: patient['id'] as string,
        patient,
        observations: resources.filter((r) => r['resourceType'] === 'Observation'),
        expected: JSON.parse(readFileSync(new URL(f.replace(/\.json$/, '.expected.json'), FIXTURES), 'utf8')),
      };
    });
}

const fixtures = loadFixtures();
const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable(), 'the CI script starts it; locally: a PostgreSQL with a "test" database and trust auth');

/** A clock the tests set; the app, the store and the JWT signer all read it. */
function makeClock(): { now: () => Date; set: (iso: string) => void } {
  let ms = Date.now();
  return { now: () => new Date(ms), set: (iso) => (ms = Date.parse(iso)) };
}

function ext(json: WireJson): WireJson {
  return json.cards[0].extension['hs-troponin-cds'];
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe.runIf(kind === 'sqlite' || runPg)(`CDS service over HTTP, audit on ${kind}`, () => {
    const harness = harnessFor(kind);
    const clock = makeClock();
    let ehr: CdsTestClient;
    let fhir: TestFhirServer;
    let app: RunningApp;
    let sexApp: RunningApp;
    let storage: AuditStoreSettings;
    const pullTimers = manualTimers();
    const UNREACHABLE = 'http://127.0.0.1:1/fhir';

    beforeAll(async () => {
      ehr = await createCdsClient({ iss: EHR_ISS, alg: 'RS384', now: clock.now });
      fhir = await startFhirServer({ bearerToken: FHIR_TOKEN });
      for (const f of fixtures) await fhir.seed([f.patient, ...f.observations] as never);
      storage = harness.fresh();
      // The pull's time bound never fires on its own: only the timeout case fires it (no real clock, no load flakiness).
      app = await startApp({ storage, clients: [ehr], now: clock.now, timers: pullTimers, fhirServers: [fhir.baseUrl, UNREACHABLE], settings: { fhirPullTimeoutMs: 2000, corsOrigins: ['https://ehr-ui.hospital.example'] } });
      sexApp = await startApp({ storage: harness.fresh(), clients: [ehr], now: clock.now, timers: pullTimers, fhirServers: [fhir.baseUrl], settings: { sexSpecificUrls: true } });
    });

    afterAll(async () => {
      await app?.close();
      await sexApp?.close();
      await fhir?.close();
      await harness.cleanup();
    });

    const appFor = (f: Fixture): RunningApp => (f.expected.settings?.sexSpecificUrls === true ? sexApp : app);

    it('discovery: the patient-view service with prefetch templates for every code the pathway reads', async () => {
      const res = await call(app, ehr, 'GET', DISCOVERY_PATH);
      expect(res.status).toBe(200);
      const [service] = res.json.services;
      expect(service).toMatchObject({ hook: 'patient-view', id: 'hs-troponin-chest-pain' });
      expect(service.title.length).toBeGreaterThan(0);
      expect(service.description.length).toBeGreaterThan(0);
      const obs: string = service.prefetch.observations;
      expect(obs.startsWith('Observation?patient={{context.patientId}}&code=')).toBe(true);
      for (const code of ['http://loinc.org|67151-1', 'http://loinc.org|89579-7', 'http://loinc.org|8601-7', 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain|timi-risk-score']) {
        expect(obs).toContain(code);
      }
      expect(obs.endsWith('&_count=100')).toBe(true);
      // Only root-level context tokens (CDS Hooks 2.0 prefetch tokens).
      for (const t of Object.values(service.prefetch as Record<string, string>).flatMap((v) => v.match(/\{\{[^}]*\}\}/g) ?? [])) expect(t).toBe('{{context.patientId}}');
      expect('patient' in service.prefetch).toBe(false);
      const sexDiscovery = await call(sexApp, ehr, 'GET', DISCOVERY_PATH);
      expect(sexDiscovery.json.services[0].prefetch.patient).toBe('Patient/{{context.patientId}}');
      expect((await call(app, null, 'GET', DISCOVERY_PATH)).status).toBe(401);
    });

    /** Resolves the discovery templates against the FHIR server, as an EHR does. */
    async function resolvePrefetch(target: RunningApp, patientId: string): Promise<Record<string, unknown>> {
      const d = await call(target, ehr, 'GET', DISCOVERY_PATH);
      const out: Record<string, unknown> = {};
      for (const [key, template] of Object.entries(d.json.services[0].prefetch as Record<string, string>)) {
        const url = `${fhir.baseUrl}/${template.replace('{{context.patientId}}', patientId)}`;
        const res = await fetch(url, { headers: { authorization: `Bearer ${FHIR_TOKEN}` } });
        out[key] = await res.json();
      }
      return out;
    }

    it.each(fixtures.map((f) => [f.name, f] as const))('fixture %s: the prescribed card, the same by prefetch and by FHIR pull', async (_name, f) => {
      const target = appFor(f);
      clock.set(f.expected.now);
      const context = { userId: 'Practitioner/dr-1', patientId: f.patientId, ...(f.expected.encounter === undefined ? {} : { encounterId: f.expected.encounter }) };
      const sex = f.expected.settings?.sexSpecificUrls === true;

      // 1. prefetch from the fixture itself
      const byFixture = await call(target, ehr, 'POST', SERVICE_PATH, {
        ...hookBody(f.patientId),
        context,
        prefetch: { observations: searchset(f.observations), ...(sex ? { patient: f.patient } : {}) },
      });
      expect(byFixture.status, byFixture.text).toBe(200);
      expect(byFixture.json.cards).toHaveLength(1);
      const card = byFixture.json.cards[0];
      expect(ext(byFixture.json).outcome).toBe(f.expected.outcome);
      expect(card.summary.length).toBeLessThan(140);
      expect(['info', 'warning', 'critical']).toContain(card.indicator);
      expect(card.source.label.startsWith('hs-troponin-cds: ')).toBe(true);
      expect(card.uuid).toBe(ext(byFixture.json).auditId);
      if (f.expected.retestDue !== undefined) expect(ext(byFixture.json).retestDue).toBe(f.expected.retestDue);
      else expect(ext(byFixture.json).retestDue).toBeUndefined();
      expect(ext(byFixture.json).pathway).toMatchObject({ id: 'chart2', version: '1.1.3' });

      // 2. FHIR pull, 3. prefetch resolved by the EHR from the same server
      const byPull = await call(target, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), context, fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer', expires_in: 300, scope: 'patient/Observation.read patient/Patient.read', subject: 'hs-troponin-cds' } });
      expect(byPull.status, byPull.text).toBe(200);
      const byResolved = await call(target, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), context, prefetch: await resolvePrefetch(target, f.patientId) });
      expect(byResolved.status, byResolved.text).toBe(200);
      for (const other of [byPull, byResolved]) {
        const a = other.json.cards[0];
        expect(ext(other.json).outcome).toBe(f.expected.outcome);
        expect(a.summary).toBe(card.summary);
        expect(a.indicator).toBe(card.indicator);
        expect(ext(other.json).retestDue).toBe(ext(byFixture.json).retestDue);
        expect(ext(other.json).assays).toEqual(ext(byFixture.json).assays);
      }
      // Every answer has its record, named by the card.
      const rec = await admin(target, `/audit/${ext(byPull.json).auditId}`);
      expect(rec.status).toBe(200);
      expect(rec.json).toMatchObject({ kind: 'evaluation', patientId: f.patientId, at: new Date(Date.parse(f.expected.now)).toISOString() });
      expect(rec.json.body).toMatchObject({ outcome: f.expected.outcome, hook: 'patient-view', userId: 'Practitioner/dr-1', client: { iss: EHR_ISS }, data: { sources: { observations: 'fhir-pull' } } });
    });

    it('the card carries the retest suggestion, override reasons and a de-identified console link', async () => {
      const f = fixtures.find((x) => x.name === 'awaiting-retest-overdue')!;
      clock.set(f.expected.now);
      const res = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), context: { userId: 'Practitioner/dr-1', patientId: f.patientId, encounterId: 'enc-1044' }, prefetch: { observations: searchset(f.observations) } });
      const card = res.json.cards[0];
      expect(card.indicator).toBe('warning');
      expect(card.summary).toBe('Retest hs-troponin now: it was due 13:05 (Europe/London)');
      expect(card.selectionBehavior).toBe('at-most-one');
      const action = card.suggestions[0].actions[0];
      expect(action).toMatchObject({ type: 'create', resource: { resourceType: 'ServiceRequest', occurrenceDateTime: f.expected.retestDue, subject: { reference: `Patient/${f.patientId}` } } });
      expect(card.overrideReasons.every((r: WireJson) => typeof r.display === 'string' && r.system === 'http://hs-troponin-cds.example/fhir/CodeSystem/override-reason')).toBe(true);
      const link = card.links[0];
      expect(link.type).toBe('absolute');
      expect(link.url.startsWith(`${PUBLIC_BASE_URL}/console#case=`)).toBe(true);
      const [payload = ''] = (new URLSearchParams(new URL(link.url).hash.slice(1)).get('case') ?? '').split('.');
      const decoded = JSON.stringify(decodeCase(payload));
      for (const secret of [f.patientId, 'enc-1044', '1044-', '2026-']) expect(decoded).not.toContain(secret);
    });

    it('paging: a prefetch Bundle with link next is completed from fhirServer, and gives the same card as the whole prefetch', async () => {
      const f = fixtures.find((x) => x.name === 'below-url-rise-above-url-consistent')!;
      clock.set(f.expected.now);
      const firstPage: WireJson = await (await fetch(`${fhir.baseUrl}/Observation?patient=${f.patientId}&_count=1`, { headers: { authorization: `Bearer ${FHIR_TOKEN}` } })).json();
      expect(firstPage.link.some((l: WireJson) => l.relation === 'next')).toBe(true);
      fhir.requests.length = 0;
      const paged = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' }, prefetch: { observations: firstPage } });
      expect(paged.status, paged.text).toBe(200);
      expect(ext(paged.json).outcome).toBe(f.expected.outcome);
      expect(fhir.requests.length).toBe(f.observations.length - 1);
      expect(fhir.requests.every((r) => r.authorization === `Bearer ${FHIR_TOKEN}`)).toBe(true);
      const rec = await admin(app, `/audit/${ext(paged.json).auditId}`);
      expect(rec.json.body.data.sources.observations).toBe('prefetch-paged');
      // A FHIR pull forced to page (2 per page) gives the same card too.
      fhir.setFaults({ pageSize: 2 });
      try {
        const pulled = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' } });
        expect(ext(pulled.json).outcome).toBe(f.expected.outcome);
        expect(pulled.json.cards[0].summary).toBe(paged.json.cards[0].summary);
      } finally {
        fhir.setFaults({});
      }
    });

    /**
     * The 412 answers, each with its evaluation-failure record. When the request itself lacks the data the
     * answer names what failed; when the FHIR server failed, the answer only says it could not be queried
     * (never what it answered) and the record keeps what it did.
     */
    const TIMES_OUT = () => fhir.setFaults({ delayMs: 600_000 });
    const cases412: readonly { label: string; extra: (patientId: string) => Record<string, unknown>; detail: RegExp; farSide: boolean; fault?: () => void }[] = [
      { label: 'no prefetch and no fhirServer', extra: () => ({}), detail: /no prefetch "observations".*no fhirServer/, farSide: false },
      { label: 'a prefetch OperationOutcome and no fhirServer', extra: () => ({ prefetch: { observations: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'timeout', details: { text: 'EHR lab feed down' } }] } } }), detail: /OperationOutcome \(EHR lab feed down\)/, farSide: false },
      { label: 'a paged prefetch and no fhirServer', extra: (p) => ({ prefetch: { observations: searchset([], `https://ehr.hospital.example/fhir/Observation?patient=${p}&_offset=1`) } }), detail: /further pages/, farSide: false },
      { label: 'the FHIR server refuses the token (401)', extra: () => ({ fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: 'wrong-token', token_type: 'Bearer' } }), detail: /refused the access token \(HTTP 401\)/, farSide: true },
      { label: 'the FHIR server fails (500)', extra: () => ({ fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' } }), detail: /HTTP 500.*database on fire/, farSide: true, fault: () => fhir.setFaults({ fail: { status: 500, text: 'database on fire' } }) },
      { label: 'the FHIR server times out', extra: () => ({ fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' } }), detail: /did not answer.*within 2000 ms/, farSide: true, fault: TIMES_OUT },
      { label: 'the FHIR server is unreachable', extra: () => ({ fhirServer: UNREACHABLE, fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' } }), detail: /could not be reached/, farSide: true },
      { label: 'a paging link to another origin', extra: (p) => ({ fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' }, prefetch: { observations: searchset([], `http://127.0.0.1:9/fhir/Observation?patient=${p}`) } }), detail: /another origin/, farSide: true },
      { label: 'a fhirServer this client may not name', extra: () => ({ fhirServer: 'https://ehr.elsewhere.example/fhir', fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' } }), detail: /not one of the FHIR servers this CDS client may name/, farSide: false },
    ];
    it.each(cases412.map((c) => [c.label, c] as const))('412 when %s, with an audit record of the failure', async (_label, c) => {
      const patientId = `p412-${randomUUID().slice(0, 8)}`;
      clock.set('2026-04-17T13:20:00Z');
      c.fault?.();
      try {
        const answer = call(app, ehr, 'POST', SERVICE_PATH, hookBody(patientId, c.extra(patientId)));
        if (c.fault === TIMES_OUT) {
          // fhirPullTimeoutMs "passes" once the search is in flight.
          await fhir.until(() => fhir.requests.some((r) => r.url.includes(patientId)));
          expect(pullTimers.fireAll()).toBe(1);
        }
        const res = await answer;
        expect(res.status, res.text).toBe(412);
        expect(res.json.resourceType).toBe('OperationOutcome');
        if (c.farSide) {
          expect(res.json.issue[0].details.coding[0].code).toBe('TNP_ERR_FHIR_UNAVAILABLE');
          expect(res.json.issue[0].details.text).toMatch(/FHIR server could not be queried/);
          expect(res.json.issue[0].details.text).not.toMatch(c.detail);
        } else {
          expect(res.json.issue[0].details.text).toMatch(c.detail);
        }
        expect(res.text).not.toContain(FHIR_TOKEN);
        expect(res.text).not.toContain('wrong-token');
        const list = await admin(app, `/audit?patient=${patientId}`);
        expect(list.status).toBe(200);
        expect(list.json.records).toHaveLength(1);
        expect(list.json.records[0]).toMatchObject({ kind: 'evaluation-failure', patientId, body: { error: { status: 412 }, client: { iss: EHR_ISS } } });
        const error = list.json.records[0].body.error;
        expect(c.farSide ? error.cause.message : error.message).toMatch(c.detail);
        expect(JSON.stringify(list.json)).not.toContain(FHIR_TOKEN);
      } finally {
        fhir.setFaults({});
      }
    });

    it('with sex-specific URLs the Patient is required: 412 when it cannot be had, a null Patient means sex unknown', async () => {
      clock.set('2026-04-17T13:20:00Z');
      const patientId = `psex-${randomUUID().slice(0, 8)}`;
      const absent = await call(sexApp, ehr, 'POST', SERVICE_PATH, hookBody(patientId, { prefetch: { observations: searchset([]) } }));
      expect(absent.status).toBe(412);
      expect(absent.json.issue[0].details.text).toContain('no prefetch "patient"');
      expect(absent.json.issue[0].expression).toEqual(['prefetch.patient']);
      const failed = await call(sexApp, ehr, 'POST', SERVICE_PATH, hookBody(patientId, { prefetch: { observations: searchset([]), patient: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden', diagnostics: 'no access' }] } } }));
      expect(failed.status).toBe(412);
      expect(failed.json.issue[0].details.text).toContain('prefetch "patient" is an OperationOutcome (no access)');
      const records = (await admin(sexApp, `/audit?patient=${patientId}`)).json.records;
      expect(records.map((r: WireJson) => r.kind)).toEqual(['evaluation-failure', 'evaluation-failure']);
      const unknownSex = await call(sexApp, ehr, 'POST', SERVICE_PATH, hookBody(patientId, { prefetch: { observations: searchset([]), patient: null } }));
      expect(unknownSex.status).toBe(200);
    });

    it('a prefetch Bundle whose OperationOutcome entry says its results are not whole is never read as the whole record: 412 and audited without a server, pulled instead with one', async () => {
      const f = fixtures.find((x) => x.name === 'below-url-small-change-not-consistent')!;
      clock.set(f.expected.now);
      const whole = searchset(f.observations) as { entry: unknown[] };
      const incomplete = { ...whole, entry: [...whole.entry, { search: { mode: 'outcome' }, resource: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'incomplete', diagnostics: 'results after 12:00 could not be retrieved' }] } }] };
      const res = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), prefetch: { observations: incomplete } });
      expect(res.status, res.text).toBe(412);
      expect(res.json.issue[0].details.coding[0].code).toBe('TNP_ERR_DATA_UNAVAILABLE');
      expect(res.json.issue[0].details.text).toContain('prefetch "observations" is a Bundle whose OperationOutcome says its results are not whole (results after 12:00 could not be retrieved)');
      const records = (await admin(app, `/audit?patient=${f.patientId}`)).json.records as WireJson[];
      // Newest first: this call's record.
      expect(records[0]).toMatchObject({ kind: 'evaluation-failure', body: { error: { status: 412 } } });
      const pulled = await call(app, ehr, 'POST', SERVICE_PATH, {
        ...hookBody(f.patientId),
        fhirServer: fhir.baseUrl,
        fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' },
        prefetch: { observations: incomplete },
      });
      expect(pulled.status, pulled.text).toBe(200);
      expect(ext(pulled.json).outcome).toBe(f.expected.outcome);
    });

    it('a prefetch OperationOutcome with a fhirServer: the data are pulled instead', async () => {
      const f = fixtures.find((x) => x.name === 'below-url-rise-above-url-consistent')!;
      clock.set(f.expected.now);
      const res = await call(app, ehr, 'POST', SERVICE_PATH, {
        ...hookBody(f.patientId),
        fhirServer: fhir.baseUrl,
        fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' },
        prefetch: { observations: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] } },
      });
      expect(res.status).toBe(200);
      expect(ext(res.json).outcome).toBe(f.expected.outcome);
    });

    it('prefetch null means no data: needs-input, never reassuring', async () => {
      clock.set('2026-04-17T13:20:00Z');
      const res = await call(app, ehr, 'POST', SERVICE_PATH, hookBody('p-null', { prefetch: { observations: null } }));
      expect(res.status).toBe(200);
      expect(ext(res.json).outcome).toBe('needs-input');
    });

    it('an observation about another patient in the prefetch is left out, and audited', async () => {
      const f = fixtures.find((x) => x.name === 'below-url-rise-above-url-consistent')!;
      clock.set(f.expected.now);
      const foreign = f.observations.map((o) => ({ ...o, id: `${String(o['id'])}-x`, subject: { reference: 'Patient/somebody-else' } }));
      const res = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody('p-alone'), prefetch: { observations: searchset(foreign) } });
      expect(ext(res.json).outcome).toBe('needs-input');
      const rec = await admin(app, `/audit/${ext(res.json).auditId}`);
      expect(rec.json.body.data.excluded).toHaveLength(foreign.length);
    });

    it('feedback: appended as its own record linked to the card, idempotent per card and outcome', async () => {
      const f = fixtures.find((x) => x.name === 'awaiting-retest-overdue')!;
      clock.set(f.expected.now);
      const res = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), prefetch: { observations: searchset(f.observations) } });
      const card = res.json.cards[0];
      const suggestion = card.suggestions[0].uuid;
      const accepted = { card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: suggestion }], outcomeTimestamp: '2026-04-17T13:21:00Z' };
      const first = await call(app, ehr, 'POST', FEEDBACK_PATH, { feedback: [accepted] });
      expect(first.status, first.text).toBe(200);
      const again = await call(app, ehr, 'POST', FEEDBACK_PATH, { feedback: [accepted] });
      expect(again.status).toBe(200);
      expect(again.json.feedback[0].auditId).toBe(first.json.feedback[0].auditId);
      const overridden = await call(app, ehr, 'POST', FEEDBACK_PATH, {
        feedback: [{ card: card.uuid, outcome: 'overridden', overrideReason: { reason: card.overrideReasons[3], userComment: 'ordered at triage' }, outcomeTimestamp: '2026-04-17T13:22:00Z' }],
      });
      expect(overridden.status, overridden.text).toBe(200);
      const fb = await admin(app, `/audit/${first.json.feedback[0].auditId}`);
      expect(fb.json).toMatchObject({ kind: 'feedback', linksTo: card.uuid, patientId: f.patientId, body: { card: card.uuid, outcome: 'accepted', acceptedSuggestions: [{ id: suggestion }] } });
      const records = (await admin(app, `/audit?patient=${f.patientId}&limit=1000`)).json.records.filter((r: WireJson) => r.kind === 'feedback' && r.linksTo === card.uuid);
      expect(records.map((r: WireJson) => r.body.outcome).sort()).toEqual(['accepted', 'overridden']);
      // Unknown card: 404 OperationOutcome; a suggestion the card did not offer: 400.
      const unknown = await call(app, ehr, 'POST', FEEDBACK_PATH, { feedback: [{ ...accepted, card: randomUUID() }] });
      expect(unknown.status).toBe(404);
      expect(unknown.json.issue[0].details.coding[0].code).toBe('TNP_ERR_CARD_UNKNOWN');
      const badSuggestion = await call(app, ehr, 'POST', FEEDBACK_PATH, { feedback: [{ ...accepted, acceptedSuggestions: [{ id: 'nope' }] }] });
      expect(badSuggestion.status).toBe(400);
      // Accepted without acceptedSuggestions: 400 naming the field (cds-fb-2).
      const missing = await call(app, ehr, 'POST', FEEDBACK_PATH, { feedback: [{ card: card.uuid, outcome: 'accepted', outcomeTimestamp: '2026-04-17T13:21:00Z' }] });
      expect(missing.status).toBe(400);
      expect(missing.json.issue[0].expression.join(' ')).toContain('acceptedSuggestions');
      // Another client cannot give feedback on this card.
      const other = await createCdsClient({ iss: 'https://other-ehr.example', alg: 'ES384', now: clock.now });
      const otherApp = await startApp({ store: app.store, clients: [ehr, other], now: clock.now });
      try {
        const refused = await call(otherApp, other, 'POST', FEEDBACK_PATH, { feedback: [accepted] });
        expect(refused.status).toBe(404);
      } finally {
        await otherApp.close();
      }
    });

    it('audit read-back with the admin token, verify ok; 401 without it; editing a record by hand makes verify fail (409)', async () => {
      clock.set('2026-04-17T13:20:00Z');
      const s = harness.fresh();
      const own = await startApp({ storage: s, clients: [ehr], now: clock.now });
      try {
        const f = fixtures.find((x) => x.name === 'below-url-rise-above-url-consistent')!;
        clock.set(f.expected.now);
        const res = await call(own, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), prefetch: { observations: searchset(f.observations) } });
        const auditId = ext(res.json).auditId;
        const rec = await admin(own, `/audit/${auditId}`);
        expect(rec.status).toBe(200);
        expect(rec.json.body).toMatchObject({ outcome: 'consistent-with-mi', engineVersion: expect.any(String), pathway: ext(res.json).pathway });
        expect(rec.json.body.trace.length).toBeGreaterThan(3);
        expect(rec.json.body.inputResources.length).toBe(f.observations.length);
        expect(rec.json.body.cards[0].suggestionUuids).toEqual([]);
        const verify = await admin(own, '/audit/verify');
        expect(verify.status).toBe(200);
        expect(verify.json).toMatchObject({ ok: true, records: 1, head: rec.json.hash });
        for (const bad of [null, 'wrong-admin-token-0000000000', `${ADMIN_TOKEN}x`]) {
          const r = await admin(own, `/audit/${auditId}`, bad);
          expect(r.status).toBe(401);
          expect(r.text).not.toContain('consistent');
        }
        expect((await admin(own, '/audit/verify', null)).status).toBe(401);
        expect((await admin(own, `/audit?patient=${f.patientId}`, 'nope')).status).toBe(401);
        expect((await admin(own, `/audit/${randomUUID()}`)).status).toBe(404);
        expect((await admin(own, '/audit')).status).toBe(400);
        const body = JSON.stringify({ ...rec.json.body, outcome: 'not-consistent-with-mi' });
        await harness.tamper(s, { type: 'set', seq: 1, column: 'body', value: body });
        const broken = await admin(own, '/audit/verify');
        expect(broken.status).toBe(409);
        expect(broken.json).toMatchObject({ ok: false, firstBad: { seq: 1, id: auditId } });
      } finally {
        await own.close();
      }
    });

    it('an audit store that cannot write: 503 OperationOutcome, never a card', async () => {
      const f = fixtures.find((x) => x.name === 'below-url-rise-above-url-consistent')!;
      clock.set(f.expected.now);
      const s = harness.fresh();
      const real = await openAuditStore(s, { newId: randomUUID, now: clock.now });
      // The replay guard works, the append fails: the evaluation path must refuse to answer.
      const failing: AuditStore = {
        location: real.location,
        warnings: real.warnings,
        append: () => Promise.reject(new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store cannot write: disk full')),
        appendWithJti: () => Promise.reject(new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store cannot write: disk full')),
        appendBulk: () => Promise.reject(new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store cannot write: disk full')),
        isJtiHeld: (iss, jti) => real.isJtiHeld(iss, jti),
        get: (id) => real.get(id),
        listByPatient: (p, o) => real.listByPatient(p, o),
        getChecked: (id) => real.getChecked(id),
        listByPatientChecked: (p, o) => real.listByPatientChecked(p, o),
        checkWritable: (o) => real.checkWritable(o),
        verify: () => real.verify(),
        rememberJti: (iss, jti, exp) => real.rememberJti(iss, jti, exp),
        commitEvent: () => Promise.reject(new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store cannot write: disk full')),
        lab: real.lab,
        stats: () => real.stats(),
        close: () => real.close(),
      };
      const own = await startApp({ store: failing, clients: [ehr], now: clock.now });
      try {
        const res = await call(own, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), prefetch: { observations: searchset(f.observations) } });
        expect(res.status).toBe(503);
        expect(res.json.resourceType).toBe('OperationOutcome');
        expect(res.json.cards).toBeUndefined();
        expect(res.text).not.toContain('consistent');
        // The 412 path too: a failure that cannot be audited is a 503.
        const r412 = await call(own, ehr, 'POST', SERVICE_PATH, hookBody(f.patientId));
        expect(r412.status).toBe(503);
        // A closed store: 503 at the replay guard already, still no card.
        await real.close();
        const closed = await call(own, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), prefetch: { observations: searchset(f.observations) } });
        expect(closed.status).toBe(503);
        expect(closed.json.cards).toBeUndefined();
        const health = await fetch(`${own.url}/healthz`);
        expect(health.status).toBe(503);
      } finally {
        await own.close();
      }
    });

    it('a jti is refused the second time by a second app sharing the store, and after a restart', async () => {
      clock.set('2026-04-17T13:20:00Z');
      const s = harness.fresh();
      const a = await startApp({ storage: s, clients: [ehr], now: clock.now });
      const store2 = await openAuditStore(s, { newId: randomUUID, now: clock.now });
      const b = await startApp({ store: store2, clients: [ehr], now: clock.now });
      const token = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${DISCOVERY_PATH}` });
      try {
        expect((await call(a, null, 'GET', DISCOVERY_PATH, undefined, { token })).status).toBe(200);
        expect((await call(b, null, 'GET', DISCOVERY_PATH, undefined, { token })).status).toBe(401);
        expect((await call(a, null, 'GET', DISCOVERY_PATH, undefined, { token })).status).toBe(401);
      } finally {
        await a.close();
        await b.close();
        await store2.close();
      }
      const restarted = await startApp({ storage: s, clients: [ehr], now: clock.now });
      try {
        const again = await call(restarted, null, 'GET', DISCOVERY_PATH, undefined, { token });
        expect(again.status).toBe(401);
        expect((await call(restarted, ehr, 'GET', DISCOVERY_PATH)).status).toBe(200);
      } finally {
        await restarted.close();
      }
    });

    it('CORS: the preflight for an allowlisted origin needs no JWT; other origins get no CORS headers', async () => {
      const pre = await fetch(`${app.url}${SERVICE_PATH}`, {
        method: 'OPTIONS',
        headers: { origin: 'https://ehr-ui.hospital.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://ehr-ui.hospital.example');
      expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
      expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
      const other = await fetch(`${app.url}${SERVICE_PATH}`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
      const get = await call(app, ehr, 'GET', DISCOVERY_PATH, undefined, { headers: { origin: 'https://ehr-ui.hospital.example' } });
      expect(get.headers.get('access-control-allow-origin')).toBe('https://ehr-ui.hospital.example');
    });

    it('a jti answered with a 4xx (bad body) or a 412 cannot be used again', async () => {
      clock.set('2026-04-17T13:20:00Z');
      const bad = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${SERVICE_PATH}` });
      expect((await call(app, null, 'POST', SERVICE_PATH, undefined, { token: bad, rawBody: '{"hook": ' })).status).toBe(400);
      expect((await call(app, null, 'POST', SERVICE_PATH, hookBody('p1', { prefetch: { observations: null } }), { token: bad })).status).toBe(401);
      const unobtainable = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${SERVICE_PATH}` });
      expect((await call(app, null, 'POST', SERVICE_PATH, hookBody('p1'), { token: unobtainable })).status).toBe(412);
      expect((await call(app, null, 'POST', SERVICE_PATH, hookBody('p1', { prefetch: { observations: null } }), { token: unobtainable })).status).toBe(401);
      // Concurrent calls with one token: one answer, the others 401.
      const token = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${SERVICE_PATH}` });
      const all = await Promise.all(Array.from({ length: 5 }, () => call(app, null, 'POST', SERVICE_PATH, hookBody('p1', { prefetch: { observations: null } }), { token })));
      expect(all.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401]);
    });

    it('bad input: 4xx OperationOutcomes that say what is wrong', async () => {
      const notJson = await call(app, ehr, 'POST', SERVICE_PATH, undefined, { rawBody: 'hook=patient-view', contentType: 'text/plain' });
      expect(notJson.status).toBe(415);
      expect(notJson.json.resourceType).toBe('OperationOutcome');
      const huge = await call(app, ehr, 'POST', SERVICE_PATH, undefined, { rawBody: JSON.stringify({ ...hookBody('p1'), pad: 'x'.repeat(6 * 1024 * 1024) }) });
      expect(huge.status).toBe(413);
      expect(huge.json.resourceType).toBe('OperationOutcome');
      const broken = await call(app, ehr, 'POST', SERVICE_PATH, undefined, { rawBody: '{"hook": ' });
      expect(broken.status).toBe(400);
      const noPatient = await call(app, ehr, 'POST', SERVICE_PATH, { hook: 'patient-view', hookInstance: randomUUID(), context: { userId: 'Practitioner/1' } });
      expect(noPatient.status).toBe(400);
      expect(noPatient.json.issue[0].expression).toEqual(['body.context.patientId']);
      const authNoServer = await call(app, ehr, 'POST', SERVICE_PATH, hookBody('p1', { fhirAuthorization: { access_token: 'x', token_type: 'Bearer' } }));
      expect(authNoServer.status).toBe(400);
      expect(authNoServer.json.issue[0].expression[0]).toContain('fhirServer');
      const hook = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody('p1'), hook: 'order-sign' });
      expect(hook.status).toBe(400);
      expect(hook.json.issue[0].details.coding[0].code).toBe('TNP_ERR_HOOK_UNSUPPORTED');
      const badPrefetch = await call(app, ehr, 'POST', SERVICE_PATH, hookBody('p1', { prefetch: { observations: [1, 2] } }));
      expect(badPrefetch.status).toBe(400);
      expect(badPrefetch.json.issue[0].expression).toEqual(['prefetch.observations']);
      const deep = await call(app, ehr, 'POST', SERVICE_PATH, undefined, { rawBody: `${'['.repeat(5000)}${']'.repeat(5000)}` });
      expect(deep.status).toBe(400);
      const nowhere = await call(app, ehr, 'GET', '/cds-services/no-such-service');
      expect(nowhere.status).toBe(404);
      expect(nowhere.json.resourceType).toBe('OperationOutcome');
      const proto = await call(app, ehr, 'POST', SERVICE_PATH, undefined, { rawBody: '{"__proto__": {"x": 1}, "hook": "patient-view"}' });
      expect(proto.status).toBe(400);
    });

    it('logs: JSON lines with the hookInstance on CDS lines; no token, access token or patient id', async () => {
      const f = fixtures.find((x) => x.name === 'below-url-rise-above-url-consistent')!;
      clock.set(f.expected.now);
      const body: Record<string, unknown> = { ...hookBody(f.patientId), fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' } };
      const token = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${SERVICE_PATH}` });
      const res = await call(app, null, 'POST', SERVICE_PATH, body, { token });
      expect(res.status).toBe(200);
      await call(app, null, 'POST', SERVICE_PATH, body, { token }); // replayed: 401, logged with its reason
      await admin(app, `/audit?patient=${f.patientId}`);
      const text = app.logText();
      expect(text).not.toContain(token);
      expect(text).not.toContain(token.split('.')[2]!);
      expect(text).not.toContain(FHIR_TOKEN);
      expect(text).not.toContain(f.patientId);
      expect(text).not.toContain(ADMIN_TOKEN);
      const lines = app.logs.filter((l) => l['hookInstance'] === body.hookInstance);
      expect(lines.some((l) => l['msg'] === 'CDS evaluation answered')).toBe(true);
      expect(lines.some((l) => l['msg'] === 'request completed')).toBe(true);
      expect(app.logs.some((l) => l['event'] === 'jwt-refused' && String(l['reason']).includes('replayed'))).toBe(true);
    });

    it("logs: a call's hookInstance is on its own lines only, never on a later request's (GET /healthz, another CDS call)", async () => {
      const f = fixtures.find((x) => x.name === 'below-url-rise-above-url-consistent')!;
      clock.set(f.expected.now);
      const first: Record<string, unknown> = { ...hookBody(f.patientId), fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' } };
      const firstId = first['hookInstance'];
      expect((await call(app, ehr, 'POST', SERVICE_PATH, first)).status).toBe(200);
      // The request-completed line is written once the answer is sent: wait for it before the next request.
      for (let i = 0; i < 100 && !app.logs.some((l) => l['hookInstance'] === firstId && l['msg'] === 'request completed'); i++) await new Promise((r) => setTimeout(r, 10));
      expect(app.logs.filter((l) => l['hookInstance'] === firstId).map((l) => l['msg'])).toEqual(expect.arrayContaining(['CDS evaluation answered', 'request completed']));
      const before = app.logs.length;
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
      const second: Record<string, unknown> = { ...hookBody(f.patientId), fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: FHIR_TOKEN, token_type: 'Bearer' } };
      const secondId = second['hookInstance'];
      expect((await call(app, ehr, 'POST', SERVICE_PATH, second)).status).toBe(200);
      for (let i = 0; i < 100 && !app.logs.some((l) => l['hookInstance'] === secondId && l['msg'] === 'request completed'); i++) await new Promise((r) => setTimeout(r, 10));
      const later = app.logs.slice(before);
      expect(later.some((l) => l['hookInstance'] === secondId && l['msg'] === 'CDS evaluation answered')).toBe(true);
      expect(later.filter((l) => l['hookInstance'] === firstId)).toEqual([]);
      expect(later.filter((l) => l['msg'] === 'request completed' && l['hookInstance'] !== secondId).length).toBeGreaterThan(0);
    });

    it('healthz and metrics', async () => {
      clock.set('2026-04-17T13:20:00Z');
      await call(app, null, 'GET', DISCOVERY_PATH);
      await call(app, ehr, 'POST', SERVICE_PATH, hookBody('p-metrics', { fhirServer: fhir.baseUrl, fhirAuthorization: { access_token: 'bad', token_type: 'Bearer' } }));
      await call(app, ehr, 'POST', SERVICE_PATH, hookBody('p-metrics', { prefetch: { observations: null } }));
      const h = await fetch(`${app.url}/healthz`);
      expect(h.status).toBe(200);
      expect(await h.json()).toMatchObject({ status: 'ok', pathway: { id: 'chart2' } });
      const m = await (await fetch(`${app.url}/metrics`)).text();
      expect(m).toContain('hs_troponin_cds_http_requests_total{route="/cds-services/hs-troponin-chest-pain",method="POST",status="200"}');
      expect(m).toMatch(/hs_troponin_cds_outcomes_total\{outcome="needs-input"\} [1-9]/);
      expect(m).toMatch(/hs_troponin_cds_fhir_pull_errors_total\{code="TNP_ERR_FHIR_UNAUTHORIZED"\} [1-9]/);
      expect(m).toMatch(/hs_troponin_cds_data_unavailable_total\{code="TNP_ERR_FHIR_UNAUTHORIZED"\} [1-9]/);
      expect(m).toContain('hs_troponin_cds_audit_write_duration_seconds_bucket');
      expect(m).toMatch(/hs_troponin_cds_jwt_refusals_total [1-9]/);
    });
  });
}
