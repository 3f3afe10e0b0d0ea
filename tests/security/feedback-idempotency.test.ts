/**
 * A repeated feedback with other content must not be dropped as a repeat. The idempotency key was the
 * card and the outcome only, so a second override of the same card with another reason or comment
 * returned the first record and the clinician's words were lost. The key now carries a digest of the
 * feedback item as recorded: an exact repeat (an EHR retry) is still one record; anything else that
 * differs is a new record, linked to the card's. The time counts as the instant it names, not its
 * spelling: "14:00:00Z", "14:00:00.000Z" and "15:00:00+01:00" were three records, now one.
 *
 * Against the real app over real sockets, on both stores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, call, FEEDBACK_PATH, harnessFor, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp, type WireJson } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { fixtureCase } from '../support/fixture-case.js';
import { pgAvailable, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const f = fixtureCase('below-url-rise-above-url-consistent');

for (const kind of ['sqlite', 'postgres'] as const) {
  describe.runIf(kind === 'sqlite' || runPg)(`feedback idempotency covers the content (${kind})`, () => {
    const harness = harnessFor(kind);
    const now = (): Date => new Date(f.now);
    let ehr: CdsTestClient;
    let app: RunningApp;

    beforeAll(async () => {
      ehr = await createCdsClient({ iss: 'https://ehr.hospital.example', alg: 'ES384', now });
      app = await startApp({ storage: harness.fresh(), clients: [ehr], now });
    });
    afterAll(async () => {
      await app?.close();
      await harness.cleanup();
    });

    it('an exact repeat is one record; another comment, reason or time is a new record linked to the card', async () => {
      const res = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), prefetch: { observations: searchset(f.observations) } });
      expect(res.status, res.text).toBe(200);
      const card = res.json.cards[0];
      const reasons = card.overrideReasons as WireJson[];
      expect(reasons.length).toBeGreaterThan(1);
      const item = (reason: WireJson, userComment: string, outcomeTimestamp = '2026-03-06T15:25:00Z'): WireJson => ({
        card: card.uuid,
        outcome: 'overridden',
        overrideReason: { reason, userComment },
        outcomeTimestamp,
      });
      const send = async (x: WireJson): Promise<WireJson> => {
        const r = await call(app, ehr, 'POST', FEEDBACK_PATH, { feedback: [x] });
        expect(r.status, r.text).toBe(200);
        return r.json.feedback[0];
      };

      const first = await send(item(reasons[0], 'patient declined admission'));
      const retry = await send(item(reasons[0], 'patient declined admission'));
      expect(retry).toMatchObject({ auditId: first.auditId, repeat: true });
      // The same item with its keys in another order is the same item.
      const reordered = await send({ outcomeTimestamp: '2026-03-06T15:25:00Z', overrideReason: { userComment: 'patient declined admission', reason: reasons[0] }, outcome: 'overridden', card: card.uuid });
      expect(reordered.auditId).toBe(first.auditId);

      const otherComment = await send(item(reasons[0], 'patient declined admission; GP informed'));
      const otherReason = await send(item(reasons[1], 'patient declined admission'));
      const otherTime = await send(item(reasons[0], 'patient declined admission', '2026-03-06T16:40:00Z'));
      const ids = [first.auditId, otherComment.auditId, otherReason.auditId, otherTime.auditId];
      expect(new Set(ids).size).toBe(4);
      for (const x of [otherComment, otherReason, otherTime]) expect(x.repeat).toBe(false);

      const comment = await admin(app, `/audit/${otherComment.auditId}`);
      expect(comment.json).toMatchObject({ kind: 'feedback', linksTo: card.uuid, body: { outcome: 'overridden', overrideReason: { userComment: 'patient declined admission; GP informed' } } });
      const records = (await admin(app, `/audit?patient=${f.patientId}`)).json.records as WireJson[];
      const feedback = records.filter((r) => r.kind === 'feedback' && r.linksTo === card.uuid);
      expect(feedback.map((r) => r.id).sort()).toEqual([...ids].sort());
    });

    it('the same instant written another way (".000", another offset) is a repeat; another instant, even below the millisecond, is not', async () => {
      const res = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody(f.patientId), prefetch: { observations: searchset(f.observations) } });
      expect(res.status, res.text).toBe(200);
      const card = res.json.cards[0];
      const send = async (outcomeTimestamp: string): Promise<WireJson> => {
        const r = await call(app, ehr, 'POST', FEEDBACK_PATH, { feedback: [{ card: card.uuid, outcome: 'overridden', outcomeTimestamp }] });
        expect(r.status, r.text).toBe(200);
        return r.json.feedback[0];
      };
      const first = await send('2026-12-01T14:00:00Z');
      expect(first.repeat).toBe(false);
      for (const same of ['2026-12-01T14:00:00.000Z', '2026-12-01T15:00:00+01:00', '2026-12-01T08:30:00.000-05:30', '2026-12-01T14:00:00Z']) {
        expect(await send(same), same).toMatchObject({ auditId: first.auditId, repeat: true });
      }
      const subMs = await send('2026-12-01T14:00:00.0001Z');
      const laterMs = await send('2026-12-01T14:00:00.001Z');
      const otherHour = await send('2026-12-01T14:00:00+01:00');
      expect(new Set([first.auditId, subMs.auditId, laterMs.auditId, otherHour.auditId]).size).toBe(4);
      // Each record keeps the time as the EHR wrote it.
      expect((await admin(app, `/audit/${first.auditId}`)).json).toMatchObject({ body: { outcomeTimestamp: '2026-12-01T14:00:00Z' } });
      expect((await admin(app, `/audit/${subMs.auditId}`)).json).toMatchObject({ body: { outcomeTimestamp: '2026-12-01T14:00:00.0001Z' } });
    });
  });
}
