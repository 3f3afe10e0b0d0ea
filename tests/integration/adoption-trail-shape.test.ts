/**
 * The synthetic audit trail of `npm run bench:report` (bench/trail) is only worth measuring if its records
 * are the records the service writes. For the same case (the same patient, encounter, resources and time),
 * the CDS service over real HTTP writes an evaluation record and, for its card's feedback, a feedback
 * record; the trail's writer makes its own. They must have the same shape (every key, at every depth, with
 * the same JSON types) and the same decision-bearing content; only per-call identifiers differ.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EpisodeSpec } from '../../bench/trail/episodes.js';
import { observations, SITE_SETTINGS, TRAIL_PUBLIC_BASE_URL, writeTrail } from '../../bench/trail/records.js';
import { ENGINE_VERSION } from '../../src/app.js';
import { loadRuntime } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';
import type { AuditRecord, AuditRecordInput } from '../../src/audit/store.js';
import { call, FEEDBACK_PATH, harnessFor, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp, type WireJson } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';

/** Every key at every depth with its JSON type; an array's shape is the set of its items' shapes. */
function shapeOf(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return [...new Set(v.map((x) => JSON.stringify(shapeOf(x))))].sort().map((s) => JSON.parse(s) as unknown);
  if (typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shapeOf((v as Record<string, unknown>)[k])]));
  return typeof v;
}

const START = Date.parse('2026-03-06T09:00:00Z');
/** A typical episode: ECG, TIMI, baseline at 15 min, retest on time, evaluated after each sample; the second card overridden. */
const episode: EpisodeSpec = {
  patientId: 'pt-shape-1',
  encounterId: 'enc-shape-1',
  startMs: START,
  ecg: { finding: 'no-stemi-or-new-lbbb', atMin: 5 },
  timi: { score: 2, atMin: 10 },
  baseline: { value: 8, atMin: 15, coding: 'site' },
  retest: { value: 30, atMin: 200 },
  evals: [
    { atMin: 60, feedback: null },
    { atMin: 250, feedback: { overridden: 'clinical-judgement' } },
  ],
};
const evalAtMs = START + 250 * 60_000;
const feedbackAtMs = evalAtMs + 2 * 60_000;

describe('the synthetic trail writes the records the service writes', () => {
  const harness = harnessFor('sqlite');
  let ehr: CdsTestClient;
  let app: RunningApp;
  let nowMs = evalAtMs;
  const now = (): Date => new Date(nowMs);
  const trail: AuditRecordInput[] = [];

  beforeAll(async () => {
    ehr = await createCdsClient({ iss: 'https://ehr.hospital.example', alg: 'ES384', kid: 'ehr-key-1', now });
    app = await startApp({ storage: harness.fresh(), clients: [ehr], now, settings: { ...SITE_SETTINGS, publicBaseUrl: TRAIL_PUBLIC_BASE_URL } });
    const runtime = await loadRuntime(loadSettings({ object: SITE_SETTINGS }));
    await writeTrail({ append: (input) => Promise.resolve(void trail.push(input)), flush: () => Promise.resolve() }, [episode], runtime, 1, ENGINE_VERSION);
  });
  afterAll(async () => {
    await app?.close();
    await harness.cleanup();
  });

  it('an evaluation record and its feedback record: the same shape, the same decision, the same links', async () => {
    nowMs = evalAtMs;
    const context = { userId: 'Practitioner/dr-synthetic', patientId: episode.patientId, encounterId: episode.encounterId };
    const res = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(episode.patientId), context, prefetch: { observations: searchset(observations(episode, evalAtMs)) } });
    expect(res.status, res.text).toBe(200);
    const card: WireJson = res.json.cards[0];
    const served = (await app.store.get(card.uuid as string)) as AuditRecord;
    const made = trail.find((r) => r.kind === 'evaluation' && r.at === new Date(evalAtMs).toISOString());
    expect(made).toBeDefined();
    const body = made?.body as Record<string, unknown>;
    const want = served.body as Record<string, unknown>;
    expect(shapeOf(body)).toEqual(shapeOf(want));
    expect({ kind: made?.kind, at: made?.at, patientId: made?.patientId }).toEqual({ kind: served.kind, at: served.at, patientId: served.patientId });
    // Everything but the per-call identifiers (the request's, the token's, the suggestion's) and the console
    // link's signature (each service signs with its own key) is the same: the card kept whole included.
    const keptCard = (k: Record<string, unknown>): Record<string, unknown> => ({
      ...k,
      suggestions: (k['suggestions'] as Record<string, unknown>[] | undefined)?.map((s) => ({ ...s, uuid: null })),
      links: (k['links'] as { url: string }[] | undefined)?.map((l) => ({ ...l, url: l.url.slice(0, l.url.lastIndexOf('.')) })),
    });
    const perCall = (b: Record<string, unknown>): Record<string, unknown> => ({
      ...b,
      hookInstance: null,
      client: { ...(b['client'] as object), jti: null },
      cards: (b['cards'] as Record<string, unknown>[]).map((c) => ({ ...c, suggestionUuids: (c['suggestionUuids'] as unknown[]).length, card: keptCard(c['card'] as Record<string, unknown>) })),
    });
    expect(perCall(body)).toEqual(perCall(want));

    nowMs = feedbackAtMs;
    const reason = (card.overrideReasons as WireJson[]).find((r) => r.code === 'clinical-judgement');
    const fb = await call(app, ehr, 'POST', FEEDBACK_PATH, { feedback: [{ card: card.uuid, outcome: 'overridden', acceptedSuggestions: [], overrideReason: { reason }, outcomeTimestamp: new Date(feedbackAtMs).toISOString() }] });
    expect(fb.status, fb.text).toBe(200);
    const fbServed = (await app.store.listByPatient(episode.patientId)).find((r) => r.kind === 'feedback');
    const fbMade = trail.find((r) => r.kind === 'feedback');
    expect(fbServed).toBeDefined();
    expect(fbMade).toBeDefined();
    expect(shapeOf(fbMade?.body)).toEqual(shapeOf(fbServed?.body));
    expect({ ...(fbMade?.body as object), card: null, client: null }).toEqual({ ...(fbServed?.body as object), card: null, client: null });
    expect({ kind: fbMade?.kind, at: fbMade?.at, patientId: fbMade?.patientId, key: typeof fbMade?.idempotencyKey }).toEqual({ kind: fbServed?.kind, at: fbServed?.at, patientId: fbServed?.patientId, key: 'string' });
  });
});
