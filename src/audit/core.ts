/**
 * The store behind the port, common to both databases: reads and their checks, verify, write health and
 * closing; writes go through the group commit (group-commit.ts), input checks and error mapping are in
 * guards.ts. The backends (sqlite.ts, postgres.ts) only run SQL.
 */
import { TnpError } from '../errors.js';
import type { AppendOutcome, Backend, EventOutcome } from './batch.js';
import type { LabEvent, LabOutbox, LabReads } from './lab/types.js';
import { appendInChunks, pendingOfBulk, type BulkEntry, type PreparedBulk } from './bulk.js';
import { GroupCommit, type WriteCounters } from './group-commit.js';
import { checkJti, guardLab, unavailable } from './guards.js';
import { ChainVerifier, checkRow, linkIndex, neighbourSeqs, type CheckedRecord, type VerifyAnchor, type VerifyResult } from './chain.js';
import { WriteHealth, type WriteCheck } from './health.js';
import { isStorableText, normaliseInput, rowToRecord, type AuditRecord, type AuditRecordInput, type AuditRow } from './record.js';
import type { AuditStore, AuditStoreDeps, AuditStoreOptions, AuditStoreStats } from './store.js';

/** A patient's records listed at once (`GET /audit?patient=&limit=`): at most this many, this many by default. */
export const PATIENT_LIST_MAX = 10_000;
export const PATIENT_LIST_DEFAULT = 100;

const VERIFY_PAGE = 1000;
/** Records checked between two turns of the event loop when a read checks many. */
const CHECK_SLICE = 1000;

export class AuditStoreImpl implements AuditStore {
  readonly location: string;
  readonly warnings: readonly string[];
  private readonly jtiGraceMs: number;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly health: WriteHealth;
  private readonly writes: GroupCommit;
  private readonly labGuarded: LabReads & LabOutbox;
  private bulks = new Set<Promise<unknown>>();
  private readonly counters: WriteCounters = { commits: 0, appended: 0, deduplicated: 0, jtiChecks: 0, failedCommits: 0, largestBatch: 0 };

  constructor(
    private readonly backend: Backend,
    private readonly deps: AuditStoreDeps,
    options: AuditStoreOptions,
  ) {
    this.location = backend.location;
    this.warnings = backend.warnings;
    const maxBatch = Math.max(1, Math.floor(options.maxBatch ?? 500));
    this.jtiGraceMs = Math.max(0, (options.jtiGraceSeconds ?? 300) * 1000);
    this.health = new WriteHealth((atMs) => backend.probeWrite(atMs), deps.now, Math.max(0, options.healthCheckIntervalMs ?? 5000));
    backend.onConnectionError?.((e) => this.health.suspect(e));
    this.labGuarded = guardLab(backend.lab);
    this.writes = new GroupCommit({ backend, now: () => deps.now(), maxBatch, jtiGraceMs: this.jtiGraceMs, counters: this.counters, health: this.health });
  }

  append(input: AuditRecordInput): Promise<AuditRecord> {
    return new Promise<AuditRecord>((resolve, reject) => {
      if (this.closed) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store is closed');
      const normalised = normaliseInput(input);
      const id = this.deps.newId();
      if (!isStorableText(id)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', 'deps.newId gave no usable id', { expression: ['id'] });
      this.writes.enqueue({ type: 'append', pending: { id, input: normalised }, resolve, reject });
    });
  }

  appendWithJti(input: AuditRecordInput, iss: string, jti: string, expiresAt: Date): Promise<AuditRecord> {
    return new Promise<AuditRecord>((resolve, reject) => {
      if (this.closed) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store is closed');
      const pendingJti = checkJti('appendWithJti', iss, jti, expiresAt);
      const normalised = normaliseInput(input);
      const id = this.deps.newId();
      if (!isStorableText(id)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', 'deps.newId gave no usable id', { expression: ['id'] });
      this.writes.enqueue({ type: 'append', pending: { id, input: normalised, jti: pendingJti }, resolve, reject });
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
      this.writes.enqueue({ type: 'event', pending: { event, appends }, resolve, reject });
    });
  }

  rememberJti(iss: string, jti: string, expiresAt: Date): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      if (this.closed) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store is closed');
      this.writes.enqueue({ type: 'jti', pending: checkJti('rememberJti', iss, jti, expiresAt), resolve, reject });
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
    const limit = Math.min(PATIENT_LIST_MAX, Math.max(1, Math.floor(opts.limit ?? PATIENT_LIST_DEFAULT)));
    let rows;
    try {
      rows = await this.backend.rowsByPatient(patientId, Number.isFinite(limit) ? limit : PATIENT_LIST_DEFAULT);
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
    const limit = Math.min(PATIENT_LIST_MAX, Math.max(1, Math.floor(opts.limit ?? PATIENT_LIST_DEFAULT)));
    try {
      return await this.checked(await this.backend.rowsByPatient(patientId, Number.isFinite(limit) ? limit : PATIENT_LIST_DEFAULT));
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
      await this.writes.idle();
      await Promise.allSettled([...this.bulks]);
      await this.health.settled();
      await this.backend.close();
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closed) throw new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store is closed');
  }
}
