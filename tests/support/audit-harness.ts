/**
 * One harness per audit store implementation, so the conformance and crash suites run the same tests
 * against both: fresh isolated databases (a temp file for SQLite, a unique schema for PostgreSQL, all
 * removed by `cleanup`), and hand-made tampering that goes around the store (and its append-only triggers),
 * as someone with direct access to the database would.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { AuditStoreSettings } from '../../src/audit/store.js';
import { PG_URL } from './services.js';

export type Column = 'seq' | 'id' | 'kind' | 'at' | 'patient_id' | 'links_to' | 'idempotency_key' | 'body' | 'prev_hash' | 'hash';

export type Tamper =
  | { readonly type: 'set'; readonly seq: number; readonly column: Column; readonly value: string | number | null }
  | { readonly type: 'delete'; readonly seq: number }
  | { readonly type: 'swap'; readonly a: number; readonly b: number };

export interface AuditHarness {
  readonly name: 'sqlite' | 'postgres';
  /** A new, empty store location (nothing created yet: the store creates it). */
  fresh(): AuditStoreSettings;
  /** Alters the stored records directly, bypassing the store and its append-only triggers. */
  tamper(settings: AuditStoreSettings, t: Tamper): Promise<void>;
  /** Tries a plain UPDATE with the triggers in place; resolves with the database's error message. */
  updateWithTriggers(settings: AuditStoreSettings): Promise<string>;
  /** Takes the database's write lock from another connection; resolves with a function that releases it. */
  holdWriteLock(settings: AuditStoreSettings): Promise<() => Promise<void>>;
  /** Number of replay-guard rows (to see pruning). */
  jtiRows(settings: AuditStoreSettings): Promise<number>;
  /** Removes every location handed out. */
  cleanup(): Promise<void>;
}

function sqlFor(t: Tamper, p: (i: number) => string): { sql: string; params: (string | number | null)[] }[] {
  switch (t.type) {
    case 'set':
      return [{ sql: `UPDATE audit_records SET ${t.column} = ${p(1)} WHERE seq = ${p(2)}`, params: [t.value, t.seq] }];
    case 'delete':
      return [{ sql: `DELETE FROM audit_records WHERE seq = ${p(1)}`, params: [t.seq] }];
    case 'swap': {
      const parking = 1_000_000_000;
      return [
        { sql: `UPDATE audit_records SET seq = ${p(1)} WHERE seq = ${p(2)}`, params: [parking, t.a] },
        { sql: `UPDATE audit_records SET seq = ${p(1)} WHERE seq = ${p(2)}`, params: [t.a, t.b] },
        { sql: `UPDATE audit_records SET seq = ${p(1)} WHERE seq = ${p(2)}`, params: [t.b, parking] },
      ];
    }
  }
}

export function sqliteHarness(): AuditHarness {
  // Made on first use: a suite filtered out entirely never runs its cleanup hooks.
  let root: string | undefined;
  let n = 0;
  const pathOf = (s: AuditStoreSettings): string => {
    if (s.kind !== 'sqlite') throw new Error('not a sqlite location');
    return s.path;
  };
  return {
    name: 'sqlite',
    fresh() {
      root ??= mkdtempSync(join(tmpdir(), 'tnp-audit-'));
      return { kind: 'sqlite', path: join(root, `store-${++n}`, 'nested', 'audit.sqlite') };
    },
    tamper(settings, t) {
      const db = new Database(pathOf(settings), { timeout: 5000 });
      try {
        db.exec('DROP TRIGGER IF EXISTS audit_records_no_update; DROP TRIGGER IF EXISTS audit_records_no_delete');
        db.transaction(() => {
          for (const q of sqlFor(t, () => '?')) db.prepare(q.sql).run(...q.params);
        })();
      } finally {
        db.close();
      }
      return Promise.resolve();
    },
    updateWithTriggers(settings) {
      const db = new Database(pathOf(settings), { timeout: 5000 });
      try {
        db.prepare("UPDATE audit_records SET body = '{}' WHERE seq = 1").run();
        return Promise.resolve('no error');
      } catch (e) {
        return Promise.resolve((e as Error).message);
      } finally {
        db.close();
      }
    },
    holdWriteLock(settings) {
      const db = new Database(pathOf(settings), { timeout: 5000 });
      db.exec('BEGIN IMMEDIATE');
      return Promise.resolve(() => {
        db.exec('ROLLBACK');
        db.close();
        return Promise.resolve();
      });
    },
    jtiRows(settings) {
      const db = new Database(pathOf(settings), { timeout: 5000 });
      try {
        return Promise.resolve((db.prepare('SELECT count(*) AS n FROM audit_jti').get() as { n: number }).n);
      } finally {
        db.close();
      }
    },
    cleanup() {
      if (root !== undefined) rmSync(root, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

/** Unique per harness and test run, so parallel runs and leftovers never collide. */
function schemaPrefix(): string {
  return `tnp_audit_${process.pid}_${randomBytes(3).toString('hex')}`;
}

export function postgresHarness(): AuditHarness {
  const prefix = schemaPrefix();
  const created: string[] = [];
  let n = 0;
  const schemaOf = (s: AuditStoreSettings): string => {
    if (s.kind !== 'postgres' || s.schema === undefined) throw new Error('not a harness postgres location');
    return s.schema;
  };
  const withClient = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  return {
    name: 'postgres',
    fresh() {
      const schema = `${prefix}_${++n}`;
      created.push(schema);
      return { kind: 'postgres', url: PG_URL, schema };
    },
    tamper: (settings, t) =>
      withClient(async (c) => {
        const table = `"${schemaOf(settings)}".audit_records`;
        await c.query('BEGIN');
        await c.query(`ALTER TABLE ${table} DISABLE TRIGGER USER`);
        for (const q of sqlFor(t, (i) => `$${i}`)) await c.query(q.sql.replace('audit_records', table), q.params);
        await c.query(`ALTER TABLE ${table} ENABLE TRIGGER USER`);
        await c.query('COMMIT');
      }),
    updateWithTriggers: (settings) =>
      withClient(async (c) => {
        try {
          await c.query(`UPDATE "${schemaOf(settings)}".audit_records SET body = '{}' WHERE seq = 1`);
          return 'no error';
        } catch (e) {
          return (e as Error).message;
        }
      }),
    async holdWriteLock(settings) {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query('BEGIN');
      await c.query(`LOCK TABLE "${schemaOf(settings)}".audit_records IN ACCESS EXCLUSIVE MODE`);
      return async () => {
        await c.query('ROLLBACK');
        await c.end();
      };
    },
    jtiRows: (settings) =>
      withClient(async (c) => {
        const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${schemaOf(settings)}".audit_jti`);
        return Number(r.rows[0]?.n ?? 0);
      }),
    cleanup: () =>
      withClient(async (c) => {
        // Also sweeps schemas of this run that a test created outside `fresh` bookkeeping.
        const r = await c.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [`${prefix}%`]);
        for (const s of new Set([...created, ...r.rows.map((x) => x.nspname)])) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
      }),
  };
}
