/**
 * SQLite backend: the embedded default (a file under ./data/, no other service to install).
 *
 * Durability: WAL journal with `synchronous = FULL`, so COMMIT returns only after the WAL is fsync'd.
 * Several processes on the same file keep one chain: each batch runs under BEGIN IMMEDIATE (the
 * database's single writer lock) and reads the head inside it. better-sqlite3 is synchronous, so a batch
 * holds the event loop for the duration of its transaction (one fsync); group commit makes that one
 * fsync per batch rather than per request.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { TnpError } from '../errors.js';
import { appendsAfterJti, batchJtis, idsToLookUp, jtiKey, jtiOutcomes, keysToLookUp, planAppends, planEventAppends, planJti, type Backend, type BatchRequest, type BatchResult, type EventOutcome, type PendingEvent } from './batch.js';
import type { LinkRow, Neighbourhood } from './chain.js';
import { SqliteLab, sqliteLabSchema } from './lab/sqlite.js';
import { AUDIT_KINDS, rowToRecord, type AuditRecord, type AuditRow } from './record.js';

const COLUMNS = 'seq, id, kind, at, patient_id, links_to, idempotency_key, body, prev_hash, hash';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_records (
  seq             INTEGER PRIMARY KEY CHECK (seq > 0),
  id              TEXT NOT NULL UNIQUE,
  kind            TEXT NOT NULL CHECK (kind IN (${AUDIT_KINDS.map((k) => `'${k}'`).join(', ')})),
  at              TEXT NOT NULL,
  patient_id      TEXT,
  links_to        TEXT,
  idempotency_key TEXT UNIQUE,
  body            TEXT NOT NULL,
  prev_hash       TEXT NOT NULL,
  hash            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_patient ON audit_records (patient_id, seq);
CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records
  BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records
  BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
CREATE TABLE IF NOT EXISTS audit_jti (
  iss        TEXT NOT NULL,
  jti        TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (iss, jti)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_jti_expires ON audit_jti (expires_at);
CREATE TABLE IF NOT EXISTS audit_health (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  at    INTEGER NOT NULL,
  beats INTEGER NOT NULL
);
`;

/** Opens (creating the directory, file and tables if absent) the SQLite store at `path`. */
export function openSqliteBackend(path: string, opts: { busyTimeoutMs: number }): Backend {
  const file = resolve(path);
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file, { timeout: opts.busyTimeoutMs });
  try {
    const mode: unknown = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', `the audit store ${file} cannot use WAL journaling (got ${String(mode)}); put it on a local file system`);
    db.pragma('synchronous = FULL');
    // 2 = FULL: COMMIT fsyncs the WAL. Read back rather than trust the write.
    if (db.pragma('synchronous', { simple: true }) !== 2) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', `the audit store ${file} refused synchronous = FULL`);
    // Creating the schema takes the write lock, so processes opening the same new file do not race.
    db.transaction(() => db.exec(SCHEMA + sqliteLabSchema())).immediate();
    return new SqliteBackend(db, file);
  } catch (e) {
    db.close();
    throw e;
  }
}

/** An event's precondition failed: its savepoint is rolled back, the rest of the batch goes on. */
class EventConflict extends Error {}

class SqliteBackend implements Backend {
  readonly warnings: readonly string[] = [];
  readonly lab: SqliteLab;
  private readonly head: Database.Statement<[], { seq: number; hash: string }>;
  private readonly byKey: Database.Statement<[string], AuditRow>;
  private readonly idExists: Database.Statement<[string], { one: number }>;
  private readonly insert: Database.Statement<[AuditRow]>;
  private readonly jtiUpsert: Database.Statement<[string, string, number, number]>;
  private readonly jtiPrune: Database.Statement<[number]>;
  private readonly jtiHeldStmt: Database.Statement<[string, string, number], { one: number }>;
  private readonly byId: Database.Statement<[string], AuditRow>;
  private readonly byPatient: Database.Statement<[string, number], AuditRow>;
  private readonly maxSeq: Database.Statement<[], { m: number | null }>;
  private readonly page: Database.Statement<[number, number, number], AuditRow>;
  private readonly linksBySeq: Database.Statement<[string], LinkRow>;
  private readonly writeBatch: Database.Transaction<(req: BatchRequest) => BatchResult>;
  private readonly heartbeat: Database.Transaction<(atMs: number) => void>;

  constructor(
    private readonly db: Database.Database,
    readonly location: string,
  ) {
    this.lab = new SqliteLab(db);
    this.head = db.prepare('SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1');
    this.byKey = db.prepare(`SELECT ${COLUMNS} FROM audit_records WHERE idempotency_key = ?`);
    this.idExists = db.prepare('SELECT 1 AS one FROM audit_records WHERE id = ?');
    this.insert = db.prepare(
      `INSERT INTO audit_records (${COLUMNS}) VALUES (@seq, @id, @kind, @at, @patient_id, @links_to, @idempotency_key, @body, @prev_hash, @hash)`,
    );
    // A row blocks the pair until it is reusable (expired + grace); then it is replaced. changes = 0 means "seen".
    this.jtiUpsert = db.prepare(
      'INSERT INTO audit_jti (iss, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE audit_jti.expires_at < ?',
    );
    this.jtiPrune = db.prepare('DELETE FROM audit_jti WHERE expires_at < ?');
    this.jtiHeldStmt = db.prepare('SELECT 1 AS one FROM audit_jti WHERE iss = ? AND jti = ? AND expires_at >= ?');
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM audit_records WHERE id = ?`);
    this.byPatient = db.prepare(`SELECT ${COLUMNS} FROM audit_records WHERE patient_id = ? ORDER BY seq DESC LIMIT ?`);
    this.maxSeq = db.prepare('SELECT max(seq) AS m FROM audit_records');
    this.page = db.prepare(`SELECT ${COLUMNS} FROM audit_records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`);
    this.linksBySeq = db.prepare('SELECT seq, prev_hash, hash FROM audit_records WHERE seq IN (SELECT value FROM json_each(?))');
    this.writeBatch = db.transaction((req: BatchRequest) => this.runBatch(req));
    const beat = db.prepare<[number]>('INSERT INTO audit_health (id, at, beats) VALUES (1, ?, 1) ON CONFLICT (id) DO UPDATE SET at = excluded.at, beats = audit_health.beats + 1');
    this.heartbeat = db.transaction((atMs: number) => void beat.run(atMs));
  }

  private runBatch(req: BatchRequest): BatchResult {
    if (req.prune) this.jtiPrune.run(req.jtiReusableBeforeMs);
    // Replay-guard entries first: an append whose jti is refused is dropped before it gets a seq.
    const all = batchJtis(req);
    let accepted: boolean[] = [];
    if (all.length > 0) {
      const { candidates, firstIndex } = planJti(all);
      const fresh = new Set<string>();
      for (const c of candidates) {
        if (this.jtiUpsert.run(c.iss, c.jti, c.expiresAtMs, req.jtiReusableBeforeMs).changes > 0) fresh.add(jtiKey(c.iss, c.jti));
      }
      accepted = jtiOutcomes(all, firstIndex, fresh);
    }
    const { appends: kept, jtis, merge } = appendsAfterJti(req, accepted);
    let planned: BatchResult['appends'] = [];
    if (kept.length > 0) {
      const byIdempotencyKey = new Map<string, AuditRecord>();
      for (const key of keysToLookUp(kept)) {
        const row = this.byKey.get(key);
        if (row !== undefined) byIdempotencyKey.set(key, rowToRecord(row));
      }
      const existingIds = new Set<string>();
      for (const id of idsToLookUp(kept)) if (this.idExists.get(id) !== undefined) existingIds.add(id);
      const plan = planAppends(kept, { head: this.head.get(), byIdempotencyKey, existingIds });
      for (const row of plan.rows) this.insert.run(row);
      planned = plan.outcomes;
    }
    return { appends: merge(planned), jtis, events: req.events.map((e) => this.runEvent(e)) };
  }

  /** One event under a savepoint: its preconditions, its rows, then its records on the chain. */
  private runEvent(pending: PendingEvent): EventOutcome {
    const apply = this.db.transaction((): EventOutcome => {
      const conflict = this.lab.applyEvent(pending.event);
      if (conflict !== null) throw new EventConflict(conflict);
      const taken = new Set<string>();
      for (const id of idsToLookUp(pending.appends)) if (this.idExists.get(id) !== undefined) taken.add(id);
      const plan = planEventAppends(pending.appends, this.head.get(), taken);
      for (const row of plan.rows) this.insert.run(row);
      return { ok: true, records: plan.records };
    });
    try {
      return apply();
    } catch (e) {
      if (e instanceof EventConflict || e instanceof TnpError) return { ok: false, conflict: e.message };
      throw e;
    }
  }

  commitBatch(req: BatchRequest): Promise<BatchResult> {
    // BEGIN IMMEDIATE: take the writer lock before reading the head, so no other process can
    // append between our read and our insert. COMMIT fsyncs (synchronous = FULL).
    return new Promise((resolve) => resolve(this.writeBatch.immediate(req)));
  }

  getRow(id: string): Promise<AuditRow | undefined> {
    return new Promise((resolve) => resolve(this.byId.get(id)));
  }

  jtiHeld(iss: string, jti: string, reusableBeforeMs: number): Promise<boolean> {
    return new Promise((resolve) => resolve(this.jtiHeldStmt.get(iss, jti, reusableBeforeMs) !== undefined));
  }

  rowsByPatient(patientId: string, limit: number): Promise<AuditRow[]> {
    return new Promise((resolve) => resolve(this.byPatient.all(patientId, limit)));
  }

  linkRows(seqs: readonly number[]): Promise<Neighbourhood> {
    return new Promise((resolve) => {
      const maxSeq = this.maxSeq.get()?.m ?? 0;
      resolve({ maxSeq, rows: seqs.length === 0 ? [] : this.linksBySeq.all(JSON.stringify(seqs)) });
    });
  }

  probeWrite(atMs: number): Promise<void> {
    // Under the writer lock (BEGIN IMMEDIATE, waiting busyTimeoutMs like a batch), committed with the
    // WAL fsync'd (synchronous = FULL): the same path a batch of records takes to disk.
    return new Promise((resolve) => resolve(this.heartbeat.immediate(atMs)));
  }

  async *chainPages(pageSize: number): AsyncGenerator<AuditRow[]> {
    const max = this.maxSeq.get()?.m ?? 0;
    let after = 0;
    for (;;) {
      const rows = this.page.all(after, max, pageSize);
      if (rows.length === 0) return;
      yield rows;
      const last = rows[rows.length - 1];
      if (last === undefined) return;
      after = last.seq;
      // Let other work run between pages: a long chain must not hold the event loop for the whole walk.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}
