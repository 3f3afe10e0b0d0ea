/**
 * What one group-commit transaction does, independent of the database: given the chain head and what
 * the store already holds for the batch's keys and ids, decide which appends become new rows (with their
 * seq, prevHash and hash), which are idempotent repeats, and which are refused; and which replay-guard
 * entries are new. Both backends run this inside their write transaction, after taking the writer lock,
 * so the decisions are made against the state the transaction commits on.
 */
import { TnpError } from '../errors.js';
import type { Neighbourhood } from './chain.js';
import type { LabConflict, LabEvent, LabOutbox, LabReads } from './lab/types.js';
import { GENESIS_HASH, makeRecordOfText, recordHashOfBodyText, type AuditRecord, type AuditRow, type NormalisedInput } from './record.js';

export interface PendingAppend {
  /** Chosen when `append` was called (deps.newId), so the caller's id never depends on batching. */
  readonly id: string;
  readonly input: NormalisedInput;
  /**
   * A replay-guard entry that must be new for this record to be appended (`appendWithJti`): it is
   * upserted in the same transaction, before the records are planned, and a refused entry drops the
   * append from the batch (no seq, no row) with a {@link JtiReplayedError}.
   */
  readonly jti?: PendingJti | undefined;
}

/** `appendWithJti` refused: the (iss, jti) pair is already held by the replay guard; nothing was appended. */
export class JtiReplayedError extends TnpError {
  constructor() {
    super('TNP_ERR_UNAUTHORIZED', 'the JWT jti was already used: nothing was appended');
    this.name = 'JtiReplayedError';
  }
}

export interface PendingJti {
  readonly iss: string;
  readonly jti: string;
  readonly expiresAtMs: number;
}

export type AppendOutcome = { readonly ok: true; readonly record: AuditRecord } | { readonly ok: false; readonly error: TnpError };

/** What the backend looked up, inside its transaction, for {@link planAppends}. */
export interface ChainState {
  readonly head: { readonly seq: number; readonly hash: string } | undefined;
  /** Stored records holding any of the batch's idempotency keys. */
  readonly byIdempotencyKey: ReadonlyMap<string, AuditRecord>;
  /** Which of {@link idsToLookUp} already exist in the store. */
  readonly existingIds: ReadonlySet<string>;
}

/** Idempotency keys the backend must look up for this batch. */
export function keysToLookUp(appends: readonly PendingAppend[]): string[] {
  const keys = new Set<string>();
  for (const a of appends) if (a.input.idempotencyKey !== undefined) keys.add(a.input.idempotencyKey);
  return [...keys];
}

/** Record ids the backend must check for existence: the new ids (collisions) and the `linksTo` targets. */
export function idsToLookUp(appends: readonly PendingAppend[]): string[] {
  const ids = new Set<string>();
  for (const a of appends) {
    ids.add(a.id);
    if (a.input.linksTo !== undefined) ids.add(a.input.linksTo);
  }
  return [...ids];
}

/** Decides the batch's appends in call order; `rows` are to be inserted, in seq order. */
export function planAppends(appends: readonly PendingAppend[], state: ChainState): { rows: AuditRow[]; outcomes: AppendOutcome[] } {
  let seq = state.head?.seq ?? 0;
  let prevHash = state.head?.hash ?? GENESIS_HASH;
  const batchByKey = new Map<string, AuditRecord>();
  const batchIds = new Set<string>();
  const rows: AuditRow[] = [];
  const outcomes: AppendOutcome[] = [];
  for (const { id, input } of appends) {
    const key = input.idempotencyKey;
    const earlier = key === undefined ? undefined : (batchByKey.get(key) ?? state.byIdempotencyKey.get(key));
    if (earlier !== undefined) {
      outcomes.push({ ok: true, record: earlier });
      continue;
    }
    if (input.linksTo !== undefined && !state.existingIds.has(input.linksTo) && !batchIds.has(input.linksTo)) {
      outcomes.push({ ok: false, error: new TnpError('TNP_ERR_AUDIT_LINK_UNKNOWN', `linksTo names no audit record: ${input.linksTo}`, { expression: ['linksTo'] }) });
      continue;
    }
    if (state.existingIds.has(id) || batchIds.has(id)) {
      outcomes.push({ ok: false, error: new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `the new record id is already taken: ${id} (deps.newId must give unique ids)`, { expression: ['id'] }) });
      continue;
    }
    seq += 1;
    const fields = { seq, id, kind: input.kind, at: input.at, patientId: input.patientId, linksTo: input.linksTo, idempotencyKey: input.idempotencyKey, prevHash };
    // The body's canonical text was made once, in normaliseInput: it is both what is hashed and what is stored.
    const hash = recordHashOfBodyText(fields, input.bodyText);
    const record = makeRecordOfText({ ...fields, hash }, input.bodyText);
    rows.push({ seq, id, kind: input.kind, at: input.at, patient_id: input.patientId, links_to: input.linksTo ?? null, idempotency_key: key ?? null, body: input.bodyText, prev_hash: prevHash, hash });
    outcomes.push({ ok: true, record });
    if (key !== undefined) batchByKey.set(key, record);
    batchIds.add(id);
    prevHash = hash;
  }
  return { rows, outcomes };
}

/**
 * Splits the batch's replay-guard entries into the ones to upsert (first occurrence of each (iss, jti),
 * sorted so that concurrent writers lock index entries in the same order) and repeats within the batch,
 * which are refused without asking the database.
 */
export function planJti(jtis: readonly PendingJti[]): { candidates: PendingJti[]; firstIndex: Map<string, number> } {
  const firstIndex = new Map<string, number>();
  const candidates: PendingJti[] = [];
  jtis.forEach((j, i) => {
    const k = jtiKey(j.iss, j.jti);
    if (!firstIndex.has(k)) {
      firstIndex.set(k, i);
      candidates.push(j);
    }
  });
  candidates.sort((a, b) => (a.iss < b.iss ? -1 : a.iss > b.iss ? 1 : a.jti < b.jti ? -1 : a.jti > b.jti ? 1 : 0));
  return { candidates, firstIndex };
}

export function jtiKey(iss: string, jti: string): string {
  return `${iss}\u0000${jti}`;
}

/** Per-entry answers: true only for the first occurrence of an (iss, jti) that the database accepted. */
export function jtiOutcomes(jtis: readonly PendingJti[], firstIndex: ReadonlyMap<string, number>, accepted: ReadonlySet<string>): boolean[] {
  return jtis.map((j, i) => {
    const k = jtiKey(j.iss, j.jti);
    return firstIndex.get(k) === i && accepted.has(k);
  });
}

/** The batch's replay-guard entries: the standalone ones (`rememberJti`) first, then those riding with appends. */
export function batchJtis(req: BatchRequest): PendingJti[] {
  const all = [...req.jtis];
  for (const a of req.appends) if (a.jti !== undefined) all.push(a.jti);
  return all;
}

/**
 * After the replay-guard upserts (`accepted[i]` answers `batchJtis(req)[i]`): the appends that may go on
 * (those without a jti, and those whose jti was new), the standalone answers, and `merge`, which puts
 * the planned appends' outcomes back in call order with a {@link JtiReplayedError} for each dropped one.
 */
export function appendsAfterJti(req: BatchRequest, accepted: readonly boolean[]): { appends: PendingAppend[]; jtis: boolean[]; merge: (planned: readonly AppendOutcome[]) => AppendOutcome[] } {
  const jtis = req.jtis.map((_, i) => accepted[i] ?? false);
  const kept: PendingAppend[] = [];
  const refused: boolean[] = [];
  let k = req.jtis.length;
  for (const a of req.appends) {
    const ok = a.jti === undefined || (accepted[k++] ?? false);
    refused.push(!ok);
    if (ok) kept.push(a);
  }
  const merge = (planned: readonly AppendOutcome[]): AppendOutcome[] => {
    let p = 0;
    return refused.map((r): AppendOutcome => (r ? { ok: false, error: new JtiReplayedError() } : (planned[p++] ?? { ok: false, error: new TnpError('TNP_ERR_AUDIT_UNAVAILABLE', 'the audit store gave no outcome for an append') })));
  };
  return { appends: kept, jtis, merge };
}

/** A laboratory event and the audit records it appends (in the same transaction, after its writes). */
export interface PendingEvent {
  readonly event: LabEvent;
  readonly appends: readonly PendingAppend[];
}

export type EventOutcome = { readonly ok: true; readonly records: readonly AuditRecord[] } | LabConflict;

/**
 * Plans an event's records after the chain head `head` (the batch's running head); `existingIds` are the
 * event's record ids already taken (a defect of newId). Returns the rows to insert and the new head.
 */
export function planEventAppends(appends: readonly PendingAppend[], head: { seq: number; hash: string } | undefined, existingIds: ReadonlySet<string>): { rows: AuditRow[]; records: AuditRecord[]; head: { seq: number; hash: string } | undefined } {
  const plan = planAppends(appends, { head, byIdempotencyKey: new Map(), existingIds });
  const records: AuditRecord[] = [];
  for (const o of plan.outcomes) {
    if (!o.ok) throw o.error;
    records.push(o.record);
  }
  const last = plan.rows[plan.rows.length - 1];
  return { rows: plan.rows, records, head: last === undefined ? head : { seq: last.seq, hash: last.hash } };
}

/** What a backend does in one write transaction. */
export interface BatchRequest {
  readonly appends: readonly PendingAppend[];
  /** Laboratory events, applied after the appends, each all or nothing (a savepoint each). */
  readonly events: readonly PendingEvent[];
  readonly jtis: readonly PendingJti[];
  /** Replay-guard rows with expires_at below this may be replaced (and are pruned when `prune`). */
  readonly jtiReusableBeforeMs: number;
  /** Delete replay-guard rows that can no longer block anything. */
  readonly prune: boolean;
}

export interface BatchResult {
  readonly appends: readonly AppendOutcome[];
  readonly jtis: readonly boolean[];
  readonly events: readonly EventOutcome[];
}

/** The database side of a store: both implementations provide exactly this. */
export interface Backend {
  /** Description for logs: where the store is, never a password. */
  readonly location: string;
  /** Conditions that weaken durability, found when opening (to be logged by the service). */
  readonly warnings: readonly string[];
  /** One transaction; resolves after COMMIT returned (durable). Rejects if nothing was committed. */
  commitBatch(req: BatchRequest): Promise<BatchResult>;
  getRow(id: string): Promise<AuditRow | undefined>;
  /** Whether a replay-guard row for (iss, jti) still blocks the pair (expires_at >= reusableBeforeMs). */
  jtiHeld(iss: string, jti: string, reusableBeforeMs: number): Promise<boolean>;
  rowsByPatient(patientId: string, limit: number): Promise<AuditRow[]>;
  /** The highest seq stored, read first, then the rows with these seqs (to check links; see chain.ts). */
  linkRows(seqs: readonly number[]): Promise<Neighbourhood>;
  /**
   * The heartbeat: one committed, durable write outside the chain (upsert of the one row of
   * `audit_health`), with what records need besides (PostgreSQL: the user's privileges, the tables'
   * write locks). Rejects with the database's reason when it cannot be committed.
   */
  probeWrite(atMs: number): Promise<void>;
  /** The whole chain in seq order, a page at a time, up to the head as it was when the walk began. */
  chainPages(pageSize: number): AsyncGenerator<AuditRow[]>;
  /** The laboratory tables' reads and outbox (the events go through `commitBatch`). */
  readonly lab: LabReads & LabOutbox;
  /**
   * Where the backend reports a connection lost outside any caller's query (PostgreSQL: an 'error' on an
   * idle or checked-out client). Absent for an embedded store.
   */
  onConnectionError?(handler: (e: unknown) => void): void;
  close(): Promise<void>;
}
