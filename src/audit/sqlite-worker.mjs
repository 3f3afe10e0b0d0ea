/**
 * The SQLite audit store's writer: a worker thread that owns the write connection and runs each
 * group-commit transaction, so that the COMMIT (an fsync, synchronous = FULL) never holds the service's
 * event loop. Started by sqlite.ts with `new Worker(new URL('./sqlite-worker.mjs', import.meta.url))`.
 *
 * Plain JavaScript (not TypeScript) so that the same file runs under the tests (sources) and from
 * dist/ (the build copies it there): a worker thread cannot load a .ts file by itself.
 *
 * One batch at a time. For each batch, in ONE transaction under BEGIN IMMEDIATE (the database's single
 * writer lock, so several processes on one file keep one chain): prune expired replay-guard rows (when
 * asked), upsert the replay-guard entries, drop the appends whose entry was refused, read the head, then
 * decide each remaining append (idempotent repeat, unknown link, id taken, or a new row with its seq,
 * prevHash and hash) and insert the new rows, then COMMIT. Only then is the answer posted: the main
 * thread resolves no call before its COMMIT has returned. Any error rolls the whole batch back and is
 * posted as a failure (the main thread rejects every call in it with TNP_ERR_AUDIT_UNAVAILABLE).
 *
 * The decisions mirror `planAppends` in batch.ts (used by the PostgreSQL backend); the main thread
 * prepares what does not depend on the database (the replay-guard plan, the hashed text around the
 * body), so the only chain rule written here is the end of the hashed text, `recordHashTextEnd` in
 * record.ts. The conformance suite (tests/integration/audit-store.test.ts) runs both backends and
 * verifies every chain with the TypeScript hash.
 *
 * Messages in:  { type: 'batch', batch }  |  { type: 'close' }
 * Messages out: { type: 'ready' } | { type: 'open-failed', message } | { type: 'closed' }
 *             | { type: 'result', ok: true, result: { fresh, outcomes } } | { type: 'result', ok: false, message }
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const COLUMNS = 'seq, id, kind, at, patient_id, links_to, idempotency_key, body, prev_hash, hash';
const GENESIS_HASH = '0'.repeat(64);

const port = parentPort;
if (port === null) throw new Error('sqlite-worker.mjs must run as a worker thread');

/** @type {import('better-sqlite3').Database | undefined} */
let db;
let statements;

function open() {
  const { file, busyTimeoutMs } = workerData;
  db = new Database(file, { timeout: busyTimeoutMs, fileMustExist: true });
  const mode = db.pragma('journal_mode', { simple: true });
  if (mode !== 'wal') throw new Error(`the audit store ${file} is not in WAL mode (got ${String(mode)})`);
  db.pragma('synchronous = FULL');
  // 2 = FULL: COMMIT fsyncs the WAL. Read back rather than trust the write.
  if (db.pragma('synchronous', { simple: true }) !== 2) throw new Error(`the audit store ${file} refused synchronous = FULL`);
  const s = {
    head: db.prepare('SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1'),
    byKey: db.prepare(`SELECT ${COLUMNS} FROM audit_records WHERE idempotency_key = ?`),
    idExists: db.prepare('SELECT 1 AS one FROM audit_records WHERE id = ?'),
    insert: db.prepare(`INSERT INTO audit_records (${COLUMNS}) VALUES (@seq, @id, @kind, @at, @patient_id, @links_to, @idempotency_key, @body, @prev_hash, @hash)`),
    // A row blocks the pair until it is reusable (expired + grace); then it is replaced. changes = 0 means "seen".
    jtiUpsert: db.prepare('INSERT INTO audit_jti (iss, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT (iss, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE audit_jti.expires_at < ?'),
    jtiPrune: db.prepare('DELETE FROM audit_jti WHERE expires_at < ?'),
  };
  statements = { ...s, write: db.transaction((batch) => runBatch(s, batch)) };
}

/**
 * batch: { prune, reusableBeforeMs, jtis: [iss, jti, expiresAtMs][] (distinct, sorted),
 *          appends: { id, kind, at, patientId, linksTo, idempotencyKey, bodyText, beforeBody, afterBody, jtiRef }[] }
 * jtiRef: -1 no replay-guard entry; >= 0 the index in `jtis` that must be new; -2 refused (repeat in the batch).
 * Returns { fresh: boolean[] per jtis entry, outcomes: per kept append, in order:
 *   { t: 'new', seq, prevHash, hash } | { t: 'same', index } (an earlier new record of this batch, by key)
 *   | { t: 'stored', row } (a stored record, by key) | { t: 'link' } | { t: 'idTaken' } }.
 */
function runBatch(s, batch) {
  if (batch.prune) s.jtiPrune.run(batch.reusableBeforeMs);
  // Replay-guard entries first: an append whose entry is refused is dropped before it gets a seq.
  const fresh = batch.jtis.map(([iss, jti, expiresAtMs]) => s.jtiUpsert.run(iss, jti, expiresAtMs, batch.reusableBeforeMs).changes > 0);
  const kept = batch.appends.filter((a) => a.jtiRef === -1 || (a.jtiRef >= 0 && fresh[a.jtiRef] === true));
  const outcomes = [];
  if (kept.length === 0) return { fresh, outcomes };
  const head = s.head.get();
  let seq = head === undefined ? 0 : head.seq;
  let prevHash = head === undefined ? GENESIS_HASH : head.hash;
  const batchByKey = new Map();
  const batchIds = new Set();
  kept.forEach((a, i) => {
    const key = a.idempotencyKey;
    if (key !== null) {
      const earlier = batchByKey.get(key);
      if (earlier !== undefined) return void outcomes.push({ t: 'same', index: earlier });
      const row = s.byKey.get(key);
      if (row !== undefined) return void outcomes.push({ t: 'stored', row });
    }
    if (a.linksTo !== null && !batchIds.has(a.linksTo) && s.idExists.get(a.linksTo) === undefined) return void outcomes.push({ t: 'link' });
    if (batchIds.has(a.id) || s.idExists.get(a.id) !== undefined) return void outcomes.push({ t: 'idTaken' });
    seq += 1;
    // recordHashTextEnd (record.ts): `${JSON.stringify(prevHash)},"seq":${seq}}`.
    const hash = createHash('sha256').update(a.beforeBody).update(a.bodyText).update(a.afterBody).update(`${JSON.stringify(prevHash)},"seq":${JSON.stringify(seq)}}`).digest('hex');
    s.insert.run({ seq, id: a.id, kind: a.kind, at: a.at, patient_id: a.patientId, links_to: a.linksTo, idempotency_key: key, body: a.bodyText, prev_hash: prevHash, hash });
    outcomes.push({ t: 'new', seq, prevHash, hash });
    if (key !== null) batchByKey.set(key, i);
    batchIds.add(a.id);
    prevHash = hash;
  });
  return { fresh, outcomes };
}

function message(e) {
  return e instanceof Error ? e.message : String(e);
}

try {
  open();
  port.postMessage({ type: 'ready' });
} catch (e) {
  if (db?.open) db.close();
  db = undefined;
  port.postMessage({ type: 'open-failed', message: message(e) });
}

port.on('message', (msg) => {
  if (msg.type === 'close') {
    if (db?.open) db.close();
    port.postMessage({ type: 'closed' });
    return;
  }
  if (msg.type !== 'batch') return;
  if (db === undefined) {
    port.postMessage({ type: 'result', ok: false, message: 'the audit store writer could not open the database' });
    return;
  }
  let result;
  try {
    // BEGIN IMMEDIATE: take the writer lock before reading the head, so no other process can
    // append between our read and our insert. COMMIT fsyncs (synchronous = FULL).
    result = statements.write.immediate(msg.batch);
  } catch (e) {
    port.postMessage({ type: 'result', ok: false, message: message(e) });
    return;
  }
  port.postMessage({ type: 'result', ok: true, result });
});
