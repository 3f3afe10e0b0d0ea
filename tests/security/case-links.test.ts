/**
 * S-23 and S-24: a card's link to the console. Against the real app (a real CDS call with a signed JWT
 * over a real socket, then the console over the same socket):
 *
 * - S-23: with about 100 Observations the link was 18 kB in the query string and the console answered
 *   431. The case goes in the fragment (never sent to a server, never in a log or a Referer) and the
 *   link stays under 8 kB whatever the episode, summarised beyond that; the console says when it is.
 * - S-24: the link was unsigned and copied free text. It is signed (HMAC-SHA256 with a key from the
 *   settings or generated once into the data directory, mode 0600); the console says "from a card of
 *   this service" only when the signature verifies; no free text, display string or unknown code is
 *   copied into it.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { inflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { pgAvailable, requireService } from '../support/services.js';
import { call, EHR_ISS, harnessFor, hookBody, PUBLIC_BASE_URL, searchset, SERVICE_PATH, startApp, type RunningApp, type WireJson } from '../support/cds-app.js';

const T0 = Date.parse('2026-03-14T09:00:00Z');
const NOW = T0 + 200 * 60_000;
const clock = (): Date => new Date(NOW);
const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();
const ROCHE = { system: 'http://loinc.org', code: '67151-1', display: 'Troponin T.cardiac [Mass/volume] in Serum or Plasma by High sensitivity method' };
const PRODUCT = 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain';

/** Free text a record may hold that must never reach a link. */
/** The JSON of a link's payload (compressed JSON, base64url). */
function payloadJson(payload: string): string {
  return inflateRawSync(Buffer.from(payload, 'base64url')).toString('utf8');
}

const SECRETS = ['JOHN SMITH', 'Smith', '943 476 5919', 'Ward 7', 'LOCAL-TNT-SMITH', 'mrn-77812', 'p-secret-1', 'enc-secret-9', 'Dr Who', '2026-03-14'];

function troponin(i: number, minutes: number, value: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    id: `trop-${i}`,
    identifier: [{ system: 'http://lab.hospital.example/result', value: `mrn-77812-${i}` }],
    status: 'final',
    code: { coding: [ROCHE, { system: 'http://lab.hospital.example/codes', code: 'LOCAL-TNT-SMITH', display: 'JOHN SMITH troponin' }], text: 'hs-TnT for JOHN SMITH' },
    subject: { reference: 'Patient/p-secret-1', display: 'JOHN SMITH' },
    encounter: { reference: 'Encounter/enc-secret-9' },
    performer: [{ display: 'Dr Who, Ward 7' }],
    note: [{ text: 'Called to JOHN SMITH, NHS 943 476 5919, Ward 7' }],
    effectiveDateTime: at(minutes),
    valueQuantity: { value, unit: 'ng/L (JOHN SMITH)', system: 'http://unitsofmeasure.org', code: 'ng/L' },
    ...extra,
  };
}

function episode(troponins: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [
    { resourceType: 'Patient', id: 'p-secret-1', name: [{ text: 'JOHN SMITH' }], gender: 'male', birthDate: '1961-05-02' },
    {
      resourceType: 'Observation',
      id: 'ecg-1',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8601-7', display: 'EKG impression' }] },
      subject: { reference: 'Patient/p-secret-1' },
      effectiveDateTime: at(-10),
      valueCodeableConcept: { coding: [{ system: PRODUCT, code: 'no-stemi-or-new-lbbb' }, { system: 'http://hospital.example/ecg', code: 'Dr Who' }], text: 'Reported by Dr Who' },
    },
    { resourceType: 'Observation', id: 'timi-1', status: 'final', code: { coding: [{ system: PRODUCT, code: 'timi-risk-score' }] }, subject: { reference: 'Patient/p-secret-1' }, effectiveDateTime: at(-5), valueInteger: 2 },
  ];
  // The baseline, then results every few minutes (a long, busy episode), one of them high.
  out.push(troponin(0, 0, 8));
  for (let i = 1; i < troponins; i++) out.push(troponin(i, Math.min(190, 2 + ((i * 7) % 188)), i === Math.floor(troponins / 2) ? 95 : 6 + (i % 5)));
  // A result with a unit nobody can read, written as free text.
  out.push(troponin(troponins, 190, 31, { valueQuantity: { value: 31, unit: 'see note for JOHN SMITH' } }));
  return out;
}

describe('S-23 and S-24 card links to the console', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tnp-links-'));
  let ehr: CdsTestClient;
  let app: RunningApp;

  beforeAll(async () => {
    ehr = await createCdsClient({ iss: EHR_ISS, alg: 'ES384', now: clock });
    app = await startApp({ clients: [ehr], now: clock, settings: { logLevel: 'silent', dataDir } });
  });
  afterAll(async () => {
    await app?.close();
  });

  async function cardLink(target: RunningApp, resources: Record<string, unknown>[]): Promise<{ link: string; outcome: string }> {
    const res = await call(target, ehr, 'POST', SERVICE_PATH, hookBody('p-secret-1', { context: { userId: 'Practitioner/dr-1', patientId: 'p-secret-1', encounterId: 'enc-secret-9' }, prefetch: { observations: searchset(resources.filter((r) => r['resourceType'] === 'Observation')) } }));
    expect(res.status, res.text).toBe(200);
    const card = res.json.cards[0];
    return { link: card.links[0].url as string, outcome: card.extension['hs-troponin-cds'].outcome as string };
  }

  /** The case part of a link: what the console reads from the fragment. */
  function caseOf(link: string): string {
    const u = new URL(link);
    expect(u.search, 'nothing in the query string').toBe('');
    expect(u.hash.startsWith('#case=')).toBe(true);
    return new URLSearchParams(u.hash.slice(1)).get('case') ?? '';
  }

  async function openInConsole(target: RunningApp, link: string): Promise<WireJson> {
    // What a browser sends for the link: the path (and query), never the fragment.
    const u = new URL(link);
    const page = await fetch(`${target.url}${u.pathname.replace(new URL(PUBLIC_BASE_URL).pathname, '')}${u.search}`);
    expect(page.status).toBe(200);
    // What the page then asks the service.
    const res = await fetch(`${target.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ case: caseOf(link) }) });
    expect(res.status).toBe(200);
    return res.json();
  }

  it('S-23: about 100 Observations give a link under 8 kB with the case in the fragment, and the console opens it (it answered 431)', async () => {
    const { link, outcome } = await cardLink(app, episode(97));
    expect(link.length).toBeLessThan(8 * 1024);
    expect(link.startsWith(`${PUBLIC_BASE_URL}/console#case=`)).toBe(true);
    const opened = await openInConsole(app, link);
    expect(opened.caseLink.verified).toBe(true);
    expect(opened.caseLink.cardOutcome).toBe(outcome);
    if (opened.caseLink.summary === null) expect(opened.decision.outcome).toBe(outcome);
  });

  it('S-23: 1,000 Observations: still under 8 kB, summarised with counts (the baseline and the most serious results kept), and the console says so', async () => {
    const { link, outcome } = await cardLink(app, episode(997));
    expect(link.length).toBeLessThan(8 * 1024);
    const opened = await openInConsole(app, link);
    expect(opened.caseLink.verified).toBe(true);
    expect(opened.caseLink.cardOutcome).toBe(outcome);
    const s = opened.caseLink.summary;
    expect(s).not.toBeNull();
    expect(s.observations).toBe(1000);
    expect(s.kept).toBeLessThan(1000);
    expect(s.kept).toBeGreaterThan(10);
    expect(s.dropped.troponin + s.dropped.ecg + s.dropped.timi).toBe(1000 - s.kept);
    // The baseline (8 ng/L at 0 min), the highest result (95 ng/L) and the ECG and TIMI are kept.
    const kept = opened.resources as WireJson[];
    const values = kept.filter((r) => r.valueQuantity !== undefined).map((r) => r.valueQuantity.value);
    expect(values).toContain(8);
    expect(values).toContain(95);
    expect(kept.some((r) => r.valueInteger === 2)).toBe(true);
    expect(kept.some((r) => r.valueCodeableConcept !== undefined)).toBe(true);
  });

  it('S-24: no identifier, date, display string, note or other free text is copied into the link; the case still decides as the card did', async () => {
    const resources = episode(3);
    const { link, outcome } = await cardLink(app, resources);
    const param = caseOf(link);
    const decoded = payloadJson(param.split('.')[0] ?? '');
    for (const s of SECRETS) expect(decoded, s).not.toContain(s);
    const opened = await openInConsole(app, link);
    expect(opened.caseLink.summary).toBeNull();
    expect(opened.decision.outcome).toBe(outcome);
    // The unreadable unit stays unreadable (never guessed), without its text.
    expect(JSON.stringify(opened.decision.inputs)).toMatch(/uninterpretable/);
  });

  it('S-24: the console verifies the signature: a changed case, another service\'s key, no signature or the old unsigned format are "unverified", and still shown', async () => {
    const { link } = await cardLink(app, episode(3));
    const param = caseOf(link);
    const [payload, sig] = param.split('.') as [string, string];
    expect(sig).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const body: WireJson = JSON.parse(payloadJson(payload));
    // A changed value under the original signature: the baseline made higher.
    const edited = structuredClone(body);
    edited.observations.find((o: WireJson) => o.quantity?.value === 8).quantity.value = 80;
    const tampered = `${Buffer.from(JSON.stringify(edited)).toString('base64url')}.${sig}`;
    const unsigned = payload;
    const legacy = Buffer.from(JSON.stringify({ ...body, v: 1, outcome: undefined })).toString('base64url');
    const other = await startApp({ clients: [ehr], now: clock, settings: { logLevel: 'silent', caseLinkKey: 'another-service-key-0123456789abcdef' } });
    try {
      const foreign = caseOf((await cardLink(other, episode(3))).link);
      for (const [what, c] of [['tampered', tampered], ['unsigned', unsigned], ['legacy v1', legacy], ['another key', foreign]] as const) {
        const res = await fetch(`${app.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ case: c }) });
        expect(res.status, what).toBe(200);
        const json = (await res.json()) as WireJson;
        expect(json.caseLink.verified, what).toBe(false);
        expect(json.decision.outcome, what).toBeTruthy();
      }
      const genuine = await fetch(`${other.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ case: foreign }) });
      expect(((await genuine.json()) as WireJson).caseLink.verified).toBe(true);
    } finally {
      await other.close();
    }
    // A case longer than any link the service makes is refused, not decoded.
    const huge = await fetch(`${app.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ case: 'A'.repeat(9000) }) });
    expect(huge.status).toBe(400);
    expect(((await huge.json()) as WireJson).issue[0].details.coding[0].code).toBe('TNP_ERR_CONSOLE_CASE_LINK_INVALID');
  });

  it('S-24: the key is generated once into the data directory (mode 0600) and kept across restarts; caseLinkKey in the settings is used instead when given', async () => {
    const keyFile = join(dataDir, 'case-link.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const key = readFileSync(keyFile, 'utf8');
    expect(key.trim()).toMatch(/^[0-9a-f]{64}$/);
    const { link } = await cardLink(app, episode(3));
    // A restart on the same data directory: the same key, so links already issued still verify.
    const restarted = await startApp({ clients: [ehr], now: clock, settings: { logLevel: 'silent', dataDir } });
    try {
      expect(readFileSync(keyFile, 'utf8')).toBe(key);
      const res = await fetch(`${restarted.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ case: caseOf(link) }) });
      expect(((await res.json()) as WireJson).caseLink.verified).toBe(true);
    } finally {
      await restarted.close();
    }
    // Two processes with one caseLinkKey verify each other's links, and write no key file.
    const shared = 'a-site-wide-case-link-key-0123456789abcdef';
    const dirA = mkdtempSync(join(tmpdir(), 'tnp-links-a-'));
    const a = await startApp({ clients: [ehr], now: clock, settings: { logLevel: 'silent', caseLinkKey: shared, dataDir: dirA } });
    const b = await startApp({ clients: [ehr], now: clock, settings: { logLevel: 'silent', caseLinkKey: shared } });
    try {
      const fromA = caseOf((await cardLink(a, episode(3))).link);
      const res = await fetch(`${b.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ case: fromA }) });
      expect(((await res.json()) as WireJson).caseLink.verified).toBe(true);
      expect(() => statSync(join(dirA, 'case-link.key'))).toThrow();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('S-24: a key file others can read, or one that is not a key, stops the start; a short caseLinkKey is refused', async () => {
    const loose = mkdtempSync(join(tmpdir(), 'tnp-links-loose-'));
    writeFileSync(join(loose, 'case-link.key'), `${'ab'.repeat(32)}\n`, { mode: 0o644 });
    chmodSync(join(loose, 'case-link.key'), 0o644);
    await expect(startApp({ now: clock, settings: { logLevel: 'silent', dataDir: loose } })).rejects.toThrow(/case-link\.key.*(readable|0600)/);
    const bad = mkdtempSync(join(tmpdir(), 'tnp-links-bad-'));
    writeFileSync(join(bad, 'case-link.key'), 'not a key\n', { mode: 0o600 });
    await expect(startApp({ now: clock, settings: { logLevel: 'silent', dataDir: bad } })).rejects.toThrow(/case-link\.key/);
    await expect(startApp({ now: clock, settings: { logLevel: 'silent', caseLinkKey: 'short' } })).rejects.toThrow(/caseLinkKey/);
  });
});

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable(), 'the CI script starts it; locally: a PostgreSQL with a "test" database and trust auth');

describe.runIf(runPg)('S-24 several processes on PostgreSQL', () => {
  const harness = harnessFor('postgres');
  afterAll(async () => {
    await harness.cleanup();
  });

  it('without a caseLinkKey, a process on PostgreSQL warns at start that its links verify only on itself; with one, it does not', async () => {
    const storage = harness.fresh();
    // What the settings file says (the harness opens the store itself, with its own schema).
    const settings = { storage: { kind: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/test' } };
    const alone = await startApp({ storage, now: clock, settings });
    const shared = await startApp({ storage, now: clock, settings: { ...settings, caseLinkKey: 'a-site-wide-case-link-key-0123456789abcdef' } });
    try {
      expect(alone.logs.filter((l) => l['event'] === 'case-link-key-per-process')).toHaveLength(1);
      expect(shared.logs.filter((l) => l['event'] === 'case-link-key-per-process')).toHaveLength(0);
    } finally {
      await alone.close();
      await shared.close();
    }
  });
});
