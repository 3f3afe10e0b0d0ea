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
import { appendsAfterJti, batchJtis, idsToLookUp, jtiKey, jtiOutcomes, keysToLookUp, planAppends, planEventAppends, planJti, type Backend, type BatchRequest, type BatchResult, type EventOutcome, type PendingAppend, type PendingEvent } from './batch.js';
import type { Neighbourhood } from './chain.js';
import { PostgresLab, postgresLabReadySql, postgresLabSchema } from './lab/postgres.js';
import { lockKey, parseUrl, schemaSql } from './postgres-schema.js';
import { rowToRecord, type AuditRecord, type AuditRow } from './record.js';

const COLUMNS = 'seq, id, kind, at, patient_id, links_to, idempotency_key, body, prev_hash, hash';

type PgRow = Omit<AuditRow, 'seq'> & { seq: string | number };

function toRow(r: PgRow): AuditRow {
  return { ...r, seq: Number(r.seq) };
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
  // A connection that dies outside a query (an administrator's pg_terminate_backend, an idle-in-transaction
  // timeout, a restart, a dropped network) emits 'error' on its client: on the pool while the client is
  // idle, on the client alone while it is checked out (the pool listens to idle clients only). Nothing
  // listening crashes the process, so every client gets a listener for its whole life. The loss is told
  // to the store (its health probes afresh and names it); the query in flight, if any, fails on its own
  // and its caller answers 503; the pool drops the dead client and the next use gets a fresh one.
  const lost: { handler: (e: unknown) => void } = { handler: () => undefined };
  pool.on('error', (e) => lost.handler(e));
  pool.on('connect', (client) => client.on('error', (e) => lost.handler(e)));
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
             AND to_regclass(quote_ident($1) || '.audit_jti') IS NOT NULL AND to_regclass(quote_ident($1) || '.audit_health') IS NOT NULL
             AND ${postgresLabReadySql()}`,
            [schema],
          );
          if (ready.rowCount !== 2) {
            const ns = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
            if (ns.rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`);
            await client.query(schemaSql(schema));
            await client.query(postgresLabSchema(schema));
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
  return new PostgresBackend(pool, schema, location, warnings, forceSyncCommit, lost);
}

class PostgresBackend implements Backend {
  readonly lab: PostgresLab;
  private readonly records: string;
  private readonly jtiTable: string;
  private readonly healthTable: string;
  private readonly appendLock: string;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    readonly location: string,
    readonly warnings: readonly string[],
    private readonly forceSyncCommit: boolean,
    private readonly lost: { handler: (e: unknown) => void },
  ) {
    this.records = `"${schema}".audit_records`;
    this.jtiTable = `"${schema}".audit_jti`;
    this.healthTable = `"${schema}".audit_health`;
    this.appendLock = lockKey('append', schema);
    this.lab = new PostgresLab(pool, schema);
  }

  onConnectionError(handler: (e: unknown) => void): void {
    this.lost.handler = handler;
  }

  /** Runs `work` in one transaction on one connection (durable COMMIT); a connection that failed is dropped. */
  private async inTransaction<T>(begin: readonly string[], work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let failed: Error | undefined;
    try {
      // One round trip: begin, durability, and whatever the caller must hold to COMMIT.
      await client.query(['BEGIN', ...(this.forceSyncCommit ? ['SET LOCAL synchronous_commit = on'] : []), ...begin].join('; '));
      const out = await work(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      failed = e instanceof Error ? e : new Error(String(e));
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      // A connection that failed mid-transaction is dropped rather than reused.
      client.release(failed ?? false);
    }
  }

  commitBatch(req: BatchRequest): Promise<BatchResult> {
    // Only when appending (events append too): the chain's writer lock, held to COMMIT.
    const lock = req.appends.length > 0 || req.events.length > 0 ? [`SELECT pg_advisory_xact_lock(${this.appendLock})`] : [];
    return this.inTransaction(lock, async (client) => {
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
      const events: EventOutcome[] = [];
      for (const e of req.events) events.push(await this.runEvent(client, e));
      return { appends, jtis, events };
    });
  }

  /** One event under a savepoint: its preconditions, its rows, then its records on the chain. */
  private async runEvent(client: pg.PoolClient, pending: PendingEvent): Promise<EventOutcome> {
    await client.query('SAVEPOINT lab_event');
    let conflict = await this.lab.applyEvent(client, pending.event);
    if (conflict === null) {
      const headRes = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${this.records} ORDER BY seq DESC LIMIT 1`);
      const h = headRes.rows[0];
      const idsRes = await client.query<{ id: string }>(`SELECT id FROM ${this.records} WHERE id = ANY($1::text[])`, [idsToLookUp(pending.appends)]);
      try {
        const plan = planEventAppends(pending.appends, h === undefined ? undefined : { seq: Number(h.seq), hash: h.hash }, new Set(idsRes.rows.map((r) => r.id)));
        if (plan.rows.length > 0) await this.insertRows(client, plan.rows);
        await client.query('RELEASE SAVEPOINT lab_event');
        return { ok: true, records: plan.records };
      } catch (e) {
        if (!(e instanceof TnpError)) throw e;
        conflict = e.message;
      }
    }
    await client.query('ROLLBACK TO SAVEPOINT lab_event');
    await client.query('RELEASE SAVEPOINT lab_event');
    return { ok: false, conflict };
  }

  async probeWrite(atMs: number): Promise<void> {
    await this.inTransaction([], async (client) => {
      // What a batch needs besides a durable COMMIT: the privileges (a user that may only read commits a
      // heartbeat nowhere else), then the tables' write locks, waited for (lock_timeout) as an INSERT would.
      const missing = await client.query<{ missing: string }>(
        `SELECT p.priv || ' on ' || p.tbl AS missing
         FROM (VALUES ('INSERT', 'audit_records'), ('INSERT', 'audit_jti'), ('UPDATE', 'audit_jti'), ('DELETE', 'audit_jti'), ('INSERT', 'audit_health'), ('UPDATE', 'audit_health'),
           ('UPDATE', 'lab_patients'), ('INSERT', 'lab_result_versions'), ('UPDATE', 'lab_results'), ('UPDATE', 'lab_episodes'), ('UPDATE', 'lab_alerts'), ('DELETE', 'lab_changes')) AS p (priv, tbl)
         WHERE NOT has_table_privilege(quote_ident($1) || '.' || p.tbl, p.priv)`,
        [this.schema],
      );
      if (missing.rows.length > 0) throw new Error(`the database user lacks ${missing.rows.map((r) => r.missing).join(', ')}`);
      await client.query(`LOCK TABLE ${this.records}, ${this.jtiTable} IN ROW EXCLUSIVE MODE`);
      await client.query(`INSERT INTO ${this.healthTable} AS h (id, at, beats) VALUES (1, $1, 1) ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at, beats = h.beats + 1`, [atMs]);
    });
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
    if (plan.rows.length > 0) await this.insertRows(client, plan.rows);
    return plan.outcomes;
  }

  private async insertRows(client: pg.PoolClient, rows: readonly AuditRow[]): Promise<void> {
    const col = <K extends keyof AuditRow>(k: K): AuditRow[K][] => rows.map((r) => r[k]);
    await client.query(
      `INSERT INTO ${this.records} (${COLUMNS})
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])`,
      [col('seq'), col('id'), col('kind'), col('at'), col('patient_id'), col('links_to'), col('idempotency_key'), col('body'), col('prev_hash'), col('hash')],
    );
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
