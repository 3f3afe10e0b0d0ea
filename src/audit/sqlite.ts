/**
 * SQLite backend: the embedded default (a file under ./data/, no other service to install).
 *
 * Durability: WAL journal with `synchronous = FULL`, so COMMIT returns only after the WAL is fsync'd.
 * Several processes on the same file keep one chain: each batch runs under BEGIN IMMEDIATE (the
 * database's single writer lock) and reads the head inside it.
 *
 * better-sqlite3 is synchronous, so the write transactions run in a worker thread (sqlite-worker.mjs)
 * that owns its own write connection: while a batch commits (its fsync), the event loop keeps handling
 * requests, and the next batch fills up on the main thread (one batch in flight per store; the core's
 * group commit sends the next one when this one has answered). The main thread prepares each batch
 * (the replay-guard plan, the hashed text around each body: text, not objects) and turns the worker's
 * answers into records and errors. Reads (get, listByPatient, verify, isJtiHeld) stay on the main thread
 * with their own connection: WAL lets them run while the writer commits, and they are short.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { TnpError } from '../errors.js';
import { appendsAfterJti, batchJtis, jtiKey, jtiOutcomes, planJti, type AppendOutcome, type Backend, type BatchRequest, type BatchResult } from './batch.js';
import { AUDIT_KINDS, makeRecord, recordHashTextParts, rowToRecord, type AuditRecord, type AuditRow } from './record.js';

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
`;

/** Opens (creating the directory, file and tables if absent) the SQLite store at `path`. */
export async function openSqliteBackend(path: string, opts: { busyTimeoutMs: number }): Promise<Backend> {
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
    db.transaction(() => db.exec(SCHEMA)).immediate();
  } catch (e) {
    db.close();
    throw e;
  }
  // The writer thread opens its own connection; waiting for it here makes a store that cannot write
  // (or a worker file missing from dist/) fail at start rather than at the first patient.
  const writer = new SqliteWriter(file, opts.busyTimeoutMs);
  try {
    await writer.ready();
  } catch (e) {
    db.close();
    await writer.close();
    throw e;
  }
  return new SqliteBackend(db, file, writer);
}

/** What the worker answers for each kept append (see sqlite-worker.mjs). */
type WorkerOutcome =
  | { readonly t: 'new'; readonly seq: number; readonly prevHash: string; readonly hash: string }
  | { readonly t: 'same'; readonly index: number }
  | { readonly t: 'stored'; readonly row: AuditRow }
  | { readonly t: 'link' }
  | { readonly t: 'idTaken' };

interface WorkerResult {
  readonly fresh: readonly boolean[];
  readonly outcomes: readonly WorkerOutcome[];
}

interface WorkerBatch {
  readonly prune: boolean;
  readonly reusableBeforeMs: number;
  readonly jtis: readonly (readonly [string, string, number])[];
  readonly appends: readonly {
    readonly id: string;
    readonly kind: string;
    readonly at: string;
    readonly patientId: string | null;
    readonly linksTo: string | null;
    readonly idempotencyKey: string | null;
    readonly bodyText: string;
    readonly beforeBody: string;
    readonly afterBody: string;
    readonly jtiRef: number;
  }[];
}

type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'open-failed'; readonly message: string }
  | { readonly type: 'closed' }
  | { readonly type: 'result'; readonly ok: true; readonly result: WorkerResult }
  | { readonly type: 'result'; readonly ok: false; readonly message: string };

const WORKER_URL = new URL('./sqlite-worker.mjs', import.meta.url);

/**
 * The writer thread: one batch in flight at a time. Keeps the process alive only while a batch is in
 * flight (an idle store must not stop the process from exiting, as the synchronous connection did not).
 * A worker that dies fails its batch; the next batch starts a new one.
 */
class SqliteWriter {
  private worker: Worker | undefined;
  private starting: Promise<Worker> | undefined;
  private pending: { resolve: (r: WorkerResult) => void; reject: (e: Error) => void } | undefined;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly busyTimeoutMs: number,
  ) {}

  async ready(): Promise<void> {
    await this.start();
  }

  private start(): Promise<Worker> {
    if (this.worker !== undefined) return Promise.resolve(this.worker);
    this.starting ??= new Promise<Worker>((resolveStart, rejectStart) => {
      const w = new Worker(WORKER_URL, { workerData: { file: this.file, busyTimeoutMs: this.busyTimeoutMs } });
      let ready = false;
      const fail = (e: Error): void => {
        if (this.worker === w) this.worker = undefined;
        this.starting = undefined;
        const p = this.pending;
        this.pending = undefined;
        if (!ready) rejectStart(e);
        p?.reject(e);
      };
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') {
          ready = true;
          this.worker = w;
          this.starting = undefined;
          w.unref();
          resolveStart(w);
        } else if (m.type === 'open-failed') {
          void w.terminate();
          fail(new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', `the audit store's writer cannot open ${this.file}: ${m.message}`));
        } else if (m.type === 'result') {
          const p = this.pending;
          this.pending = undefined;
          w.unref();
          if (p === undefined) return;
          if (m.ok) p.resolve(m.result);
          else p.reject(new Error(m.message));
        }
      });
      w.on('error', (e) => fail(e));
      w.on('exit', (code) => fail(new Error(`the audit store's writer thread stopped (exit code ${code})`)));
    });
    return this.starting;
  }

  async run(batch: WorkerBatch): Promise<WorkerResult> {
    if (this.closed) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store is closed');
    const w = await this.start();
    if (this.pending !== undefined) throw new Error('the audit store writer already has a batch in flight');
    return new Promise<WorkerResult>((resolve, reject) => {
      this.pending = { resolve, reject };
      w.ref();
      w.postMessage({ type: 'batch', batch });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker ?? (await this.starting?.catch(() => undefined));
    this.worker = undefined;
    if (w === undefined) return;
    // Let the worker close its connection itself (a clean close checkpoints the WAL), then stop it.
    await new Promise<void>((resolveClosed) => {
      const timer = setTimeout(resolveClosed, 5000);
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'closed') {
          clearTimeout(timer);
          resolveClosed();
        }
      });
      w.on('exit', () => {
        clearTimeout(timer);
        resolveClosed();
      });
      w.postMessage({ type: 'close' });
    });
    await w.terminate();
  }
}

class SqliteBackend implements Backend {
  readonly warnings: readonly string[] = [];
  private readonly jtiHeldStmt: Database.Statement<[string, string, number], { one: number }>;
  private readonly byId: Database.Statement<[string], AuditRow>;
  private readonly byPatient: Database.Statement<[string, number], AuditRow>;
  private readonly maxSeq: Database.Statement<[], { m: number | null }>;
  private readonly page: Database.Statement<[number, number, number], AuditRow>;

  constructor(
    private readonly db: Database.Database,
    readonly location: string,
    private readonly writer: SqliteWriter,
  ) {
    this.jtiHeldStmt = db.prepare('SELECT 1 AS one FROM audit_jti WHERE iss = ? AND jti = ? AND expires_at >= ?');
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM audit_records WHERE id = ?`);
    this.byPatient = db.prepare(`SELECT ${COLUMNS} FROM audit_records WHERE patient_id = ? ORDER BY seq DESC LIMIT ?`);
    this.maxSeq = db.prepare('SELECT max(seq) AS m FROM audit_records');
    this.page = db.prepare(`SELECT ${COLUMNS} FROM audit_records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`);
  }

  async commitBatch(req: BatchRequest): Promise<BatchResult> {
    // The replay-guard plan (distinct pairs, sorted; repeats within the batch refused) is made here;
    // the worker upserts the pairs and tells which were new. Each append names the pair it depends on.
    const all = batchJtis(req);
    const { candidates, firstIndex } = planJti(all);
    const candidateIndex = new Map<string, number>();
    candidates.forEach((c, i) => candidateIndex.set(jtiKey(c.iss, c.jti), i));
    const base = req.jtis.length;
    const batch: WorkerBatch = {
      prune: req.prune,
      reusableBeforeMs: req.jtiReusableBeforeMs,
      jtis: candidates.map((c) => [c.iss, c.jti, c.expiresAtMs] as const),
      appends: req.appends.map((a, j) => {
        let jtiRef = -1;
        if (a.jti !== undefined) {
          const k = jtiKey(a.jti.iss, a.jti.jti);
          jtiRef = firstIndex.get(k) === base + j ? (candidateIndex.get(k) ?? -2) : -2;
        }
        const i = a.input;
        const { beforeBody, afterBody } = recordHashTextParts({ id: a.id, kind: i.kind, at: i.at, patientId: i.patientId, linksTo: i.linksTo, idempotencyKey: i.idempotencyKey });
        return { id: a.id, kind: i.kind, at: i.at, patientId: i.patientId, linksTo: i.linksTo ?? null, idempotencyKey: i.idempotencyKey ?? null, bodyText: i.bodyText, beforeBody, afterBody, jtiRef };
      }),
    };
    // Resolves after COMMIT returned in the worker; rejects when the transaction was rolled back.
    const result = await this.writer.run(batch);

    const fresh = new Set<string>();
    candidates.forEach((c, i) => {
      if (result.fresh[i] === true) fresh.add(jtiKey(c.iss, c.jti));
    });
    const { appends: kept, jtis, merge } = appendsAfterJti(req, jtiOutcomes(all, firstIndex, fresh));
    if (kept.length !== result.outcomes.length) {
      throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', `the audit store's writer answered ${result.outcomes.length} appends for ${kept.length}`);
    }
    const planned: AppendOutcome[] = [];
    kept.forEach((a, i) => {
      const o = result.outcomes[i];
      const input = a.input;
      switch (o?.t) {
        case 'new': {
          const record: AuditRecord = makeRecord({ seq: o.seq, id: a.id, kind: input.kind, at: input.at, patientId: input.patientId, linksTo: input.linksTo, idempotencyKey: input.idempotencyKey, body: input.body, prevHash: o.prevHash, hash: o.hash });
          planned.push({ ok: true, record });
          return;
        }
        case 'same': {
          const earlier = planned[o.index];
          planned.push(earlier ?? { ok: false, error: new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store gave no outcome for an append') });
          return;
        }
        case 'stored':
          try {
            planned.push({ ok: true, record: rowToRecord(o.row) });
          } catch (e) {
            planned.push({ ok: false, error: e instanceof TnpError ? e : new TnpError('TNP_ERR_AUDIT_CORRUPT', String(e)) });
          }
          return;
        case 'link':
          planned.push({ ok: false, error: new TnpError('TNP_ERR_AUDIT_LINK_UNKNOWN', `linksTo names no audit record: ${String(input.linksTo)}`, { expression: ['linksTo'] }) });
          return;
        case 'idTaken':
          planned.push({ ok: false, error: new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `the new record id is already taken: ${a.id} (deps.newId must give unique ids)`, { expression: ['id'] }) });
          return;
        case undefined:
          planned.push({ ok: false, error: new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store gave no outcome for an append') });
          return;
      }
    });
    return { appends: merge(planned), jtis };
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

  async close(): Promise<void> {
    await this.writer.close();
    if (this.db.open) this.db.close();
  }
}
