/**
 * The audit store port: the durable, hash-chained audit trail and the JWT replay guard, with one
 * implementation on SQLite (the embedded default) and one on PostgreSQL (several service processes).
 *
 * Why one port for both: every CDS response must be backed by a durable record (the contract says the
 * record named by `auditId` is written before the response is sent), and a JWT `jti` must be refused the
 * second time by every process that shares the store. Both are "write once, durably, shared by all
 * processes" problems, so they live in the same store and can share its transactions (one fsync serves a
 * whole batch of records and replay-guard entries). See docs/audit.md.
 */
import { resolve } from 'node:path';
import { TnpError } from '../errors.js';
import type { CheckedRecord, VerifyAnchor, VerifyResult } from './chain.js';
import { AuditStoreImpl } from './core.js';
import { problemOf, type WriteCheck } from './health.js';
import type { AuditRecord, AuditRecordInput } from './record.js';
import type { AppendOutcome, EventOutcome } from './batch.js';
import type { PreparedBulk } from './bulk.js';
import type { LabEvent, LabOutbox, LabReads } from './lab/types.js';

export { AUDIT_KINDS, GENESIS_HASH, recordHash } from './record.js';
export { JtiReplayedError } from './batch.js';
export { PreparedBulk } from './bulk.js';
export type { AuditKind, AuditRecord, AuditRecordInput } from './record.js';
export type { CheckedRecord, RecordIntegrity, VerifyAnchor, VerifyResult } from './chain.js';
export type { WriteCheck } from './health.js';
export type { AppendOutcome, EventOutcome } from './batch.js';
export type * from './lab/types.js';

/** Counters since the store was opened (for /metrics and for tests of group commit). */
export interface AuditStoreStats {
  /** Write transactions committed (each one fsync). */
  readonly commits: number;
  /** Records appended (new rows). */
  readonly appended: number;
  /** Appends answered with an earlier record because of their idempotency key. */
  readonly deduplicated: number;
  /** Replay-guard entries handled. */
  readonly jtiChecks: number;
  /** Write transactions that failed (their callers got TNP_ERR_AUDIT_UNAVAILABLE). */
  readonly failedCommits: number;
  /** Largest number of operations committed in one transaction. */
  readonly largestBatch: number;
  /** Heartbeats written (or tried) to answer `checkWritable` (not counted in `commits`). */
  readonly healthProbes: number;
}

export interface AuditStore {
  /** Where the store is (file path, or PostgreSQL host/database/schema without password), for logs. */
  readonly location: string;
  /** Conditions found at open that weaken durability (e.g. PostgreSQL with fsync off): log them at start. */
  readonly warnings: readonly string[];

  /**
   * Appends a record to the chain. Resolves only once the record is durably committed (SQLite: WAL with
   * synchronous=FULL; PostgreSQL: COMMIT with synchronous_commit on), so a caller may answer its client
   * as soon as this resolves and never before. Calls made together are committed together (group commit).
   *
   * With an `idempotencyKey` already in the store, resolves with that earlier record and appends nothing.
   *
   * Rejects with TNP_ERR_AUDIT_UNAVAILABLE (503) when the store cannot write (nothing was committed for
   * this call), TNP_ERR_AUDIT_LINK_UNKNOWN when `linksTo` names no record, TNP_ERR_AUDIT_RECORD_INVALID
   * when the input is malformed (a defect in the caller).
   */
  append(input: AuditRecordInput): Promise<AuditRecord>;

  /**
   * `append` and `rememberJti(iss, jti, expiresAt)` in ONE transaction (one fsync): the replay-guard
   * entry is upserted first, and only when the pair is new is the record appended. When the pair is
   * already held (by any process sharing the store, across restarts), nothing is written for this call
   * and it rejects with {@link JtiReplayedError} (`TNP_ERR_UNAUTHORIZED`): the record never gets a seq.
   * Resolves only once both are durably committed; rejects like `append` otherwise (and then neither
   * was written). This lets a CDS call pay one durable commit instead of two.
   */
  appendWithJti(input: AuditRecordInput, iss: string, jti: string, expiresAt: Date): Promise<AuditRecord>;

  /**
   * Bulk load (imports, synthetic trails for benchmarks): appends `entries` in order, each with the id it
   * names, `chunkSize` (default 5000) to a transaction, and resolves once every chunk is durably committed
   * with one outcome per entry, the one `append` would have given it: the record, the earlier record for an
   * idempotency key already held, or the refusal (`linksTo` naming no record, an id already taken). The
   * rows and the hash chain are exactly those that `append` of the same inputs with the same ids, in the
   * same order, writes. Every input is checked before anything is written (TNP_ERR_AUDIT_RECORD_INVALID
   * rejects the whole call); a chunk that cannot be committed rejects with TNP_ERR_AUDIT_UNAVAILABLE, the
   * chunks before it staying committed. Not for request paths: a SQLite chunk holds the event loop.
   * `new PreparedBulk(entries)` checks and serialises the entries once, to load them into several stores.
   */
  appendBulk(entries: readonly { readonly id: string; readonly input: AuditRecordInput }[] | PreparedBulk, opts?: { readonly chunkSize?: number }): Promise<AppendOutcome[]>;

  /**
   * Whether the replay guard holds (iss, jti) now (a read, no write): `true` means `rememberJti` and
   * `appendWithJti` would refuse the pair. A `false` is only a hint (another process may take the pair
   * a moment later); the write is what decides. Rejects with TNP_ERR_AUDIT_UNAVAILABLE when the store
   * cannot be read.
   */
  isJtiHeld(iss: string, jti: string): Promise<boolean>;

  /** The record with this id, or null. */
  get(id: string): Promise<AuditRecord | null>;

  /** The patient's records, newest first; `limit` defaults to 100 and is capped at 10 000. */
  listByPatient(patientId: string, opts?: { limit?: number }): Promise<AuditRecord[]>;

  /**
   * `get` for people (GET /audit/{id}): the record with its `integrity`, checked on read: its hash against
   * its stored content, its `prevHash` against the record before it, and the record after it against its
   * hash. An altered record is returned (a body no longer JSON as its stored text) with `integrity.ok`
   * false and the problems named, never as sound. Null when no record has the id.
   */
  getChecked(id: string): Promise<CheckedRecord | null>;

  /** `listByPatient` for people (GET /audit?patient=): each record with its `integrity`, as `getChecked`. */
  listByPatientChecked(patientId: string, opts?: { limit?: number }): Promise<CheckedRecord[]>;

  /**
   * Whether the store can write now (for /healthz): the freshest durable write, a group commit or a
   * heartbeat (one committed, fsync'd upsert outside the chain, with the PostgreSQL user's privileges and
   * the tables' write locks checked), written when no outcome is younger than `healthCheckIntervalMs`
   * (or with `fresh`). Concurrent calls share one heartbeat. Never rejects: `{ ok: false, problem }`
   * names the database's reason (one line, no credentials). `openAuditStore` asks it once, fresh.
   */
  checkWritable(opts?: { fresh?: boolean }): Promise<WriteCheck>;

  /**
   * Recomputes the whole chain and reports the first record whose seq, link (prevHash) or hash is wrong:
   * an edited field, a removed record (seq gap) or reordered records. `records` and `head` (the last
   * stored hash) are what to keep elsewhere from time to time: removing records from the END, or
   * rewriting the whole chain with fresh hashes, leaves a chain that is valid on its own, which only a
   * remembered head reveals. Pass it back as `anchor: { seq: records, hash: head }` and verify also
   * fails when the record at that seq is missing or has another hash.
   */
  verify(opts?: { anchor?: VerifyAnchor }): Promise<VerifyResult>;

  /**
   * JWT replay guard. Resolves true the first time (iss, jti) is seen, false on any repeat while the
   * earlier entry is kept, across processes sharing the store and across restarts. Pass the token's
   * `exp` as `expiresAt`: an entry is kept until `expiresAt` plus a grace period (default 300 s, longer
   * than any clock tolerance the JWT check allows), after which it may be pruned and the pair is new
   * again. The entry is durable when this resolves (it rides the same group commit as the records).
   */
  rememberJti(iss: string, jti: string, expiresAt: Date): Promise<boolean>;

  /**
   * Commits a laboratory event (src/audit/lab/types.ts): its preconditions checked, its rows written and
   * `records` appended to the chain, all in ONE transaction, riding the same group commit as every other
   * write. Resolves once durable with the records, or with `{ ok: false, conflict }` when a precondition
   * failed (nothing of the event was written: plan it again from a fresh snapshot). Rejects like `append`
   * when the store cannot write. Records take no `linksTo` or `idempotencyKey` (results carry their own).
   */
  commitEvent(event: LabEvent, records: readonly { readonly id: string; readonly input: AuditRecordInput }[]): Promise<EventOutcome>;

  /** The laboratory reads and the alert outbox (throws TNP_ERR_AUDIT_UNAVAILABLE once closed). */
  readonly lab: LabReads & LabOutbox;

  /** Counters since open. */
  stats(): AuditStoreStats;

  /** Commits what is queued, then closes. Later calls reject with TNP_ERR_AUDIT_UNAVAILABLE. */
  close(): Promise<void>;
}

/**
 * Where the store is. The same shape as `storage` in the site settings, plus, for PostgreSQL, the
 * schema to use (default `public`), given either as `schema` or as a `schema` query parameter of the URL
 * (`postgres://host/db?schema=audit`); the tables are created in it if absent. Tests use one schema each.
 */
export type AuditStoreSettings =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly schema?: string };

export interface AuditStoreDeps {
  /** A new unique record id (a UUID in production). Called once per `append`, at the call. */
  readonly newId: () => string;
  /** The clock, used for the replay guard's expiry. */
  readonly now: () => Date;
}

export interface AuditStoreOptions {
  /** Most operations in one transaction; more wait for the next one. Default 500. */
  readonly maxBatch?: number;
  /** How long a write waits for another writer's lock before failing (SQLite busy_timeout, PostgreSQL lock_timeout). Default 5000. */
  readonly busyTimeoutMs?: number;
  /** How long a replay-guard entry outlives its `expiresAt`. Default 300. */
  readonly jtiGraceSeconds?: number;
  /** PostgreSQL: pool size. Default 4. */
  readonly poolSize?: number;
  /** PostgreSQL: connect timeout; also bounds each statement (x3). Default 5000. */
  readonly connectTimeoutMs?: number;
  /** How long a write outcome (a commit or a heartbeat) answers `checkWritable`. Default 5000. */
  readonly healthCheckIntervalMs?: number;
}

/** The options the service opens its store with, from its settings (`healthCheckIntervalMs`, `busyTimeoutMs`). */
export function storeOptionsOf(settings: { readonly healthCheckIntervalMs: number; readonly busyTimeoutMs: number }): AuditStoreOptions {
  return { healthCheckIntervalMs: settings.healthCheckIntervalMs, busyTimeoutMs: settings.busyTimeoutMs };
}

/**
 * Opens (and creates if absent) the store, and proves it can write (a fresh `checkWritable`). Rejects
 * with TNP_ERR_AUDIT_UNAVAILABLE, naming the store and the reason, when the file cannot be created, the
 * database cannot be reached, or a write cannot be committed (a read-only file or database, a user
 * without INSERT, a full disk, a writer lock held past `busyTimeoutMs`), so the service fails at start
 * rather than at the first patient.
 */
export async function openAuditStore(settings: AuditStoreSettings, deps: AuditStoreDeps, options: AuditStoreOptions = {}): Promise<AuditStore> {
  const store = await openBackend(settings, deps, options);
  const check = await store.checkWritable({ fresh: true });
  if (!check.ok) {
    await store.close().catch(() => undefined);
    throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', `the audit store ${store.location} cannot be written: ${check.problem}`);
  }
  return store;
}

async function openBackend(settings: AuditStoreSettings, deps: AuditStoreDeps, options: AuditStoreOptions): Promise<AuditStore> {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  let where = settings.kind === 'sqlite' ? resolve(settings.path) : 'on PostgreSQL';
  try {
    if (settings.kind === 'sqlite') {
      const { openSqliteBackend } = await import('./sqlite.js');
      return new AuditStoreImpl(openSqliteBackend(settings.path, { busyTimeoutMs }), deps, options);
    }
    if (settings.kind === 'postgres') {
      const { postgresLocation } = await import('./postgres-schema.js');
      where = postgresLocation(settings.url, settings.schema);
      const { openPostgresBackend } = await import('./postgres.js');
      const backend = await openPostgresBackend(settings.url, settings.schema, {
        busyTimeoutMs,
        poolSize: options.poolSize ?? 4,
        connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      });
      return new AuditStoreImpl(backend, deps, options);
    }
  } catch (e) {
    if (e instanceof TnpError) throw e;
    throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', `the audit store ${where} cannot be opened: ${problemOf(e)}`, { cause: e });
  }
  throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `unknown storage kind: ${String((settings as { kind?: unknown }).kind)}`, { expression: ['storage.kind'] });
}
