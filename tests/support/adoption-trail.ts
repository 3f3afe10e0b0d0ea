/**
 * Audit trails for the adoption report's tests: episodes written through the real audit store (SQLite in
 * a temp dir, or a fresh PostgreSQL schema) by the synthetic department's writer (bench/trail), the
 * roll-up opened on the same store, and everything closed and dropped at the end.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openAuditStore, type AuditStore, type AuditStoreSettings } from '../../src/audit/store.js';
import { AdoptionReports, openAdoptionBackend } from '../../src/adoption/service.js';
import type { PathwayRuntime } from '../../src/engine/catalogue.js';
import { loadRuntime } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';
import type { EpisodeSpec } from '../../bench/trail/episodes.js';
import { SITE_SETTINGS, storeWriter, writeTrail, type TrailWriter } from '../../bench/trail/records.js';
import { PG_URL } from './services.js';

let schemas = 0;

export interface Trail {
  readonly storage: AuditStoreSettings;
  readonly store: AuditStore;
  readonly writer: TrailWriter;
  readonly runtime: PathwayRuntime;
  /** Appends episodes' records (ids from `seed`). Returns how many records. */
  write(episodes: readonly EpisodeSpec[], seed: number): Promise<number>;
  /** A report service on this store (writable roll-up unless `readOnly`). */
  reports(opts?: { readOnly?: boolean; lateRetestMinutes?: number; batchSize?: number }): Promise<AdoptionReports>;
  close(): Promise<void>;
}

export async function openTrail(kind: 'sqlite' | 'postgres'): Promise<Trail> {
  const schema = `tnp_adoption_${process.pid}_${Math.random().toString(36).slice(2, 8)}_${++schemas}`;
  const storage: AuditStoreSettings = kind === 'sqlite' ? { kind: 'sqlite', path: join(mkdtempSync(join(tmpdir(), 'tnp-adoption-')), 'audit.sqlite') } : { kind: 'postgres', url: PG_URL, schema };
  const w = storeWriter(256);
  const store = await openAuditStore(storage, { newId: w.newId, now: () => new Date() });
  const writer = w.bind(store);
  const runtime = await loadRuntime(loadSettings({ object: SITE_SETTINGS }));
  const opened: AdoptionReports[] = [];
  return {
    storage,
    store,
    writer,
    runtime,
    write: (episodes, seed) => writeTrail(writer, episodes, runtime, seed),
    async reports(opts = {}) {
      const backend = await openAdoptionBackend(storage, { readOnly: opts.readOnly ?? false });
      const r = new AdoptionReports(backend, { now: () => new Date('2026-06-01T00:00:00Z'), lateRetestMinutes: opts.lateRetestMinutes ?? 30, ...(opts.batchSize === undefined ? {} : { batchSize: opts.batchSize }) });
      opened.push(r);
      return r;
    },
    async close() {
      for (const r of opened) await r.close().catch(() => undefined);
      await store.close();
      if (kind === 'postgres') {
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      }
    },
  };
}
