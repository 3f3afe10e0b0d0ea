/**
 * The store behind the port, common to both databases: input checks, group commit, error mapping and
 * closing. The backends (sqlite.ts, postgres.ts) only run SQL.
 *
 * Group commit: `append` and `rememberJti` queue an operation and schedule a flush with setImmediate,
 * so every call made in the same turn of the event loop (e.g. all requests read in one poll phase) lands
 * in one transaction; calls made while a transaction is in flight wait and go together into the next
 * one. One transaction = one fsync, so the cost of durability is shared by the batch instead of paid
 * per request. No promise resolves before the transaction holding its operation has committed.
 */
import { TnpError } from '../errors.js';
import type { AppendOutcome, Backend, BatchRequest, EventOutcome, PendingAppend, PendingEvent, PendingJti } from './batch.js';
import type { LabEvent, LabOutbox, LabReads } from './lab/types.js';
import { appendInChunks, pendingOfBulk, type BulkEntry, type PreparedBulk } from './bulk.js';
import { ChainVerifier, checkRow, linkIndex, neighbourSeqs, type CheckedRecord, type VerifyAnchor, type VerifyResult } from './chain.js';
import { WriteHealth, type WriteCheck } from './health.js';
import { isStorableText, normaliseInput, rowToRecord, type AuditRecord, type AuditRecordInput, type AuditRow } from './record.js';
import type { AuditStore, AuditStoreDeps, AuditStoreOptions, AuditStoreStats } from './store.js';

type Op =
  | { readonly type: 'append'; readonly pending: PendingAppend; readonly resolve: (r: AuditRecord) => void; readonly reject: (e: Error) => void }
  | { readonly type: 'jti'; readonly pending: PendingJti; readonly resolve: (b: boolean) => void; readonly reject: (e: Error) => void }
  | { readonly type: 'event'; readonly pending: PendingEvent; readonly resolve: (o: EventOutcome) => void; readonly reject: (e: Error) => void };

const PRUNE_INTERVAL_MS = 60_000;
const VERIFY_PAGE = 1000;
/** Records checked between two turns of the event loop when a read checks many. */
const CHECK_SLICE = 1000;

function unavailable(what: string, e: unknown): TnpError {
  if (e instanceof TnpError) return e;
  return new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', `the audit store cannot ${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/**
 * The laboratory reads and outbox as callers see them: a driver's error (a lost connection, a timeout) is
 * TNP_ERR_AUDIT_UNAVAILABLE (503, retry), like the store's own reads, never an internal error.
 */
function guardLab(lab: LabReads & LabOutbox): LabReads & LabOutbox {
  return new Proxy(lab, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]): unknown => {
        const out: unknown = (v as (...a: unknown[]) => unknown).apply(target, args);
        return out instanceof Promise ? out.catch((e: unknown) => Promise.reject(unavailable('be read', e))) : out;
      };
    },
  });
}

function checkJti(what: string, iss: string, jti: string, expiresAt: Date): PendingJti {
  if (!isStorableText(iss)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `${what}: iss must be a non-empty string (no NUL, well-formed Unicode)`, { expression: ['iss'] });
  if (!isStorableText(jti)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `${what}: jti must be a non-empty string (no NUL, well-formed Unicode)`, { expression: ['jti'] });
  const expiresAtMs = expiresAt instanceof Date ? expiresAt.getTime() : Number.NaN;
  if (!Number.isFinite(expiresAtMs)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `${what}: expiresAt must be a valid Date`, { expression: ['expiresAt'] });
  return { iss, jti, expiresAtMs };
}

export class AuditStoreImpl implements AuditStore {
  readonly location: string;
  readonly warnings: readonly string[];
  private readonly maxBatch: number;
  private readonly jtiGraceMs: number;
  private queue: Op[] = [];
  private flushScheduled = false;
  private flushing = false;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private closing: Promise<void> | undefined;
  private lastPruneMs = Number.NEGATIVE_INFINITY;
  private readonly health: WriteHealth;
  private readonly labGuarded: LabReads & LabOutbox;
  private bulks = new Set<Promise<unknown>>();
  private counters = { commits: 0, appended: 0, deduplicated: 0, jtiChecks: 0, failedCommits: 0, largestBatch: 0 };

  constructor(
    private readonly backend: Backend,
    private readonly deps: AuditStoreDeps,
    options: AuditStoreOptions,
  ) {
    this.location = backend.location;
    this.warnings = backend.warnings;
    this.maxBatch = Math.max(1, Math.floor(options.maxBatch ?? 500));
    this.jtiGraceMs = Math.max(0, (options.jtiGraceSeconds ?? 300) * 1000);
    this.health = new WriteHealth((atMs) => backend.probeWrite(atMs), deps.now, Math.max(0, options.healthCheckIntervalMs ?? 5000));
    backend.onConnectionError?.((e) => this.health.suspect(e));
    this.labGuarded = guardLab(backend.lab);
  }

  append(input: AuditRecordInput): Promise<AuditRecord> {
    return new Promise<AuditRecord>((resolve, reject) => {
      if (this.closed) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store is closed');
      const normalised = normaliseInput(input);
      const id = this.deps.newId();
      if (!isStorableText(id)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', 'deps.newId gave no usable id', { expression: ['id'] });
      this.enqueue({ type: 'append', pending: { id, input: normalised }, resolve, reject });
    });
  }

  appendWithJti(input: AuditRecordInput, iss: string, jti: string, expiresAt: Date): Promise<AuditRecord> {
    return new Promise<AuditRecord>((resolve, reject) => {
      if (this.closed) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store is closed');
      const pendingJti = checkJti('appendWithJti', iss, jti, expiresAt);
      const normalised = normaliseInput(input);
      const id = this.deps.newId();
      if (!isStorableText(id)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', 'deps.newId gave no usable id', { expression: ['id'] });
      this.enqueue({ type: 'append', pending: { id, input: normalised, jti: pendingJti }, resolve, reject });
    });
  }

  appendBulk(entries: readonly BulkEntry[] | PreparedBulk, opts: { readonly chunkSize?: number } = {}): Promise<AppendOutcome[]> {
    const acc = { counters: this.counters, health: this.health, failed: (e: unknown) => unavailable('write', e) };
    const run = Promise.resolve().then(() => {
      this.assertOpen();
      return appendInChunks(this.backend, pendingOfBulk(entries), opts.chunkSize ?? 5000, () => this.deps.now().getTime() - this.jtiGraceMs, acc);
    });
    this.bulks.add(run);
    const done = (): void => void this.bulks.delete(run);
    run.then(done, done);
    return run;
  }

  get lab(): LabReads & LabOutbox {
    this.assertOpen();
    return this.labGuarded;
  }

  commitEvent(event: LabEvent, records: readonly { readonly id: string; readonly input: AuditRecordInput }[]): Promise<EventOutcome> {
    return new Promise<EventOutcome>((resolve, reject) => {
      if (this.closed) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store is closed');
      const appends = records.map((r) => {
        if (!isStorableText(r.id)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', 'an event record has no usable id', { expression: ['id'] });
        if (r.input.linksTo !== undefined || r.input.idempotencyKey !== undefined) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', 'event records take no linksTo or idempotencyKey', { expression: ['linksTo'] });
        return { id: r.id, input: normaliseInput(r.input) };
      });
      this.enqueue({ type: 'event', pending: { event, appends }, resolve, reject });
    });
  }

  rememberJti(iss: string, jti: string, expiresAt: Date): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      if (this.closed) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store is closed');
      this.enqueue({ type: 'jti', pending: checkJti('rememberJti', iss, jti, expiresAt), resolve, reject });
    });
  }

  async isJtiHeld(iss: string, jti: string): Promise<boolean> {
    this.assertOpen();
    try {
      return await this.backend.jtiHeld(iss, jti, this.deps.now().getTime() - this.jtiGraceMs);
    } catch (e) {
      throw unavailable('be read', e);
    }
  }

  async get(id: string): Promise<AuditRecord | null> {
    this.assertOpen();
    let row;
    try {
      row = await this.backend.getRow(id);
    } catch (e) {
      throw unavailable('be read', e);
    }
    return row === undefined ? null : rowToRecord(row);
  }

  async listByPatient(patientId: string, opts: { limit?: number } = {}): Promise<AuditRecord[]> {
    this.assertOpen();
    const limit = Math.min(10_000, Math.max(1, Math.floor(opts.limit ?? 100)));
    let rows;
    try {
      rows = await this.backend.rowsByPatient(patientId, Number.isFinite(limit) ? limit : 100);
    } catch (e) {
      throw unavailable('be read', e);
    }
    return rows.map(rowToRecord);
  }

  async getChecked(id: string): Promise<CheckedRecord | null> {
    this.assertOpen();
    try {
      const row = await this.backend.getRow(id);
      return row === undefined ? null : ((await this.checked([row]))[0] ?? null);
    } catch (e) {
      throw unavailable('be read', e);
    }
  }

  async listByPatientChecked(patientId: string, opts: { limit?: number } = {}): Promise<CheckedRecord[]> {
    this.assertOpen();
    const limit = Math.min(10_000, Math.max(1, Math.floor(opts.limit ?? 100)));
    try {
      return await this.checked(await this.backend.rowsByPatient(patientId, Number.isFinite(limit) ? limit : 100));
    } catch (e) {
      throw unavailable('be read', e);
    }
  }

  /** Checks rows (read just before) against their hashes and their neighbours, a slice per turn of the event loop. */
  private async checked(rows: readonly AuditRow[]): Promise<CheckedRecord[]> {
    const links = linkIndex(rows, await this.backend.linkRows(neighbourSeqs(rows)));
    const out: CheckedRecord[] = [];
    for (let i = 0; i < rows.length; i++) {
      if (i > 0 && i % CHECK_SLICE === 0) await new Promise<void>((r) => setImmediate(r));
      const row = rows[i];
      if (row !== undefined) out.push(checkRow(row, links));
    }
    return out;
  }

  checkWritable(opts: { fresh?: boolean } = {}): Promise<WriteCheck> {
    if (this.closed) return Promise.resolve({ ok: false, checkedAt: this.deps.now().toISOString(), problem: 'the audit store is closed' });
    const loss = this.health.lastLoss;
    return this.health.check(opts.fresh === true).then((c) => (loss === undefined ? c : { ...c, connectionLost: loss }));
  }

  async verify(opts: { anchor?: VerifyAnchor } = {}): Promise<VerifyResult> {
    this.assertOpen();
    const anchor = opts.anchor;
    if (anchor !== undefined && (!Number.isSafeInteger(anchor.seq) || anchor.seq < 1 || typeof anchor.hash !== 'string')) {
      throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', 'verify: anchor must be { seq: a positive integer, hash: string }', { expression: ['anchor'] });
    }
    const verifier = new ChainVerifier(anchor);
    try {
      for await (const page of this.backend.chainPages(VERIFY_PAGE)) {
        for (const row of page) verifier.push(row);
      }
    } catch (e) {
      throw unavailable('be read', e);
    }
    return verifier.finish();
  }

  stats(): AuditStoreStats {
    return { ...this.counters, healthProbes: this.health.probes };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await this.idle();
      await Promise.allSettled([...this.bulks]);
      await this.health.settled();
      await this.backend.close();
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closed) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store is closed');
  }

  private enqueue(op: Op): void {
    this.queue.push(op);
    if (!this.flushing && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /** Commits queued operations batch after batch until the queue is empty. Never rejects. */
  private async flush(): Promise<void> {
    this.flushScheduled = false;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        await this.commit(batch);
      }
    } finally {
      this.flushing = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async commit(batch: Op[]): Promise<void> {
    const appendOps = batch.filter((o): o is Extract<Op, { type: 'append' }> => o.type === 'append');
    const jtiOps = batch.filter((o): o is Extract<Op, { type: 'jti' }> => o.type === 'jti');
    const eventOps = batch.filter((o): o is Extract<Op, { type: 'event' }> => o.type === 'event');
    const nowMs = this.deps.now().getTime();
    const prune = nowMs - this.lastPruneMs >= PRUNE_INTERVAL_MS;
    const req: BatchRequest = {
      appends: appendOps.map((o) => o.pending),
      events: eventOps.map((o) => o.pending),
      jtis: jtiOps.map((o) => o.pending),
      jtiReusableBeforeMs: nowMs - this.jtiGraceMs,
      prune,
    };
    let result;
    try {
      result = await this.backend.commitBatch(req);
    } catch (e) {
      this.counters.failedCommits += 1;
      this.health.note(false, e);
      const err = unavailable('write', e);
      for (const o of batch) o.reject(err);
      return;
    }
    if (prune) this.lastPruneMs = nowMs;
    this.health.note(true);
    this.counters.commits += 1;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, batch.length);
    this.counters.jtiChecks += jtiOps.length + appendOps.filter((o) => o.pending.jti !== undefined).length;
    appendOps.forEach((o, i) => {
      const out = result.appends[i];
      if (out === undefined) o.reject(new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store gave no outcome for an append'));
      else if (!out.ok) o.reject(out.error);
      else {
        if (out.record.id === o.pending.id) this.counters.appended += 1;
        else this.counters.deduplicated += 1;
        o.resolve(out.record);
      }
    });
    jtiOps.forEach((o, i) => o.resolve(result.jtis[i] ?? false));
    eventOps.forEach((o, i) => {
      const out = result.events[i];
      if (out === undefined) o.reject(new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store gave no outcome for an event'));
      else {
        if (out.ok) this.counters.appended += out.records.length;
        o.resolve(out);
      }
    });
  }

  private idle(): Promise<void> {
    if (!this.flushing && !this.flushScheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
