/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * What an episode's evaluation record pins, over real HTTP: every digest in `inputResources` and
 * `results` is the sha256 of the canonical JSON of the version as stored (GET .../_history/{v}), for the
 * versions of that event and of earlier ones, through a new version (amended) and a later result. The
 * intake computes each canonical text and digest once per resource object; this keeps that from ever
 * pinning anything else (a stale or shared text would name the wrong bytes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../../src/util/canonical-json.js';
import { ADMIN_TOKEN, harnessFor, startApp, type RunningApp } from '../support/cds-app.js';
import { ecg, http, LAB_TOKEN, manualClock, timi, troponin, WORKLIST_TOKEN } from '../support/lab.js';

const T0 = '2026-03-06T10:00:00Z';

describe('lab evaluation records pin the stored versions', () => {
  const harness = harnessFor('sqlite');
  const clock = manualClock('2026-03-06T10:05:00Z');
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ storage: harness.fresh(), now: clock.now, settings: { labClients: [{ name: 'main-lab', token: LAB_TOKEN }], worklistTokens: [WORKLIST_TOKEN] } });
  });
  afterAll(async () => {
    await app.close();
    await harness.cleanup();
  });

  it('every inputResources and results digest is the sha256 of the stored version it names', async () => {
    const nhs = '9000000042';
    const post = (body: unknown) => http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, body);
    for (const r of [ecg(nhs, T0), timi(nhs, T0)]) expect((await post(r)).status).toBe(201);
    expect((await post(troponin({ nhs, at: T0, value: 10, id: 'base-42' }))).status).toBe(201);
    clock.advance(60_000);
    expect((await post(troponin({ nhs, at: T0, value: 11, id: 'base-42', status: 'amended' }))).status).toBe(201);
    clock.set('2026-03-06T13:10:00Z');
    expect((await post(troponin({ nhs, at: '2026-03-06T13:00:00Z', value: 40, id: 'retest-42' }))).status).toBe(201);

    const list = await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN);
    const row = list.json.episodes.find((e: any) => e.patient.value === nhs);
    const detail = await http(app.url, 'GET', `/episodes/${row.id}`, WORKLIST_TOKEN);
    expect(detail.json.evaluations.length).toBe(5);
    const stored = async (ref: string, version: string): Promise<string> => {
      const res = await http(app.url, 'GET', `/fhir/${ref}/_history/${version}`, LAB_TOKEN);
      expect(res.status).toBe(200);
      return sha256Hex(canonicalJson(res.json));
    };
    let checked = 0;
    for (const ev of detail.json.evaluations) {
      const rec = await http(app.url, 'GET', `/audit/${ev.auditId}`, ADMIN_TOKEN);
      expect(rec.status).toBe(200);
      for (const i of rec.json.body.inputResources) {
        expect(i.sha256, `${i.ref}/_history/${i.versionId}`).toBe(await stored(i.ref, i.versionId));
        checked++;
      }
      for (const r of rec.json.body.results) {
        expect(r.sha256, `Observation/${r.id}/_history/${r.version}`).toBe(await stored(`Observation/${r.id}`, String(r.version)));
        checked++;
      }
    }
    // 5 evaluations: 1+2+3+(3 results, the amended one with 2 versions: 4)+5 inputs, and one result each.
    expect(checked).toBe(1 + 2 + 3 + 4 + 5 + 5);
  });
});
