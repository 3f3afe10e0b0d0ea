/**
 * The audit store conformance suite: the same tests against SQLite and PostgreSQL (which is required
 * under CI=true and skipped with a loud warning otherwise; see tests/support/services.ts).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isTnpError } from '../../src/errors.js';
import { GENESIS_HASH, openAuditStore, recordHash, type AuditRecordInput, type AuditStore, type AuditStoreOptions, type AuditStoreSettings } from '../../src/audit/store.js';
import { postgresHarness, sqliteHarness, type AuditHarness, type Column } from '../support/audit-harness.js';
import { pgAvailable, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432 (database test, user postgres)', await pgAvailable(), 'pg_ctlcluster 15 main start');

const harnesses: AuditHarness[] = [sqliteHarness(), ...(runPg ? [postgresHarness()] : [])];

afterAll(async () => {
  for (const h of harnesses) await h.cleanup();
});

/** A clock the tests move by hand. */
function fakeClock(start = '2026-03-01T10:00:00.000Z'): { now: () => Date; advance: (ms: number) => void } {
  let t = Date.parse(start);
  return { now: () => new Date(t), advance: (ms) => (t += ms) };
}

function evaluation(patientId: string | null, body: unknown = { outcome: 'rule-out' }, at = '2026-03-01T10:00:00.000Z'): AuditRecordInput {
  return { kind: 'evaluation', at, patientId, body };
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const e: unknown = await p.then(
    () => new Error('expected a rejection'),
    (err: unknown) => err,
  );
  expect(isTnpError(e) ? e.code : e).toBe(code);
}

for (const h of harnesses) {
  describe(`audit store conformance: ${h.name}`, () => {
    const open: AuditStore[] = [];
    const openStore = async (settings: AuditStoreSettings, deps: { now?: () => Date; newId?: () => string } = {}, options: AuditStoreOptions = {}): Promise<AuditStore> => {
      const s = await openAuditStore(settings, { newId: deps.newId ?? randomUUID, now: deps.now ?? (() => new Date()) }, options);
      open.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });

    describe('append, get, list', () => {
      it('appends records, gets them back exactly, and lists a patient newest first', async () => {
        const settings = h.fresh();
        const store = await openStore(settings);
        const a = await store.append(evaluation('pat-1', { outcome: 'rule-out', values: [5, 4.5], unit: 'ng/L', nested: { z: 1, a: null } }));
        const b = await store.append({ kind: 'evaluation-failure', at: '2026-03-01T10:01:00Z', patientId: 'pat-2', body: { missing: ['baseline'] } });
        const c = await store.append({ kind: 'feedback', at: '2026-03-01T10:02:00.123Z', patientId: 'pat-1', linksTo: a.id, idempotencyKey: 'card-1|accepted', body: { outcome: 'accepted' } });
        const d = await store.append({ kind: 'lab-intake', at: '2026-03-01T10:03:00Z', patientId: null, body: { identifier: 'lab-42' } });

        expect([a.seq, b.seq, c.seq, d.seq]).toEqual([1, 2, 3, 4]);
        expect(a.prevHash).toBe(GENESIS_HASH);
        expect(b.prevHash).toBe(a.hash);
        expect(d.prevHash).toBe(c.hash);
        expect(a.hash).toBe(recordHash(a));
        expect(a).not.toHaveProperty('linksTo');
        expect(c).toMatchObject({ linksTo: a.id, idempotencyKey: 'card-1|accepted', kind: 'feedback' });

        for (const r of [a, b, c, d]) expect(await store.get(r.id)).toEqual(r);
        expect(await store.get('no-such-id')).toBeNull();

        expect((await store.listByPatient('pat-1')).map((r) => r.id)).toEqual([c.id, a.id]);
        expect((await store.listByPatient('pat-1', { limit: 1 })).map((r) => r.id)).toEqual([c.id]);
        expect(await store.listByPatient('nobody')).toEqual([]);
      });

      it('refuses malformed input with TNP_ERR_AUDIT_RECORD_INVALID and appends nothing', async () => {
        const store = await openStore(h.fresh());
        const bad: unknown[] = [
          { ...evaluation('p'), kind: 'other' },
          { ...evaluation('p'), at: '2026-03-01 10:00' },
          { ...evaluation('p'), at: '2026-03-01T10:00:00+01:00' },
          { ...evaluation('p'), patientId: '' },
          { ...evaluation('p'), body: undefined },
          evaluation('p', { when: new Date() }),
          evaluation('p', { n: Number.NaN }),
          evaluation('p', { f: () => 1 }),
          evaluation('p', { big: 1n }),
          { ...evaluation('p'), linksTo: '' },
          { ...evaluation('p'), patientId: 'a\u0000b' },
          { ...evaluation('p'), idempotencyKey: 'lone \uD800 surrogate' },
        ];
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        bad.push(evaluation('p', cyclic));
        for (const input of bad) await expectCode(store.append(input as AuditRecordInput), 'TNP_ERR_AUDIT_RECORD_INVALID');
        expect(await store.verify()).toEqual({ ok: true, records: 0, head: GENESIS_HASH });
      });

      it('stores bodies with NUL, unpaired surrogates, unicode and odd numbers exactly', async () => {
        const store = await openStore(h.fresh());
        const body = { nul: 'a\u0000b', lone: '\uD800x', emoji: '🫀 troponin µg/L', n: [-0, 1e-7, 1.5e300, 0.1], deep: [[[{ k: [] }]], {}] };
        const r = await store.append(evaluation('p', body));
        expect(await store.get(r.id)).toEqual(r);
        expect(r.body).toEqual(JSON.parse(JSON.stringify(body)));
        expect(await store.verify()).toMatchObject({ ok: true, records: 1 });
      });

      it('checks linksTo: an unknown record is refused, one earlier in the same batch is accepted', async () => {
        const ids = ['rec-a', 'rec-b', 'rec-c'];
        const store = await openStore(h.fresh(), { newId: () => ids.shift() ?? randomUUID() });
        const [first, second, third] = await Promise.allSettled([
          store.append(evaluation('p')),
          store.append({ ...evaluation('p'), kind: 'feedback', linksTo: 'rec-a' }),
          store.append({ ...evaluation('p'), kind: 'feedback', linksTo: 'rec-zzz' }),
        ]);
        expect(first.status).toBe('fulfilled');
        expect(second).toMatchObject({ status: 'fulfilled', value: { linksTo: 'rec-a', seq: 2 } });
        expect(third).toMatchObject({ status: 'rejected', reason: { code: 'TNP_ERR_AUDIT_LINK_UNKNOWN', status: 400 } });
        expect(await store.verify()).toMatchObject({ ok: true, records: 2 });
      });

      it('refuses an id that deps.newId gives twice, without harming the rest of the batch', async () => {
        const store = await openStore(h.fresh(), { newId: () => 'same-id' });
        const results = await Promise.allSettled([store.append(evaluation('p')), store.append(evaluation('p'))]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
        await expectCode(store.append(evaluation('p')), 'TNP_ERR_AUDIT_RECORD_INVALID');
        expect(await store.verify()).toMatchObject({ ok: true, records: 1 });
      });
    });

    describe('the chain and verify', () => {
      it('verifies an empty store and a growing chain, with head = the last hash', async () => {
        const store = await openStore(h.fresh());
        expect(await store.verify()).toEqual({ ok: true, records: 0, head: GENESIS_HASH });
        let last = '';
        for (let i = 0; i < 5; i++) last = (await store.append(evaluation(`p${i}`, { i }))).hash;
        expect(await store.verify()).toEqual({ ok: true, records: 5, head: last });
      });

      it('keeps the chain across a reopen (restart)', async () => {
        const settings = h.fresh();
        const s1 = await openStore(settings);
        const a = await s1.append(evaluation('p'));
        await s1.close();
        const s2 = await openStore(settings);
        const b = await s2.append(evaluation('p'));
        expect(b).toMatchObject({ seq: 2, prevHash: a.hash });
        expect(await s2.verify()).toEqual({ ok: true, records: 2, head: b.hash });
      });

      it('is append-only: a plain UPDATE is refused by the database', async () => {
        const settings = h.fresh();
        const store = await openStore(settings);
        await store.append(evaluation('p'));
        expect(await h.updateWithTriggers(settings)).toMatch(/append-only/);
      });

      const tamperCases: { name: string; seq: number; problem: RegExp; tamper: () => Parameters<AuditHarness['tamper']>[1] }[] = [
        { name: 'an edited body', seq: 3, problem: /hash does not match/, tamper: () => ({ type: 'set', seq: 3, column: 'body', value: '{"outcome":"rule-in"}' }) },
        { name: 'a body that is no longer JSON', seq: 4, problem: /not JSON/, tamper: () => ({ type: 'set', seq: 4, column: 'body', value: '{oops' }) },
        { name: 'an edited patient', seq: 2, problem: /hash does not match/, tamper: () => ({ type: 'set', seq: 2, column: 'patient_id', value: 'someone-else' }) },
        { name: 'a deleted record (seq gap)', seq: 4, problem: /seq gap: expected seq 3, found 4/, tamper: () => ({ type: 'delete', seq: 3 }) },
        { name: 'a changed prevHash', seq: 3, problem: /prevHash does not match/, tamper: () => ({ type: 'set', seq: 3, column: 'prev_hash', value: 'f'.repeat(64) }) },
        { name: 'an edited hash', seq: 3, problem: /hash does not match/, tamper: () => ({ type: 'set', seq: 3, column: 'hash', value: 'e'.repeat(64) }) },
        { name: 'reordered records', seq: 2, problem: /prevHash does not match/, tamper: () => ({ type: 'swap', a: 2, b: 4 }) },
        { name: 'a changed first prevHash', seq: 1, problem: /genesis/, tamper: () => ({ type: 'set', seq: 1, column: 'prev_hash', value: '1'.repeat(64) }) },
      ];
      for (const tc of tamperCases) {
        it(`detects ${tc.name} and names the first bad record`, async () => {
          const settings = h.fresh();
          const store = await openStore(settings);
          const recs = [];
          for (let i = 1; i <= 5; i++) recs.push(await store.append(evaluation(`p${i}`, { i })));
          await h.tamper(settings, tc.tamper());
          const v = await store.verify();
          expect(v.ok).toBe(false);
          if (v.ok) return;
          expect(v.firstBad.seq).toBe(tc.seq);
          expect(v.firstBad.problem).toMatch(tc.problem);
          // After a swap, seq 2 holds what was record 4.
          expect(v.firstBad.id).toBe(tc.name === 'reordered records' ? recs[3]!.id : recs[tc.seq - 1]!.id);
          expect(v.records).toBe(tc.name.includes('deleted') ? 4 : 5);
        });
      }

      it('a stored body that is not JSON makes get() fail with TNP_ERR_AUDIT_CORRUPT, not a crash', async () => {
        const settings = h.fresh();
        const store = await openStore(settings);
        const r = await store.append(evaluation('p'));
        await h.tamper(settings, { type: 'set', seq: 1, column: 'body', value: 'not json' });
        await expectCode(store.get(r.id), 'TNP_ERR_AUDIT_CORRUPT');
      });

      it('truncation from the end leaves a valid chain that only a remembered head reveals', async () => {
        const settings = h.fresh();
        const store = await openStore(settings);
        for (let i = 0; i < 4; i++) await store.append(evaluation('p', { i }));
        const remembered = await store.verify();
        await h.tamper(settings, { type: 'delete', seq: 4 });
        const now = await store.verify();
        expect(now.ok).toBe(true);
        expect(now.records).toBe(3);
        expect(now.head).not.toBe(remembered.head);
        const anchored = await store.verify({ anchor: { seq: remembered.records, hash: remembered.head } });
        expect(anchored).toMatchObject({ ok: false, records: 3, firstBad: { id: '', seq: 4, problem: expect.stringMatching(/removed from the end/) } });
      });

      it('an anchor (a head remembered elsewhere) passes on an intact, grown chain and catches a rewrite', async () => {
        const settings = h.fresh();
        const store = await openStore(settings);
        const recs = [];
        for (let i = 0; i < 3; i++) recs.push(await store.append(evaluation('p', { i })));
        const remembered = await store.verify();
        await store.append(evaluation('p', { i: 3 }));
        expect(await store.verify({ anchor: { seq: remembered.records, hash: remembered.head } })).toMatchObject({ ok: true, records: 4 });
        // A forger who rewrites record 3 and recomputes its hash, and the next record's link and hash, keeps
        // the chain self-consistent; only the anchor shows it.
        const forged3 = { ...recs[2]!, body: { i: 'forged' } };
        const hash3 = recordHash(forged3);
        const rec4 = (await store.listByPatient('p', { limit: 1 }))[0]!;
        const hash4 = recordHash({ ...rec4, prevHash: hash3 });
        await h.tamper(settings, { type: 'set', seq: 3, column: 'body', value: '{"i":"forged"}' });
        await h.tamper(settings, { type: 'set', seq: 3, column: 'hash', value: hash3 });
        await h.tamper(settings, { type: 'set', seq: 4, column: 'prev_hash', value: hash3 });
        await h.tamper(settings, { type: 'set', seq: 4, column: 'hash', value: hash4 });
        expect(await store.verify()).toMatchObject({ ok: true, records: 4 });
        expect(await store.verify({ anchor: { seq: remembered.records, hash: remembered.head } })).toMatchObject({ ok: false, firstBad: { seq: 3, id: recs[2]!.id } });
        await expectCode(store.verify({ anchor: { seq: 0, hash: 'x' } }), 'TNP_ERR_AUDIT_RECORD_INVALID');
      });
    });

    describe('idempotency keys', () => {
      it('a repeat returns the first record and appends nothing, whatever its content', async () => {
        const settings = h.fresh();
        const store = await openStore(settings);
        const card = await store.append(evaluation('p'));
        const fb = { kind: 'feedback' as const, at: '2026-03-01T11:00:00Z', patientId: 'p', linksTo: card.id, idempotencyKey: 'card-uuid-1|overridden', body: { outcome: 'overridden' } };
        const first = await store.append(fb);
        const again = await store.append({ ...fb, at: '2026-03-01T11:05:00Z', body: { outcome: 'overridden', retry: true } });
        expect(again).toEqual(first);
        const [x, y] = await Promise.all([store.append({ ...fb, idempotencyKey: 'k2' }), store.append({ ...fb, idempotencyKey: 'k2', body: 2 })]);
        expect(y).toEqual(x);
        const reopened = await openStore(settings);
        expect(await reopened.append(fb)).toEqual(first);
        expect(await store.verify()).toMatchObject({ ok: true, records: 3 });
        expect(store.stats().deduplicated).toBe(2);
      });

      it('two store instances appending the same key concurrently produce one record', async () => {
        const settings = h.fresh();
        const [s1, s2] = [await openStore(settings), await openStore(settings)];
        const input = { ...evaluation('p'), idempotencyKey: 'obs-identifier-7' };
        const results = await Promise.all([s1.append(input), s2.append(input), s1.append(input), s2.append(input)]);
        expect(new Set(results.map((r) => r.id)).size).toBe(1);
        expect(await s1.verify()).toMatchObject({ ok: true, records: 1 });
      });
    });

    describe('JWT replay guard', () => {
      const exp = (clock: { now: () => Date }, s: number): Date => new Date(clock.now().getTime() + s * 1000);

      it('is true the first time, false on every repeat, per issuer', async () => {
        const clock = fakeClock();
        const store = await openStore(h.fresh(), { now: clock.now });
        expect(await store.rememberJti('https://ehr.example', 'jti-1', exp(clock, 300))).toBe(true);
        expect(await store.rememberJti('https://ehr.example', 'jti-1', exp(clock, 300))).toBe(false);
        expect(await store.rememberJti('https://other.example', 'jti-1', exp(clock, 300))).toBe(true);
        const burst = await Promise.all(Array.from({ length: 10 }, () => store.rememberJti('https://ehr.example', 'jti-2', exp(clock, 300))));
        expect(burst.filter(Boolean)).toHaveLength(1);
        expect(burst[0]).toBe(true);
      });

      it('remembers across a restart and across instances sharing the store', async () => {
        const clock = fakeClock();
        const settings = h.fresh();
        const s1 = await openStore(settings, { now: clock.now });
        expect(await s1.rememberJti('iss', 'before-restart', exp(clock, 300))).toBe(true);
        await s1.close();
        const s2 = await openStore(settings, { now: clock.now });
        const s3 = await openStore(settings, { now: clock.now });
        expect(await s2.rememberJti('iss', 'before-restart', exp(clock, 300))).toBe(false);
        const both = await Promise.all([s2.rememberJti('iss', 'race', exp(clock, 300)), s3.rememberJti('iss', 'race', exp(clock, 300))]);
        expect(both.filter(Boolean)).toHaveLength(1);
      });

      it('keeps an entry until expiry plus the grace period, then lets the pair be new and prunes it', async () => {
        const clock = fakeClock();
        const settings = h.fresh();
        const store = await openStore(settings, { now: clock.now }, { jtiGraceSeconds: 60 });
        expect(await store.rememberJti('iss', 'j', exp(clock, 100))).toBe(true);
        for (let i = 0; i < 5; i++) await store.rememberJti('iss', `other-${i}`, exp(clock, 10));
        clock.advance(150_000); // past expiry, within grace: still refused
        expect(await store.rememberJti('iss', 'j', exp(clock, -50))).toBe(false);
        clock.advance(20_000); // expiry + grace passed
        expect(await store.rememberJti('iss', 'j', exp(clock, 100))).toBe(true);
        expect(await store.rememberJti('iss', 'j', exp(clock, 100))).toBe(false);
        expect(await h.jtiRows(settings)).toBe(1); // the five short-lived ones were pruned
      });

      it('rides the same transactions as the appends', async () => {
        const store = await openStore(h.fresh());
        const future = new Date(Date.now() + 60_000);
        const ops = await Promise.all([store.append(evaluation('p')), store.rememberJti('i', 'a', future), store.append(evaluation('p')), store.rememberJti('i', 'a', future)]);
        expect(ops.slice(1).map((x) => (typeof x === 'boolean' ? x : 'rec'))).toEqual([true, 'rec', false]);
        expect(store.stats().commits).toBe(1);
      });

      it('appendWithJti: record and jti in one commit; a taken jti appends nothing and keeps the chain whole', async () => {
        const clock = fakeClock();
        const settings = h.fresh();
        const s1 = await openStore(settings, { now: clock.now });
        const s2 = await openStore(settings, { now: clock.now });
        expect(await s1.isJtiHeld('iss', 'one')).toBe(false);
        const rec = await s1.appendWithJti(evaluation('p'), 'iss', 'one', exp(clock, 300));
        expect(rec.seq).toBe(1);
        expect(s1.stats().commits).toBe(1);
        expect(await s1.isJtiHeld('iss', 'one')).toBe(true);
        expect(await s2.isJtiHeld('iss', 'one')).toBe(true);
        // Taken by this or another instance: refused, nothing appended.
        await expectCode(s2.appendWithJti(evaluation('p'), 'iss', 'one', exp(clock, 300)), 'TNP_ERR_UNAUTHORIZED');
        expect(await s2.rememberJti('iss', 'one', exp(clock, 300))).toBe(false);
        // In one batch: the same jti twice, with another append between them: only the first and the plain one get a seq.
        const out = await Promise.allSettled([s1.appendWithJti(evaluation('p'), 'iss', 'two', exp(clock, 300)), s1.append(evaluation('p')), s1.appendWithJti(evaluation('p'), 'iss', 'two', exp(clock, 300))]);
        expect(out.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
        expect(out.slice(0, 2).map((o) => (o.status === 'fulfilled' ? o.value.seq : 0))).toEqual([2, 3]);
        // Two instances racing for one jti: exactly one record.
        const race = await Promise.allSettled([s1.appendWithJti(evaluation('q'), 'iss', 'three', exp(clock, 300)), s2.appendWithJti(evaluation('q'), 'iss', 'three', exp(clock, 300))]);
        expect(race.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        expect(await s1.listByPatient('q')).toHaveLength(1);
        expect(await s1.verify()).toMatchObject({ ok: true, records: 4 });
        await expectCode(s1.appendWithJti(evaluation('p'), 'iss', '', exp(clock, 300)), 'TNP_ERR_AUDIT_RECORD_INVALID');
      });

      it('refuses malformed arguments', async () => {
        const store = await openStore(h.fresh());
        await expectCode(store.rememberJti('', 'j', new Date()), 'TNP_ERR_AUDIT_RECORD_INVALID');
        await expectCode(store.rememberJti('i', '', new Date()), 'TNP_ERR_AUDIT_RECORD_INVALID');
        await expectCode(store.rememberJti('i', 'j', new Date(Number.NaN)), 'TNP_ERR_AUDIT_RECORD_INVALID');
        await expectCode(store.rememberJti('i', 'j\u0000', new Date()), 'TNP_ERR_AUDIT_RECORD_INVALID');
      });
    });

    describe('group commit and concurrency', () => {
      it('200 concurrent appends all resolve, in few transactions, in call order, with a valid chain', async () => {
        const store = await openStore(h.fresh());
        const records = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(evaluation(`p${i % 10}`, { i }))));
        expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
        const stats = store.stats();
        expect(stats.appended).toBe(200);
        expect(stats.commits).toBeLessThanOrEqual(5);
        expect(stats.largestBatch).toBeGreaterThanOrEqual(40);
        expect(await store.verify()).toEqual({ ok: true, records: 200, head: records[199]!.hash });
      });

      it('splits a large burst into batches of at most maxBatch', async () => {
        const store = await openStore(h.fresh(), {}, { maxBatch: 16 });
        await Promise.all(Array.from({ length: 100 }, (_, i) => store.append(evaluation('p', { i }))));
        expect(store.stats().largestBatch).toBeLessThanOrEqual(16);
        expect(store.stats().commits).toBeGreaterThanOrEqual(7);
        expect(await store.verify()).toMatchObject({ ok: true, records: 100 });
      });

      it('one-by-one appends commit one transaction each (the baseline group commit beats)', async () => {
        const store = await openStore(h.fresh());
        for (let i = 0; i < 10; i++) await store.append(evaluation('p', { i }));
        expect(store.stats().commits).toBe(10);
      });

      it('two store instances on the same database appending concurrently keep one valid chain', async () => {
        const settings = h.fresh();
        const [s1, s2] = await Promise.all([openStore(settings), openStore(settings)]);
        const all = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? s1 : s2).append(evaluation(`p${i % 3}`, { i, by: i % 2 }))));
        // A second wave while the first instance is still busy.
        const wave2 = await Promise.all([...Array.from({ length: 50 }, () => s2.append(evaluation('w'))), ...Array.from({ length: 50 }, () => s1.append(evaluation('w')))]);
        const seqs = [...all, ...wave2].map((r) => r.seq).sort((a, b) => a - b);
        expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
        expect(await s1.verify()).toMatchObject({ ok: true, records: 300 });
        expect(await s2.get(all[0]!.id)).toEqual(all[0]);
      });
    });

    describe('failure: a store that cannot write', () => {
      it('rejects appends with TNP_ERR_AUDIT_UNAVAILABLE (503) while another writer holds the lock, then recovers', async () => {
        const settings = h.fresh();
        const store = await openStore(settings, {}, { busyTimeoutMs: 200 });
        await store.append(evaluation('p'));
        const release = await h.holdWriteLock(settings);
        try {
          const results = await Promise.allSettled([store.append(evaluation('p')), store.append(evaluation('p')), store.rememberJti('i', 'j', new Date(Date.now() + 60_000))]);
          for (const r of results) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'TNP_ERR_AUDIT_UNAVAILABLE', status: 503 } });
        } finally {
          await release();
        }
        expect(store.stats().failedCommits).toBeGreaterThanOrEqual(1);
        const ok = await store.append(evaluation('p'));
        expect(ok.seq).toBe(2);
        expect(await store.rememberJti('i', 'j', new Date(Date.now() + 60_000))).toBe(true);
        expect(await store.verify()).toMatchObject({ ok: true, records: 2 });
      });

      it('rejects after close, and close commits what was queued first', async () => {
        const store = await openAuditStore(h.fresh(), { newId: randomUUID, now: () => new Date() });
        const pending = store.append(evaluation('p'));
        await store.close();
        expect((await pending).seq).toBe(1);
        await expectCode(store.append(evaluation('p')), 'TNP_ERR_AUDIT_UNAVAILABLE');
        await expectCode(store.verify(), 'TNP_ERR_AUDIT_UNAVAILABLE');
      });
    });

    describe('property: any sequence of appends verifies; any single-field edit is detected', () => {
      const inputArb = fc.record({
        kind: fc.constantFrom('evaluation', 'evaluation-failure', 'feedback', 'lab-intake'),
        at: fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
        patientId: fc.option(fc.constantFrom('p1', 'p2', 'p3'), { nil: null }),
        idempotencyKey: fc.option(fc.constantFrom('k1', 'k2', 'k3', 'k4'), { nil: undefined }),
        body: fc.jsonValue(),
      });
      const editArb = fc.record({
        index: fc.nat(),
        column: fc.constantFrom<Column>('seq', 'id', 'kind', 'at', 'patient_id', 'links_to', 'idempotency_key', 'body', 'prev_hash', 'hash'),
      });

      it('holds', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(inputArb, { minLength: 1, maxLength: 12 }), fc.boolean(), editArb, async (inputs, concurrent, edit) => {
            const settings = h.fresh();
            const store = await openStore(settings);
            const appended = concurrent
              ? await Promise.all(inputs.map((i) => store.append(i)))
              : await inputs.reduce<Promise<Awaited<ReturnType<AuditStore['append']>>[]>>(async (acc, i) => [...(await acc), await store.append(i)], Promise.resolve([]));
            const distinct = [...new Map(appended.map((r) => [r.id, r])).values()].sort((a, b) => a.seq - b.seq);
            const keyed = inputs.filter((i) => i.idempotencyKey !== undefined);
            expect(distinct.length).toBe(inputs.length - keyed.length + new Set(keyed.map((i) => i.idempotencyKey)).size);
            const v = await store.verify();
            expect(v).toEqual({ ok: true, records: distinct.length, head: distinct.at(-1)!.hash });
            for (const r of distinct) expect(await store.get(r.id)).toEqual(r);

            const target = distinct[edit.index % distinct.length]!;
            const kinds = ['evaluation', 'evaluation-failure', 'feedback', 'lab-intake'].filter((k) => k !== target.kind);
            const value: Record<Column, string | number | null> = {
              seq: distinct.length + 1000,
              id: `${target.id}-forged`,
              kind: kinds[0]!,
              at: target.at === '2031-01-01T00:00:00.000Z' ? '2031-01-02T00:00:00.000Z' : '2031-01-01T00:00:00.000Z',
              patient_id: target.patientId === null ? 'forged' : null,
              links_to: 'forged-link',
              idempotency_key: `forged-key-${target.seq}`,
              body: JSON.stringify({ forged: target.seq, was: target.body ?? null }),
              prev_hash: 'a'.repeat(64) === target.prevHash ? 'b'.repeat(64) : 'a'.repeat(64),
              hash: 'c'.repeat(64),
            };
            await h.tamper(settings, { type: 'set', seq: target.seq, column: edit.column, value: value[edit.column] });
            const after = await store.verify();
            expect(after.ok).toBe(false);
            if (!after.ok && edit.column !== 'seq') expect(after.firstBad.seq).toBe(target.seq);
            await store.close();
          }),
          { numRuns: h.name === 'sqlite' ? 40 : 15 },
        );
      });
    });
  });
}

describe('opening a store that cannot be opened', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tnp-audit-open-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('SQLite: a path under a regular file rejects with TNP_ERR_AUDIT_UNAVAILABLE', async () => {
    writeFileSync(join(dir, 'a-file'), 'x');
    await expectCode(openAuditStore({ kind: 'sqlite', path: join(dir, 'a-file', 'audit.sqlite') }, { newId: randomUUID, now: () => new Date() }), 'TNP_ERR_AUDIT_UNAVAILABLE');
  });

  it('SQLite: creates the directory (mkdir -p) on first open', async () => {
    mkdirSync(join(dir, 'x'), { recursive: true });
    const s = await openAuditStore({ kind: 'sqlite', path: join(dir, 'x', 'y', 'z', 'audit.sqlite') }, { newId: randomUUID, now: () => new Date() });
    expect(s.location).toBe(join(dir, 'x', 'y', 'z', 'audit.sqlite'));
    await s.close();
  });

  it('PostgreSQL: an unreachable server (127.0.0.1, closed port) rejects with TNP_ERR_AUDIT_UNAVAILABLE', async () => {
    await expectCode(
      openAuditStore({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/test' }, { newId: randomUUID, now: () => new Date() }, { connectTimeoutMs: 1000 }),
      'TNP_ERR_AUDIT_UNAVAILABLE',
    );
  });

  it('PostgreSQL: a schema name that is not a plain identifier is refused', async () => {
    await expectCode(openAuditStore({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/test?schema=a;drop' }, { newId: randomUUID, now: () => new Date() }), 'TNP_ERR_AUDIT_UNAVAILABLE');
  });
});
