/**
 * PostgreSQL backend: for sites that run several service processes against one shared store.
 *
 * One chain across processes: every batch that appends takes a transaction-level advisory lock (a key
 * derived from the schema name) before reading the head, so appends from all processes are serialised;
 * `seq` is the primary key, so even a bypass of the lock could not fork the chain silently.
 * Durability: COMMIT with synchronous_commit on (forced per transaction when the server default is off).
 *
 * Schema: tables live in one schema, `public` unless the settings name another (`schema`, or
 * `?schema=` in the URL); it and the tables are created if absent. Tests use a fresh schema each.
 */
import pg from 'pg';
import { TnpError } from '../errors.js';
import { sha256Hex } from '../util/canonical-json.js';
import { appendsAfterJti, batchJtis, idsToLookUp, jtiKey, jtiOutcomes, keysToLookUp, planAppends, planJti, type Backend, type BatchRequest, type BatchResult, type PendingAppend } from './batch.js';
import type { Neighbourhood } from './chain.js';
import { AUDIT_KINDS, rowToRecord, type AuditRecord, type AuditRow } from './record.js';

const COLUMNS = 'seq, id, kind, at, patient_id, links_to, idempotency_key, body, prev_hash, hash';
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

type PgRow = Omit<AuditRow, 'seq'> & { seq: string | number };

function toRow(r: PgRow): AuditRow {
  return { ...r, seq: Number(r.seq) };
}

/** A signed 64-bit advisory-lock key, the same in every process for the same schema and purpose. */
function lockKey(purpose: string, schema: string): string {
  return BigInt.asIntN(64, BigInt(`0x${sha256Hex(`hs-troponin-cds:${purpose}:${schema}`).slice(0, 16)}`)).toString();
}

/** Splits `?schema=` off the URL (pg would pass it to the server) and names the location without credentials. */
function parseUrl(url: string, schemaSetting: string | undefined): { connectionString: string; schema: string; location: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the PostgreSQL URL of the audit store is not a valid URL', { expression: ['storage.url'] });
  }
  const fromUrl = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  const schema = schemaSetting ?? fromUrl ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', `the audit store schema name is not a plain SQL identifier: ${schema}`, { expression: ['storage.schema'] });
  const location = `postgres://${u.host}${u.pathname} (schema ${schema})`;
  return { connectionString: u.toString(), schema, location };
}

function schemaSql(s: string): string {
  const t = `"${s}".audit_records`;
  return `
CREATE TABLE IF NOT EXISTS ${t} (
  seq             bigint PRIMARY KEY CHECK (seq > 0),
  id              text NOT NULL UNIQUE,
  kind            text NOT NULL CHECK (kind IN (${AUDIT_KINDS.map((k) => `'${k}'`).join(', ')})),
  at              text NOT NULL,
  patient_id      text,
  links_to        text,
  idempotency_key text UNIQUE,
  body            text NOT NULL,
  prev_hash       text NOT NULL,
  hash            text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_patient ON ${t} (patient_id, seq);
CREATE TABLE IF NOT EXISTS "${s}".audit_jti (
  iss        text NOT NULL,
  jti        text NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (iss, jti)
);
CREATE INDEX IF NOT EXISTS audit_jti_expires ON "${s}".audit_jti (expires_at);
CREATE OR REPLACE FUNCTION "${s}".audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'audit_records is append-only';
END
$fn$;
DO $do$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = '${t}'::regclass AND tgname = 'audit_records_append_only') THEN
    CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON ${t}
      FOR EACH ROW EXECUTE FUNCTION "${s}".audit_records_append_only();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = '${t}'::regclass AND tgname = 'audit_records_no_truncate') THEN
    CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON ${t}
      FOR EACH STATEMENT EXECUTE FUNCTION "${s}".audit_records_append_only();
  END IF;
END
$do$;
`;
}

/** Connects, creates the schema and tables if absent, and checks the server's durability settings. */
export async function openPostgresBackend(url: string, schemaSetting: string | undefined, opts: { busyTimeoutMs: number; poolSize: number; connectTimeoutMs: number }): Promise<Backend> {
  const { connectionString, schema, location } = parseUrl(url, schemaSetting);
  const pool = new pg.Pool({
    connectionString,
    max: opts.poolSize,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    lock_timeout: opts.busyTimeoutMs,
    statement_timeout: opts.busyTimeoutMs + 3 * opts.connectTimeoutMs,
    idle_in_transaction_session_timeout: opts.busyTimeoutMs + 3 * opts.connectTimeoutMs,
    application_name: 'hs-troponin-cds audit',
  });
  // An idle connection that dies (server restart) emits 'error' on the pool; without a listener that
  // would crash the process. The next query gets a fresh connection or fails, and is reported then.
  pool.on('error', () => undefined);
  const warnings: string[] = [];
  let forceSyncCommit = false;
  try {
    const client = await pool.connect();
    let failed: Error | undefined;
    try {
      // Several processes may start at once while others already append: the DDL is serialised by an
      // advisory lock, skipped when the objects exist, and retried when PostgreSQL breaks a deadlock
      // between a migration and an append (40P01) rather than failing the start.
      for (let attempt = 1; ; attempt++) {
        try {
          await client.query('BEGIN');
          await client.query(`SELECT pg_advisory_xact_lock(${lockKey('migrate', schema)})`);
          const ready = await client.query(
            `SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = 'audit_records' AND t.tgname IN ('audit_records_append_only', 'audit_records_no_truncate')
             AND to_regclass(quote_ident($1) || '.audit_jti') IS NOT NULL`,
            [schema],
          );
          if (ready.rowCount !== 2) {
            const ns = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
            if (ns.rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`);
            await client.query(schemaSql(schema));
          }
          await client.query('COMMIT');
          break;
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          const code = (e as { code?: unknown }).code;
          if ((code !== '40P01' && code !== '40001') || attempt >= 5) throw e;
          await new Promise((r) => setTimeout(r, 20 * attempt));
        }
      }
      const sync = await client.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
      forceSyncCommit = sync.rows[0]?.synchronous_commit === 'off';
      const fsync = await client.query<{ fsync: string }>('SHOW fsync');
      if (fsync.rows[0]?.fsync === 'off') warnings.push('PostgreSQL runs with fsync = off: a crash of the database server can lose committed audit records.');
    } catch (e) {
      failed = e instanceof Error ? e : new Error(String(e));
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release(failed ?? false);
    }
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw e;
  }
  return new PostgresBackend(pool, schema, location, warnings, forceSyncCommit);
}

class PostgresBackend implements Backend {
  private readonly records: string;
  private readonly jtiTable: string;
  private readonly appendLock: string;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
    readonly location: string,
    readonly warnings: readonly string[],
    private readonly forceSyncCommit: boolean,
  ) {
    this.records = `"${schema}".audit_records`;
    this.jtiTable = `"${schema}".audit_jti`;
    this.appendLock = lockKey('append', schema);
  }

  async commitBatch(req: BatchRequest): Promise<BatchResult> {
    const client = await this.pool.connect();
    let failed: Error | undefined;
    try {
      // One round trip: begin, durability, and (only when appending) the chain's writer lock, held to COMMIT.
      const begin = ['BEGIN'];
      if (this.forceSyncCommit) begin.push('SET LOCAL synchronous_commit = on');
      if (req.appends.length > 0) begin.push(`SELECT pg_advisory_xact_lock(${this.appendLock})`);
      await client.query(begin.join('; '));
      if (req.prune) await client.query(`DELETE FROM ${this.jtiTable} WHERE expires_at < $1`, [req.jtiReusableBeforeMs]);
      // Replay-guard entries first: an append whose jti is refused is dropped before it gets a seq.
      const all = batchJtis(req);
      let accepted: boolean[] = [];
      if (all.length > 0) {
        const { candidates, firstIndex } = planJti(all);
        const res = await client.query<{ iss: string; jti: string }>(
          `INSERT INTO ${this.jtiTable} AS j (iss, jti, expires_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
           ON CONFLICT (iss, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE j.expires_at < $4
           RETURNING iss, jti`,
          [candidates.map((c) => c.iss), candidates.map((c) => c.jti), candidates.map((c) => c.expiresAtMs), req.jtiReusableBeforeMs],
        );
        accepted = jtiOutcomes(all, firstIndex, new Set(res.rows.map((r) => jtiKey(r.iss, r.jti))));
      }
      const { appends: kept, jtis, merge } = appendsAfterJti(req, accepted);
      const appends = merge(kept.length > 0 ? await this.appendRows(client, kept) : []);
      await client.query('COMMIT');
      return { appends, jtis };
    } catch (e) {
      failed = e instanceof Error ? e : new Error(String(e));
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      // A connection that failed mid-transaction is dropped rather than reused.
      client.release(failed ?? false);
    }
  }

  private async appendRows(client: pg.PoolClient, appends: readonly PendingAppend[]): Promise<BatchResult['appends']> {
    const headRes = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${this.records} ORDER BY seq DESC LIMIT 1`);
    const h = headRes.rows[0];
    const keys = keysToLookUp(appends);
    const byIdempotencyKey = new Map<string, AuditRecord>();
    if (keys.length > 0) {
      const res = await client.query<PgRow>(`SELECT ${COLUMNS} FROM ${this.records} WHERE idempotency_key = ANY($1::text[])`, [keys]);
      for (const r of res.rows) if (r.idempotency_key !== null) byIdempotencyKey.set(r.idempotency_key, rowToRecord(toRow(r)));
    }
    const idsRes = await client.query<{ id: string }>(`SELECT id FROM ${this.records} WHERE id = ANY($1::text[])`, [idsToLookUp(appends)]);
    const plan = planAppends(appends, {
      head: h === undefined ? undefined : { seq: Number(h.seq), hash: h.hash },
      byIdempotencyKey,
      existingIds: new Set(idsRes.rows.map((r) => r.id)),
    });
    if (plan.rows.length > 0) {
      const col = <K extends keyof AuditRow>(k: K): AuditRow[K][] => plan.rows.map((r) => r[k]);
      await client.query(
        `INSERT INTO ${this.records} (${COLUMNS})
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])`,
        [col('seq'), col('id'), col('kind'), col('at'), col('patient_id'), col('links_to'), col('idempotency_key'), col('body'), col('prev_hash'), col('hash')],
      );
    }
    return plan.outcomes;
  }

  async getRow(id: string): Promise<AuditRow | undefined> {
    const res = await this.pool.query<PgRow>(`SELECT ${COLUMNS} FROM ${this.records} WHERE id = $1`, [id]);
    const r = res.rows[0];
    return r === undefined ? undefined : toRow(r);
  }

  async jtiHeld(iss: string, jti: string, reusableBeforeMs: number): Promise<boolean> {
    const res = await this.pool.query(`SELECT 1 FROM ${this.jtiTable} WHERE iss = $1 AND jti = $2 AND expires_at >= $3`, [iss, jti, reusableBeforeMs]);
    return (res.rowCount ?? 0) > 0;
  }

  async rowsByPatient(patientId: string, limit: number): Promise<AuditRow[]> {
    const res = await this.pool.query<PgRow>(`SELECT ${COLUMNS} FROM ${this.records} WHERE patient_id = $1 ORDER BY seq DESC LIMIT $2`, [patientId, limit]);
    return res.rows.map(toRow);
  }

  async linkRows(seqs: readonly number[]): Promise<Neighbourhood> {
    const maxRes = await this.pool.query<{ m: string | null }>(`SELECT max(seq) AS m FROM ${this.records}`);
    const maxSeq = Number(maxRes.rows[0]?.m ?? 0);
    if (seqs.length === 0) return { maxSeq, rows: [] };
    const res = await this.pool.query<{ seq: string; prev_hash: string; hash: string }>(`SELECT seq, prev_hash, hash FROM ${this.records} WHERE seq = ANY($1::bigint[])`, [seqs]);
    return { maxSeq, rows: res.rows.map((r) => ({ seq: Number(r.seq), prev_hash: r.prev_hash, hash: r.hash })) };
  }

  async *chainPages(pageSize: number): AsyncGenerator<AuditRow[]> {
    const maxRes = await this.pool.query<{ m: string | null }>(`SELECT max(seq) AS m FROM ${this.records}`);
    const max = Number(maxRes.rows[0]?.m ?? 0);
    let after = 0;
    for (;;) {
      const res = await this.pool.query<PgRow>(`SELECT ${COLUMNS} FROM ${this.records} WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`, [after, max, pageSize]);
      if (res.rows.length === 0) return;
      const rows = res.rows.map(toRow);
      yield rows;
      const last = rows[rows.length - 1];
      if (last === undefined) return;
      after = last.seq;
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
