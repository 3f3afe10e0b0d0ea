/**
 * The roll-up on PostgreSQL: its tables live in the audit store's schema, beside `audit_records`, on a
 * small pool of its own. Each batch is one transaction under an advisory lock of its own (appends are
 * never blocked by it), committed only if the roll-up's head is still where the batch started. A
 * read-only pool (the command line) runs every transaction read-only and creates nothing.
 */
import pg from 'pg';
import { lockKey, parseUrl } from '../audit/postgres-schema.js';
import type { EpisodeState } from './episodes.js';
import type { Granularity } from './periods.js';
import type { BatchChanges, CellRef, CountRow } from './rollup.js';
import { cellFromRow, EPISODE_RETENTION_MS, parseEpisode, ROLLUP_VERSION } from './sql-common.js';
import type { ChainRecord, CountQuery, RecordSource, RollupHead, RollupTables } from './tables.js';

const schemaSql = (s: string): string => `
CREATE TABLE IF NOT EXISTS "${s}".adoption_state (
  id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL, last_seq bigint NOT NULL, last_hash text NOT NULL, secret text NOT NULL
);
CREATE TABLE IF NOT EXISTS "${s}".adoption_episodes (
  episode_key text PRIMARY KEY, patient_key text NOT NULL, last_ms bigint NOT NULL, state text NOT NULL
);
CREATE INDEX IF NOT EXISTS adoption_episodes_patient ON "${s}".adoption_episodes (patient_key, last_ms);
CREATE INDEX IF NOT EXISTS adoption_episodes_last ON "${s}".adoption_episodes (last_ms);
CREATE TABLE IF NOT EXISTS "${s}".adoption_counts (
  granularity text NOT NULL, period text NOT NULL, pathway_id text NOT NULL, settings_hash text NOT NULL, measure text NOT NULL, n bigint NOT NULL,
  PRIMARY KEY (granularity, period, pathway_id, settings_hash, measure)
);
`;

interface RecordRow {
  seq: string | number;
  id: string;
  kind: string;
  at: string;
  patient_id: string | null;
  links_to: string | null;
  body: string;
  hash: string;
}

function toRecord(r: RecordRow): ChainRecord {
  let body: unknown = null;
  try {
    body = JSON.parse(r.body) as unknown;
  } catch {
    body = null;
  }
  return { seq: Number(r.seq), id: r.id, kind: r.kind, at: r.at, patientId: r.patient_id, linksTo: r.links_to ?? undefined, body, hash: r.hash };
}

export class PostgresAdoption implements RollupTables, RecordSource {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly s: string,
    readonly readOnly: boolean,
    readonly hasTables: boolean,
  ) {}

  static async open(url: string, schemaSetting: string | undefined, readOnly: boolean, opts: { connectTimeoutMs?: number; statementTimeoutMs?: number } = {}): Promise<PostgresAdoption> {
    const { connectionString, schema } = parseUrl(url, schemaSetting);
    const pool = new pg.Pool({
      connectionString,
      max: 2,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      statement_timeout: opts.statementTimeoutMs ?? 60_000,
      application_name: 'hs-troponin-cds adoption',
      ...(readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
    });
    // A connection lost outside a query emits 'error' on the pool (idle) or on its client (checked out):
    // both are listened to, so it never crashes the process; the report's query in flight fails on its own.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    try {
      if (!readOnly) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query(`SELECT pg_advisory_xact_lock(${lockKey('adoption-migrate', schema)})`);
          await client.query(schemaSql(schema));
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw e;
        } finally {
          client.release();
        }
      }
      const r = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM unnest(ARRAY['adoption_state', 'adoption_episodes', 'adoption_counts']) AS t(name) WHERE to_regclass(quote_ident($1) || '.' || t.name) IS NOT NULL`, [schema]);
      return new PostgresAdoption(pool, schema, readOnly, Number(r.rows[0]?.n ?? 0) === 3);
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw e;
    }
  }

  async head(): Promise<RollupHead | null> {
    if (!this.hasTables) return null;
    const r = await this.pool.query<{ version: number; last_seq: string; last_hash: string; secret: string }>(`SELECT version, last_seq, last_hash, secret FROM "${this.s}".adoption_state WHERE id = 1`);
    const row = r.rows[0];
    if (row === undefined) return null;
    if (row.version !== ROLLUP_VERSION) return this.readOnly ? null : { lastSeq: -1, lastHash: '', secret: row.secret };
    return { lastSeq: Number(row.last_seq), lastHash: row.last_hash, secret: row.secret };
  }

  async episodesOf(patientKeys: readonly string[], sinceMs: number): Promise<EpisodeState[]> {
    if (!this.hasTables || patientKeys.length === 0) return [];
    const r = await this.pool.query<{ state: string }>(`SELECT state FROM "${this.s}".adoption_episodes WHERE patient_key = ANY($1::text[]) AND last_ms >= $2`, [patientKeys, sinceMs]);
    return r.rows.map((x) => parseEpisode(x.state));
  }

  async commit(c: BatchChanges, secret: string): Promise<boolean> {
    if (this.readOnly) throw new Error('the roll-up is open read-only');
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT pg_advisory_xact_lock(${lockKey('adoption-rollup', this.s)})`);
      const st = await client.query<{ last_seq: string; version: number }>(`SELECT last_seq, version FROM "${this.s}".adoption_state WHERE id = 1`);
      const row = st.rows[0];
      if ((row === undefined ? 0 : row.version !== ROLLUP_VERSION ? -1 : Number(row.last_seq)) !== c.fromSeq) {
        await client.query('ROLLBACK');
        return false;
      }
      if (c.episodes.length > 0) {
        await client.query(
          `INSERT INTO "${this.s}".adoption_episodes (episode_key, patient_key, last_ms, state)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
           ON CONFLICT (episode_key) DO UPDATE SET last_ms = excluded.last_ms, state = excluded.state`,
          [c.episodes.map((e) => e.key), c.episodes.map((e) => e.patientKey), c.episodes.map((e) => e.lastMs), c.episodes.map((e) => JSON.stringify(e))],
        );
        const latest = c.episodes.reduce((a, e) => Math.max(a, e.lastMs), 0);
        await client.query(`DELETE FROM "${this.s}".adoption_episodes WHERE last_ms < $1`, [latest - EPISODE_RETENTION_MS]);
      }
      if (c.deltas.length > 0) {
        const d = c.deltas;
        await client.query(
          `INSERT INTO "${this.s}".adoption_counts (granularity, period, pathway_id, settings_hash, measure, n)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
           ON CONFLICT (granularity, period, pathway_id, settings_hash, measure) DO UPDATE SET n = "${this.s}".adoption_counts.n + excluded.n`,
          [d.map((x) => x.granularity), d.map((x) => x.period), d.map((x) => x.pathwayId), d.map((x) => x.settingsHash), d.map((x) => x.measure), d.map((x) => x.n)],
        );
      }
      await client.query(
        `INSERT INTO "${this.s}".adoption_state (id, version, last_seq, last_hash, secret) VALUES (1, $1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, last_seq = excluded.last_seq, last_hash = excluded.last_hash, secret = excluded.secret`,
        [ROLLUP_VERSION, c.toSeq, c.toHash, secret],
      );
      await client.query('COMMIT');
      return true;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async reset(secret: string): Promise<void> {
    if (this.readOnly) throw new Error('the roll-up is open read-only');
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT pg_advisory_xact_lock(${lockKey('adoption-rollup', this.s)})`);
      await client.query(`DELETE FROM "${this.s}".adoption_episodes`);
      await client.query(`DELETE FROM "${this.s}".adoption_counts`);
      await client.query(
        `INSERT INTO "${this.s}".adoption_state (id, version, last_seq, last_hash, secret) VALUES (1, $1, 0, '', $2)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, last_seq = 0, last_hash = '', secret = excluded.secret`,
        [ROLLUP_VERSION, secret],
      );
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async counts(q: CountQuery): Promise<CountRow[]> {
    if (!this.hasTables) return [];
    const args: unknown[] = [q.granularity, q.from, q.to];
    if (q.pathwayId !== undefined) args.push(q.pathwayId);
    const r = await this.pool.query<[string, string, string, string, string]>({
      text: `SELECT period, pathway_id, settings_hash, measure, n FROM "${this.s}".adoption_counts WHERE granularity = $1 AND period >= $2 AND period <= $3${q.pathwayId === undefined ? '' : ' AND pathway_id = $4'} AND n <> 0`,
      values: args,
      rowMode: 'array',
    });
    const g: Granularity = q.granularity;
    return r.rows.map(([period, pathwayId, settingsHash, measure, n]) => ({ granularity: g, period, pathwayId, settingsHash, measure, n: Number(n) }));
  }

  async records(afterSeq: number, limit: number): Promise<ChainRecord[]> {
    const r = await this.pool.query<RecordRow>(`SELECT seq, id, kind, at, patient_id, links_to, body, hash FROM "${this.s}".audit_records WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit]);
    return r.rows.map(toRecord);
  }

  async hashAt(seq: number): Promise<string | null> {
    const r = await this.pool.query<{ hash: string }>(`SELECT hash FROM "${this.s}".audit_records WHERE seq = $1`, [seq]);
    return r.rows[0]?.hash ?? null;
  }

  async evaluationCells(ids: readonly string[]): Promise<Map<string, CellRef>> {
    const out = new Map<string, CellRef>();
    if (ids.length === 0) return out;
    const r = await this.pool.query<RecordRow>(`SELECT seq, id, kind, at, patient_id, links_to, body, hash FROM "${this.s}".audit_records WHERE id = ANY($1::text[])`, [ids]);
    for (const row of r.rows) {
      const cell = cellFromRow(toRecord(row));
      if (cell !== null) out.set(row.id, cell);
    }
    return out;
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
