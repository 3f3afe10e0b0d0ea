/**
 * The fast path of `npm run bench:report` writes the trail the slow path writes: decisions of repeated
 * cases reused with their times shifted (bench/trail/decisions.ts), entries serialised once for both
 * stores and loaded through `appendBulk` a buffer at a time. For the same seeded episodes, every stored
 * row (every column, so the same hash chain) equals the row written by the engine-every-time,
 * append-one-by-one path, on SQLite and PostgreSQL at once and when worker threads make the records
 * (bench/trail/parallel.ts), and the store answers GET /audit/verify ok.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { caseDecisions } from '../../bench/trail/decisions.js';
import { randomEpisodes } from '../../bench/trail/episodes.js';
import { writeTrailParallel } from '../../bench/trail/parallel.js';
import { bulkWriter, SITE_SETTINGS, storeWriter, writeTrail } from '../../bench/trail/records.js';
import { openAuditStore, type AuditStore, type AuditStoreSettings } from '../../src/audit/store.js';
import { loadRuntime } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';
import { ADMIN_TOKEN, startApp } from '../support/cds-app.js';
import { pgAvailable, PG_URL, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432 (database test, user postgres)', await pgAvailable(), 'pg_ctlcluster 15 main start');
const dir = mkdtempSync(join(tmpdir(), 'tnp-trail-bulk-'));
const schema = `tnp_trail_bulk_${process.pid}`;

afterAll(async () => {
  if (!runPg) return;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await c.end();
});

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

describe('the synthetic trail, fast path', () => {
  it('writes exactly the rows of the engine-every-time path, on both stores, and the chain verifies', { timeout: 240_000 }, async () => {
    const rt = await loadRuntime(loadSettings({ object: SITE_SETTINGS }));
    const seed = 7;
    // 400 episodes over 20 days: many cases repeat (about 900 records).
    const episodes = randomEpisodes(seed, 400, Date.parse('2025-03-01T00:00:00Z'), 20);

    const reference: AuditStoreSettings = { kind: 'sqlite', path: join(dir, 'reference.sqlite') };
    const w = storeWriter(64);
    const refStore = await openAuditStore(reference, { newId: w.newId, now: () => new Date() });
    const written = await writeTrail(w.bind(refStore), episodes, rt, seed);
    await refStore.close();

    const targets: AuditStoreSettings[] = [{ kind: 'sqlite', path: join(dir, 'bulk.sqlite') }, ...(runPg ? [{ kind: 'postgres' as const, url: PG_URL, schema }] : [])];
    const stores: AuditStore[] = [];
    for (const t of targets) stores.push(await openAuditStore(t, { newId: randomUUID, now: () => new Date() }));
    // Every reused decision is checked against the engine (checkEvery 1); small buffers and chunks.
    const decisions = caseDecisions(rt, 1);
    expect(await writeTrail(bulkWriter(stores, 97, 31), episodes, rt, seed, undefined, decisions)).toBe(written);
    for (const s of stores) await s.close();
    expect(decisions.stats.reused).toBeGreaterThan(100);
    expect(decisions.stats.checked).toBe(decisions.stats.decided + decisions.stats.reused);

    // The same trail made by two worker threads, in slices of 37 events.
    const parallel: AuditStoreSettings = { kind: 'sqlite', path: join(dir, 'parallel.sqlite') };
    const pStore = await openAuditStore(parallel, { newId: randomUUID, now: () => new Date() });
    const made = await writeTrailParallel(bulkWriter([pStore], 101, 29), { seed, episodes: 400, startMs: Date.parse('2025-03-01T00:00:00Z'), days: 20, engineVersion: '0.1.0', checkEvery: 3 }, 2, 37);
    await pStore.close();
    expect(made.records).toBe(written);
    expect(made.checked).toBeGreaterThan(100);

    const want = await rowsOf(reference);
    expect(want).toHaveLength(written);
    for (const t of [...targets, parallel]) expect(await rowsOf(t)).toEqual(want);

    for (const storage of targets) {
      const app = await startApp({ storage });
      try {
        const res = await fetch(`${app.url}/audit/verify`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ ok: true, records: written });
      } finally {
        await app.close();
      }
    }
  });
});
