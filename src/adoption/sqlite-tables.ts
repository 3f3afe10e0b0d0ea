/**
 * The roll-up on SQLite: its tables live in the audit store's file, beside `audit_records`, written on a
 * connection of their own (WAL lets it read while the service appends). Each batch is one `BEGIN
 * IMMEDIATE` transaction that commits only if the roll-up's head is still where the batch started.
 * A read-only connection (the command line) reads the tables and the trail and writes nothing.
 */
import Database from 'better-sqlite3';
import type { EpisodeState } from './episodes.js';
import { ROLLUP_VERSION, cellFromRow, EPISODE_RETENTION_MS, parseEpisode } from './sql-common.js';
import type { BatchChanges, CellRef, CountRow } from './rollup.js';
import type { Granularity } from './periods.js';
import type { ChainRecord, CountQuery, RecordSource, RollupHead, RollupTables } from './tables.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS adoption_state (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  version   INTEGER NOT NULL,
  last_seq  INTEGER NOT NULL,
  last_hash TEXT NOT NULL,
  secret    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS adoption_episodes (
  episode_key TEXT PRIMARY KEY,
  patient_key TEXT NOT NULL,
  last_ms     INTEGER NOT NULL,
  state       TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS adoption_episodes_patient ON adoption_episodes (patient_key, last_ms);
CREATE INDEX IF NOT EXISTS adoption_episodes_last ON adoption_episodes (last_ms);
CREATE TABLE IF NOT EXISTS adoption_counts (
  granularity   TEXT NOT NULL,
  period        TEXT NOT NULL,
  pathway_id    TEXT NOT NULL,
  settings_hash TEXT NOT NULL,
  measure       TEXT NOT NULL,
  n             INTEGER NOT NULL,
  PRIMARY KEY (granularity, period, pathway_id, settings_hash, measure)
) WITHOUT ROWID;
`;

interface RecordRow {
  seq: number;
  id: string;
  kind: string;
  at: string;
  patient_id: string | null;
  links_to: string | null;
  body: string;
  hash: string;
}

export class SqliteAdoption implements RollupTables, RecordSource {
  private readonly db: Database.Database;
  readonly hasTables: boolean;

  /** `readOnly`: opens the file read-only (it must exist) and never writes. */
  constructor(file: string, readonly readOnly: boolean, busyTimeoutMs = 5000) {
    this.db = new Database(file, { readonly: readOnly, fileMustExist: readOnly, timeout: busyTimeoutMs });
    if (!readOnly) this.db.transaction(() => this.db.exec(SCHEMA)).immediate();
    const n = this.db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('adoption_state', 'adoption_episodes', 'adoption_counts')`).get() as { n: number };
    this.hasTables = n.n === 3;
  }

  head(): Promise<RollupHead | null> {
    if (!this.hasTables) return Promise.resolve(null);
    const row = this.db.prepare('SELECT version, last_seq, last_hash, secret FROM adoption_state WHERE id = 1').get() as { version: number; last_seq: number; last_hash: string; secret: string } | undefined;
    if (row === undefined || row.version !== ROLLUP_VERSION) return Promise.resolve(row === undefined || this.readOnly ? null : { lastSeq: -1, lastHash: '', secret: row.secret });
    return Promise.resolve({ lastSeq: Number(row.last_seq), lastHash: row.last_hash, secret: row.secret });
  }

  episodesOf(patientKeys: readonly string[], sinceMs: number): Promise<EpisodeState[]> {
    if (!this.hasTables || patientKeys.length === 0) return Promise.resolve([]);
    const out: EpisodeState[] = [];
    for (let i = 0; i < patientKeys.length; i += 500) {
      const chunk = patientKeys.slice(i, i + 500);
      const rows = this.db.prepare(`SELECT state FROM adoption_episodes WHERE patient_key IN (${chunk.map(() => '?').join(',')}) AND last_ms >= ?`).all(...chunk, sinceMs) as { state: string }[];
      for (const r of rows) out.push(parseEpisode(r.state));
    }
    return Promise.resolve(out);
  }

  commit(c: BatchChanges, secret: string): Promise<boolean> {
    if (this.readOnly) return Promise.reject(new Error('the roll-up is open read-only'));
    const run = this.db.transaction((): boolean => {
      const row = this.db.prepare('SELECT last_seq, version FROM adoption_state WHERE id = 1').get() as { last_seq: number; version: number } | undefined;
      if ((row === undefined ? 0 : row.version !== ROLLUP_VERSION ? -1 : Number(row.last_seq)) !== c.fromSeq) return false;
      const ep = this.db.prepare('INSERT INTO adoption_episodes (episode_key, patient_key, last_ms, state) VALUES (?, ?, ?, ?) ON CONFLICT (episode_key) DO UPDATE SET last_ms = excluded.last_ms, state = excluded.state');
      for (const e of c.episodes) ep.run(e.key, e.patientKey, e.lastMs, JSON.stringify(e));
      const cnt = this.db.prepare('INSERT INTO adoption_counts (granularity, period, pathway_id, settings_hash, measure, n) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n');
      for (const d of c.deltas) cnt.run(d.granularity, d.period, d.pathwayId, d.settingsHash, d.measure, d.n);
      const latest = c.episodes.reduce((a, e) => Math.max(a, e.lastMs), 0);
      if (latest > 0) this.db.prepare('DELETE FROM adoption_episodes WHERE last_ms < ?').run(latest - EPISODE_RETENTION_MS);
      this.db
        .prepare('INSERT INTO adoption_state (id, version, last_seq, last_hash, secret) VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version, last_seq = excluded.last_seq, last_hash = excluded.last_hash, secret = excluded.secret')
        .run(ROLLUP_VERSION, c.toSeq, c.toHash, secret);
      return true;
    });
    return Promise.resolve(run.immediate());
  }

  reset(secret: string): Promise<void> {
    if (this.readOnly) return Promise.reject(new Error('the roll-up is open read-only'));
    this.db
      .transaction(() => {
        this.db.exec('DELETE FROM adoption_episodes; DELETE FROM adoption_counts;');
        this.db.prepare('INSERT INTO adoption_state (id, version, last_seq, last_hash, secret) VALUES (1, ?, 0, ?, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version, last_seq = 0, last_hash = excluded.last_hash, secret = excluded.secret').run(ROLLUP_VERSION, '', secret);
      })
      .immediate();
    return Promise.resolve();
  }

  counts(q: CountQuery): Promise<CountRow[]> {
    if (!this.hasTables) return Promise.resolve([]);
    const sql = `SELECT period, pathway_id, settings_hash, measure, n FROM adoption_counts WHERE granularity = ? AND period >= ? AND period <= ?${q.pathwayId === undefined ? '' : ' AND pathway_id = ?'} AND n <> 0`;
    const args: unknown[] = [q.granularity, q.from, q.to, ...(q.pathwayId === undefined ? [] : [q.pathwayId])];
    const rows = this.db.prepare(sql).raw().all(...args) as [string, string, string, string, number][];
    const g: Granularity = q.granularity;
    return Promise.resolve(rows.map(([period, pathwayId, settingsHash, measure, n]) => ({ granularity: g, period, pathwayId, settingsHash, measure, n: Number(n) })));
  }

  records(afterSeq: number, limit: number): Promise<ChainRecord[]> {
    const rows = this.db.prepare('SELECT seq, id, kind, at, patient_id, links_to, body, hash FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ?').all(afterSeq, limit) as RecordRow[];
    return Promise.resolve(rows.map(toRecord));
  }

  hashAt(seq: number): Promise<string | null> {
    const row = this.db.prepare('SELECT hash FROM audit_records WHERE seq = ?').get(seq) as { hash: string } | undefined;
    return Promise.resolve(row?.hash ?? null);
  }

  evaluationCells(ids: readonly string[]): Promise<Map<string, CellRef>> {
    const out = new Map<string, CellRef>();
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = this.db.prepare(`SELECT seq, id, kind, at, patient_id, links_to, body, hash FROM audit_records WHERE id IN (${chunk.map(() => '?').join(',')})`).all(...chunk) as RecordRow[];
      for (const r of rows) {
        const cell = cellFromRow(toRecord(r));
        if (cell !== null) out.set(r.id, cell);
      }
    }
    return Promise.resolve(out);
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
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
