/**
 * Group commit, behind the store (core.ts): `append`, `appendWithJti`, `commitEvent` and `rememberJti`
 * queue an operation and schedule a flush with setImmediate, so every call made in the same turn of the
 * event loop (e.g. all requests read in one poll phase) lands in one transaction; calls made while a
 * transaction is in flight wait and go together into the next one. One transaction = one fsync, so the
 * cost of durability is shared by the batch instead of paid per request. No promise resolves before the
 * transaction holding its operation has committed.
 */
import { TnpError } from '../errors.js';
import type { Backend, BatchRequest, EventOutcome, PendingAppend, PendingEvent, PendingJti } from './batch.js';
import { unavailable } from './guards.js';
import type { AuditRecord } from './record.js';

export type Op =
  | { readonly type: 'append'; readonly pending: PendingAppend; readonly resolve: (r: AuditRecord) => void; readonly reject: (e: Error) => void }
  | { readonly type: 'jti'; readonly pending: PendingJti; readonly resolve: (b: boolean) => void; readonly reject: (e: Error) => void }
  | { readonly type: 'event'; readonly pending: PendingEvent; readonly resolve: (o: EventOutcome) => void; readonly reject: (e: Error) => void };

/** The store's write counters (AuditStoreStats without the health probes), updated in place. */
export interface WriteCounters {
  commits: number;
  appended: number;
  deduplicated: number;
  jtiChecks: number;
  failedCommits: number;
  largestBatch: number;
}

export interface GroupCommitDeps {
  readonly backend: Backend;
  readonly now: () => Date;
  /** Most operations in one transaction; more wait for the next one. */
  readonly maxBatch: number;
  /** How long a replay-guard entry outlives its expiry. */
  readonly jtiGraceMs: number;
  readonly counters: WriteCounters;
  /** The store's write health, told of every commit and failed commit. */
  readonly health: { note(ok: boolean, e?: unknown): void };
}

const PRUNE_INTERVAL_MS = 60_000;

export class GroupCommit {
  private queue: Op[] = [];
  private flushScheduled = false;
  private flushing = false;
  private idleWaiters: (() => void)[] = [];
  private lastPruneMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: GroupCommitDeps) {}

  enqueue(op: Op): void {
    this.queue.push(op);
    if (!this.flushing && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /** Resolves when nothing is queued, scheduled or in flight. */
  idle(): Promise<void> {
    if (!this.flushing && !this.flushScheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Commits queued operations batch after batch until the queue is empty. Never rejects. */
  private async flush(): Promise<void> {
    this.flushScheduled = false;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.deps.maxBatch);
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
    const { counters, health } = this.deps;
    const appendOps = batch.filter((o): o is Extract<Op, { type: 'append' }> => o.type === 'append');
    const jtiOps = batch.filter((o): o is Extract<Op, { type: 'jti' }> => o.type === 'jti');
    const eventOps = batch.filter((o): o is Extract<Op, { type: 'event' }> => o.type === 'event');
    const nowMs = this.deps.now().getTime();
    const prune = nowMs - this.lastPruneMs >= PRUNE_INTERVAL_MS;
    const req: BatchRequest = {
      appends: appendOps.map((o) => o.pending),
      events: eventOps.map((o) => o.pending),
      jtis: jtiOps.map((o) => o.pending),
      jtiReusableBeforeMs: nowMs - this.deps.jtiGraceMs,
      prune,
    };
    let result;
    try {
      result = await this.deps.backend.commitBatch(req);
    } catch (e) {
      counters.failedCommits += 1;
      health.note(false, e);
      const err = unavailable('write', e);
      for (const o of batch) o.reject(err);
      return;
    }
    if (prune) this.lastPruneMs = nowMs;
    health.note(true);
    counters.commits += 1;
    counters.largestBatch = Math.max(counters.largestBatch, batch.length);
    counters.jtiChecks += jtiOps.length + appendOps.filter((o) => o.pending.jti !== undefined).length;
    appendOps.forEach((o, i) => {
      const out = result.appends[i];
      if (out === undefined) o.reject(new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store gave no outcome for an append'));
      else if (!out.ok) o.reject(out.error);
      else {
        if (out.record.id === o.pending.id) counters.appended += 1;
        else counters.deduplicated += 1;
        o.resolve(out.record);
      }
    });
    jtiOps.forEach((o, i) => o.resolve(result.jtis[i] ?? false));
    eventOps.forEach((o, i) => {
      const out = result.events[i];
      if (out === undefined) o.reject(new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store gave no outcome for an event'));
      else {
        if (out.ok) counters.appended += out.records.length;
        o.resolve(out);
      }
    });
  }
}
