/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * The worklist's timers, alerts and stream over real HTTP, with a real webhook receiver on loopback and
 * an injected clock (no test waits on real time), on SQLite and PostgreSQL: an overdue retest alerts
 * once (a timer, not an arrival); a rule-in alerts once, signed; a failing receiver gets retries with
 * back-off and then a dead letter admins read; a receiver that is down never blocks intake; the SSE
 * stream carries the outcome changes.
 */
import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harnessFor, startApp, ADMIN_TOKEN, type RunningApp } from '../support/cds-app.js';
import { pgAvailable, requireService } from '../support/services.js';
import { ecg, http, LAB_TOKEN, manualClock, timi, troponin, webhookReceiver, WORKLIST_TOKEN, type Receiver } from '../support/lab.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const SECRET = 'webhook-secret-0123456789';
const T0 = '2026-03-06T10:00:00Z';

function suite(kind: 'sqlite' | 'postgres'): void {
  describe(`alerts and timers on ${kind}`, () => {
    const harness = harnessFor(kind);
    const clock = manualClock('2026-03-06T10:05:00Z');
    let app: RunningApp;
    let receiver: Receiver;
    let failing: Receiver;
    beforeAll(async () => {
      receiver = await webhookReceiver();
      failing = await webhookReceiver();
      failing.status = 500;
      app = await startApp({
        storage: harness.fresh(),
        now: clock.now,
        settings: {
          labClients: [{ name: 'main-lab', token: LAB_TOKEN }],
          worklistTokens: [WORKLIST_TOKEN],
          notifications: [
            { url: receiver.url, secret: SECRET, outcomes: ['consistent-with-mi', 'indeterminate', 'retest-overdue'] },
            { url: failing.url, secret: SECRET, outcomes: ['consistent-with-mi'] },
          ],
        },
      });
    });
    afterAll(async () => {
      await app.close();
      await receiver.close();
      await failing.close();
      await harness.cleanup();
    });
    const post = (body: unknown) => http(app.url, 'POST', '/fhir/Observation', LAB_TOKEN, body);
    const episodeOf = async (nhs: string): Promise<any> => (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.find((e: any) => e.patient.value === nhs);

    it('an overdue retest alerts once, from the timer; the rule-in alerts once, signed; the episode closes on its final outcome', async () => {
      const nhs = '9000000201';
      for (const r of [ecg(nhs, T0), timi(nhs, T0), troponin({ nhs, at: T0, value: 10, id: 'al-base' })]) expect((await post(r)).status).toBe(201);
      await app.app.lab.runOnce();
      expect(receiver.received).toHaveLength(0);
      expect((await episodeOf(nhs)).outcome).toBe('awaiting-retest');

      clock.set('2026-03-06T13:01:00Z');
      expect((await episodeOf(nhs)).retestOverdue).toBe(true);
      const first = await app.app.lab.runOnce();
      expect(first.timers).toBe(1);
      expect(receiver.received.map((r) => JSON.parse(r.body).event)).toEqual(['retest-overdue']);
      await app.app.lab.runOnce();
      expect(receiver.received).toHaveLength(1);

      const got = receiver.received[0]!;
      expect(got.headers['x-hs-troponin-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(got.body).digest('hex')}`);
      const ep = await episodeOf(nhs);
      const detail = await http(app.url, 'GET', `/episodes/${ep.id}`, WORKLIST_TOKEN);
      expect(detail.json.evaluations[0]).toMatchObject({ trigger: 'retest-overdue' });

      clock.set('2026-03-06T13:10:00Z');
      expect((await post(troponin({ nhs, at: '2026-03-06T13:00:00Z', value: 30, id: 'al-retest' }))).status).toBe(201);
      expect((await post(troponin({ nhs, at: '2026-03-06T13:00:00Z', value: 30, id: 'al-retest' }))).status).toBe(200);
      await app.app.lab.runOnce();
      await app.app.lab.runOnce();
      const ruleIn = receiver.received.filter((r) => JSON.parse(r.body).event === 'outcome-changed');
      expect(ruleIn).toHaveLength(1);
      expect(JSON.parse(ruleIn[0]!.body)).toMatchObject({ episode: { outcome: 'consistent-with-mi', previousOutcome: 'awaiting-retest', patient: { value: nhs }, status: 'closed' } });
      expect(await episodeOf(nhs)).toMatchObject({ outcome: 'consistent-with-mi', status: 'closed', closedReason: 'final-outcome' });
    });

    it('a failing receiver gets retries with back-off, then a dead letter admins read; intake never waits for it', async () => {
      const deadBefore = (await http(app.url, 'GET', '/notifications/dead-letters', ADMIN_TOKEN)).json.deadLetters.length;
      const attemptsBefore = failing.received.length;
      expect(deadBefore).toBe(0);
      // The rule-in above also went to the failing receiver: it is retried on each run after its back-off.
      for (let i = 0; i < 10; i++) {
        clock.advance(60 * 60_000);
        await app.app.lab.runOnce();
      }
      expect(failing.received.length - attemptsBefore).toBeGreaterThanOrEqual(6);
      const dead = await http(app.url, 'GET', '/notifications/dead-letters', ADMIN_TOKEN);
      expect(dead.json.deadLetters).toHaveLength(1);
      expect(dead.json.deadLetters[0]).toMatchObject({ url: failing.url, event: 'outcome-changed', lastError: 'HTTP 500', attempts: 8 });
      expect((await http(app.url, 'GET', '/notifications/dead-letters', WORKLIST_TOKEN)).status).toBe(401);

      await receiver.close();
      const nhs = '9000000202';
      clock.set('2026-03-07T10:05:00Z');
      const posts = await Promise.all([ecg(nhs, '2026-03-07T10:00:00Z'), timi(nhs, '2026-03-07T10:00:00Z'), troponin({ nhs, at: '2026-03-07T10:00:00Z', value: 40, id: 'down-1' })].map(post));
      expect(posts.map((p) => p.status)).toEqual([201, 201, 201]);
      await app.app.lab.runOnce();
      expect((await episodeOf(nhs)).outcome).toBe('awaiting-retest');
    });

    it('the stream sends each worklist change as an SSE event; Last-Event-ID resumes', async () => {
      const events: string[] = [];
      const req = request(`${app.url}/episodes/stream`, { headers: { authorization: `Bearer ${WORKLIST_TOKEN}` } });
      const opened = new Promise<void>((resolve) => {
        req.on('response', (res) => {
          expect(res.statusCode).toBe(200);
          expect(res.headers['content-type']).toContain('text/event-stream');
          res.on('data', (d: Buffer) => events.push(d.toString('utf8')));
          resolve();
        });
      });
      req.end();
      await opened;
      const nhs = '9000000203';
      clock.set('2026-03-08T10:05:00Z');
      await post(troponin({ nhs, at: '2026-03-08T10:00:00Z', value: 50, id: 'sse-1' }));
      for (let i = 0; i < 500 && !events.join('').includes(nhs); i++) {
        await app.app.lab.runOnce();
        await new Promise((r) => setTimeout(r, 20));
      }
      const text = events.join('');
      expect(text).toMatch(/id: \d+\nevent: episode\ndata: \{.*"9000000203"/);
      req.destroy();
      const id = Number(/id: (\d+)\nevent: episode\ndata: [^\n]*9000000203/.exec(text)?.[1]);
      const changes = await app.store.lab.changesAfter(id - 1, 10);
      expect(changes[0]?.seq).toBe(id);
      expect((await http(app.url, 'GET', '/episodes/stream', LAB_TOKEN)).status).toBe(401);
    });

    it('an open episode closes when its window passes (a timer), and a result after that starts a new one', async () => {
      const nhs = '9000000202';
      // Opened by the second test (its latest result drawn 2026-03-07T10:00Z, window 24 h); the runs since
      // 2026-03-08T10:00Z have closed it.
      clock.set('2026-03-08T12:00:00Z');
      await app.app.lab.runOnce();
      const closed = await episodeOf(nhs);
      expect(closed).toMatchObject({ status: 'closed', closedReason: 'window-passed', outcome: 'awaiting-retest' });
      const detail = await http(app.url, 'GET', `/episodes/${closed.id}`, WORKLIST_TOKEN);
      expect(['window-passed', 'retest-overdue']).toContain(detail.json.evaluations[0].trigger);
      expect((await post(troponin({ nhs, at: '2026-03-08T11:55:00Z', value: 9, id: 'later-1' }))).status).toBe(201);
      const all = (await http(app.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.filter((e: any) => e.patient.value === nhs);
      expect(all).toHaveLength(2);
    });
  });
}

suite('sqlite');
describe.runIf(runPg)('PostgreSQL', () => suite('postgres'));
