/**
 * Bulk append (`AuditStore.appendBulk`): entries in order, a chunk per transaction, each chunk committed by
 * the very transaction a group commit runs (writer lock, head, idempotency-key and id lookups,
 * `planAppends`, insert), with appends only. So the rows and the hash chain are exactly those `append`
 * writes for the same inputs, ids and order; only the number of records per transaction differs.
 */
import { TnpError } from '../errors.js';
import type { AppendOutcome, Backend, PendingAppend } from './batch.js';
import { isStorableText, normaliseInput, type AuditRecordInput } from './record.js';

export interface BulkEntry {
  readonly id: string;
  readonly input: AuditRecordInput;
}

/**
 * Entries checked and brought to their stored form (the canonical body text) once, for loading the same
 * entries into several stores (`appendBulk` accepts it in place of the entries).
 */
export class PreparedBulk {
  /** @internal */
  readonly pending: readonly PendingAppend[];
  constructor(entries: readonly BulkEntry[]) {
    this.pending = pendingOfBulk(entries);
  }
  get length(): number {
    return this.pending.length;
  }
}

/** Checks every entry before anything is written (TNP_ERR_AUDIT_RECORD_INVALID names the entry). */
export function pendingOfBulk(entries: readonly BulkEntry[] | PreparedBulk): readonly PendingAppend[] {
  if (entries instanceof PreparedBulk) return entries.pending;
  return entries.map((e, i) => {
    if (!isStorableText(e.id)) throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `appendBulk: entry ${i} has no usable id`, { expression: ['id'] });
    return { id: e.id, input: normaliseInput(e.input) };
  });
}

/** What a bulk append counts (the store's counters) and notes (the store's write health). */
export interface BulkAccounting {
  readonly counters: { commits: number; appended: number; deduplicated: number; failedCommits: number; largestBatch: number };
  readonly health: { note(ok: boolean, e?: unknown): void };
  /** The error a failed commit rejects with. */
  failed(e: unknown): Error;
}

/**
 * Commits `pending` in chunks of `chunkSize`, one transaction each, in order, counting as a group commit
 * does. A chunk that cannot be committed rejects the call; the chunks before it stay committed.
 */
export async function appendInChunks(backend: Backend, pending: readonly PendingAppend[], chunkSize: number, reusableBeforeMs: () => number, acc: BulkAccounting): Promise<AppendOutcome[]> {
  const size = Math.max(1, Math.floor(chunkSize));
  const out: AppendOutcome[] = [];
  for (let i = 0; i < pending.length; i += size) {
    const chunk = pending.slice(i, i + size);
    let result;
    try {
      result = await backend.commitBatch({ appends: chunk, events: [], jtis: [], jtiReusableBeforeMs: reusableBeforeMs(), prune: false });
    } catch (e) {
      acc.counters.failedCommits += 1;
      acc.health.note(false, e);
      throw acc.failed(e);
    }
    acc.health.note(true);
    acc.counters.commits += 1;
    acc.counters.largestBatch = Math.max(acc.counters.largestBatch, chunk.length);
    chunk.forEach((p, k) => {
      const o: AppendOutcome = result.appends[k] ?? { ok: false, error: new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store gave no outcome for an append') };
      if (o.ok && o.record.id === p.id) acc.counters.appended += 1;
      else if (o.ok) acc.counters.deduplicated += 1;
      out.push(o);
    });
  }
  return out;
}
