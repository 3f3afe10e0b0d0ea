/**
 * `appendBulk` writes exactly what `append` writes: the same inputs with the same ids, in the same order,
 * give the same rows (every column, so the same hash chain) and the same outcome per entry (record,
 * idempotent repeat, refusal) on SQLite and on PostgreSQL, whatever the chunk and batch sizes and whatever
 * the chain already holds.
 */
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { isTnpError } from '../../src/errors.js';
import { openAuditStore, type AppendOutcome, type AuditRecordInput, type AuditStore, type AuditStoreSettings } from '../../src/audit/store.js';
import { postgresHarness, sqliteHarness, type AuditHarness } from '../support/audit-harness.js';
import { pgAvailable, PG_URL, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432 (database test, user postgres)', await pgAvailable(), 'pg_ctlcluster 15 main start');
const harnesses: AuditHarness[] = [sqliteHarness(), ...(runPg ? [postgresHarness()] : [])];

afterAll(async () => {
  for (const h of harnesses) await h.cleanup();
});

/** Every stored row in seq order, read around the store. */
async function rowsOf(s: AuditStoreSettings): Promise<Record<string, unknown>[]> {
  if (s.kind === 'sqlite') {
    const db = new Database(s.path, { readonly: true });
    try {
      return db.prepare('SELECT * FROM audit_records ORDER BY seq').all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    const res = await c.query<Record<string, unknown>>(`SELECT * FROM "${s.schema ?? 'public'}".audit_records ORDER BY seq`);
    return res.rows.map((r) => ({ ...r, seq: Number(r['seq']) }));
  } finally {
    await c.end();
  }
}

/** What an outcome says, comparable across the two paths. */
const said = (o: AppendOutcome): unknown => (o.ok ? { record: o.record } : { error: o.error.code });
const settled = (r: PromiseSettledResult<unknown>): unknown => (r.status === 'fulfilled' ? { record: r.value } : { error: isTnpError(r.reason) ? r.reason.code : String(r.reason) });

interface Step {
  readonly kind: 'evaluation' | 'feedback' | 'lab-intake';
  readonly patient: number | null;
  /** Feedback: links to the entry this many places back (0: to a record that does not exist). */
  readonly back: number;
  /** An idempotency key from a small set, so repeats happen. */
  readonly key: number | null;
  /** Reuse the id of the entry this many places back (0: a fresh id). */
  readonly sameId: number;
  readonly body: unknown;
}

const step: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom('evaluation' as const, 'feedback' as const, 'lab-intake' as const),
  patient: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }),
  back: fc.integer({ min: 0, max: 5 }),
  key: fc.option(fc.integer({ min: 1, max: 6 }), { nil: null, freq: 2 }),
  sameId: fc.oneof({ weight: 12, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
  body: fc.jsonValue({ maxDepth: 3 }),
});

function entriesOf(steps: readonly Step[], at0: number): { id: string; input: AuditRecordInput }[] {
  const ids: string[] = [];
  return steps.map((s, i) => {
    const id = s.sameId > 0 && i - s.sameId >= 0 ? (ids[i - s.sameId] as string) : randomUUID();
    ids.push(id);
    const linksTo = s.kind === 'feedback' ? (s.back > 0 && i - s.back >= 0 ? ids[i - s.back] : randomUUID()) : undefined;
    const input: AuditRecordInput = {
      kind: s.kind,
      at: new Date(at0 + i * 60_000).toISOString(),
      patientId: s.patient === null ? null : `pt-${s.patient}`,
      ...(linksTo === undefined ? {} : { linksTo }),
      ...(s.key === null ? {} : { idempotencyKey: `key-${s.key}` }),
      body: { step: i, value: s.body },
    };
    return { id, input };
  });
}

for (const h of harnesses) {
  describe(`appendBulk: ${h.name}`, () => {
    it('the same rows, hash chain and outcomes as append, for any inputs, chunk and batch sizes, after any head', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 0, maxLength: 6 }), fc.array(step, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 50 }), async (before, steps, chunkSize, maxBatch) => {
          const head = entriesOf(before, Date.parse('2026-01-01T00:00:00Z'));
          const entries = entriesOf(steps, Date.parse('2026-02-01T00:00:00Z'));
          const stores: AuditStore[] = [];
          try {
            const byAppend = h.fresh();
            const byBulk = h.fresh();
            let next = '';
            const a = await openAuditStore(byAppend, { newId: () => next, now: () => new Date() }, { maxBatch });
            const b = await openAuditStore(byBulk, { newId: randomUUID, now: () => new Date() });
            stores.push(a, b);
            // The same head on both: appended one by one on one store, in bulk on the other.
            for (const e of head) {
              next = e.id;
              await a.append(e.input).catch(() => undefined);
            }
            await b.appendBulk(head, { chunkSize: 2 });
            // All appends in flight together (group commit, batches of maxBatch), ids in call order.
            const pending = entries.map((e) => {
              next = e.id;
              return a.append(e.input);
            });
            const appended = (await Promise.allSettled(pending)).map(settled);
            const bulked = (await b.appendBulk(entries, { chunkSize })).map(said);
            expect(bulked).toEqual(appended);
            expect(await rowsOf(byBulk)).toEqual(await rowsOf(byAppend));
            const [va, vb] = [await a.verify(), await b.verify()];
            expect(vb).toEqual(va);
            expect(vb.ok).toBe(true);
          } finally {
            for (const s of stores) await s.close();
          }
        }),
        { numRuns: h.name === 'sqlite' ? 40 : 15 },
      );
    });

    it('refuses the whole call before writing anything when an input is malformed', async () => {
      const s = h.fresh();
      const store = await openAuditStore(s, { newId: randomUUID, now: () => new Date() });
      try {
        const good = { id: randomUUID(), input: { kind: 'evaluation' as const, at: '2026-01-01T00:00:00Z', patientId: 'p', body: { ok: true } } };
        const bad = { id: randomUUID(), input: { kind: 'evaluation' as const, at: 'yesterday', patientId: 'p', body: {} } };
        const e: unknown = await store.appendBulk([good, bad]).then(
          () => null,
          (err: unknown) => err,
        );
        expect(isTnpError(e) ? e.code : e).toBe('TNP_ERR_AUDIT_RECORD_INVALID');
        expect(await rowsOf(s)).toEqual([]);
        const out = await store.appendBulk([good]);
        expect(out[0]?.ok).toBe(true);
        expect(store.stats().appended).toBe(1);
      } finally {
        await store.close();
      }
    });
  });
}
