/**
 * The chain checks on stored rows, shared by both stores: `verify` walks the whole chain, and every read
 * for people (GET /audit/{id}, GET /audit?patient=) checks each record it returns against its own hash
 * and its links to the records before and after it, so an edited record is never served as sound.
 */
import { GENESIS_HASH, makeRecord, recordHash, rowFields, type AuditKind, type AuditRecord, type AuditRow } from './record.js';

/**
 * What is wrong with a stored row's own content, or undefined when its `hash` is the hash of what is
 * stored (the record is as it was appended). Links to other records are not looked at here.
 */
export function contentProblem(row: AuditRow): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(row.body) as unknown;
  } catch {
    return 'body is not JSON';
  }
  let computed: string;
  try {
    computed = recordHash(rowFields(row, Number(row.seq), body));
  } catch {
    return 'the record cannot be hashed';
  }
  return computed === row.hash ? undefined : 'hash does not match the record content (the record was altered)';
}

/**
 * A head kept outside the store ({ seq: records, hash: head } from an earlier verify). Removing records
 * from the end, or rewriting the whole chain with fresh hashes, leaves a chain that is valid on its own;
 * only a comparison with a head remembered elsewhere shows it.
 */
export interface VerifyAnchor {
  readonly seq: number;
  readonly hash: string;
}

export type VerifyResult =
  | { ok: true; records: number; head: string }
  | { ok: false; records: number; head: string; firstBad: { id: string; seq: number; problem: string } };

/**
 * Walks the chain in seq order and reports the first record that breaks it. Fed page by page by the
 * store (so a long chain is never loaded at once); `finish` gives the result.
 */
export class ChainVerifier {
  private anchorSeen = false;
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  private count = 0;
  private firstBad: { id: string; seq: number; problem: string } | undefined;

  /** @param anchor a head remembered elsewhere earlier ({@link VerifyAnchor}); checked as part of the walk. */
  constructor(private readonly anchor?: VerifyAnchor) {}

  /** Checks one row; rows must come in ascending seq order. */
  push(row: AuditRow): void {
    this.count += 1;
    const seq = Number(row.seq);
    if (this.firstBad === undefined) {
      const problem = this.check(row, seq);
      if (problem !== undefined) this.firstBad = { id: row.id, seq, problem };
    }
    if (this.anchor !== undefined && seq === this.anchor.seq) {
      this.anchorSeen = true;
      if (this.firstBad === undefined && row.hash !== this.anchor.hash) {
        this.firstBad = { id: row.id, seq, problem: 'hash differs from the remembered head at this seq (the chain was rewritten from here or before)' };
      }
    }
    this.expectedSeq = seq + 1;
    this.prevHash = row.hash;
  }

  private check(row: AuditRow, seq: number): string | undefined {
    if (seq !== this.expectedSeq) {
      return seq > this.expectedSeq
        ? `seq gap: expected seq ${this.expectedSeq}, found ${seq} (records removed before this one)`
        : `seq out of order: expected seq ${this.expectedSeq}, found ${seq}`;
    }
    if (row.prev_hash !== this.prevHash) {
      return seq === 1 ? 'prevHash of the first record is not the genesis hash' : `prevHash does not match the hash of record seq ${seq - 1}`;
    }
    return contentProblem(row);
  }

  finish(): VerifyResult {
    const head = this.prevHash;
    if (this.firstBad === undefined && this.anchor !== undefined && !this.anchorSeen) {
      this.firstBad = { id: '', seq: this.anchor.seq, problem: `the chain ends at seq ${this.expectedSeq - 1}, before the remembered head at seq ${this.anchor.seq} (records removed from the end)` };
    }
    return this.firstBad === undefined ? { ok: true, records: this.count, head } : { ok: false, records: this.count, head, firstBad: this.firstBad };
  }
}

/**
 * The integrity of a record as read: `ok` when its hash is the hash of its stored content, its `prevHash`
 * is the hash of the record before it (genesis for seq 1) and the record after it (if any) links to it.
 * `problems` names each failed check, in the words `verify` uses.
 */
export interface RecordIntegrity {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

/**
 * A record as read for people, with its {@link RecordIntegrity}. A body that is no longer JSON is given
 * as the stored text (and `integrity.ok` is false).
 */
export type CheckedRecord = AuditRecord & { readonly integrity: RecordIntegrity };

/** What links a record to its neighbours. */
export interface LinkRow {
  readonly seq: number;
  readonly prev_hash: string;
  readonly hash: string;
}

/** The neighbours of the rows being read, and the highest seq stored (read before the neighbours). */
export interface Neighbourhood {
  readonly maxSeq: number;
  readonly rows: readonly LinkRow[];
}

/** The seqs the store must look up to check the links of `rows`: their neighbours not among them. */
export function neighbourSeqs(rows: readonly AuditRow[]): number[] {
  const have = new Set(rows.map((r) => Number(r.seq)));
  const want = new Set<number>();
  for (const r of rows) {
    const seq = Number(r.seq);
    for (const n of [seq - 1, seq + 1]) if (n >= 1 && !have.has(n)) want.add(n);
  }
  return [...want];
}

/** Every row a read can link to, by seq, and the highest seq stored. */
export interface LinkIndex {
  readonly bySeq: ReadonlyMap<number, LinkRow>;
  readonly maxSeq: number;
}

/**
 * The links around the rows being read. `around` must come from the same store, read after `rows` (its
 * `maxSeq` before its rows), so every seq up to `maxSeq` was committed when it was looked up: a neighbour
 * missing below `maxSeq` was removed, not yet to come.
 */
export function linkIndex(rows: readonly AuditRow[], around: Neighbourhood): LinkIndex {
  const bySeq = new Map<number, LinkRow>();
  for (const r of [...around.rows, ...rows]) bySeq.set(Number(r.seq), r);
  return { bySeq, maxSeq: around.maxSeq };
}

/** Checks one row against its own hash and its links to the records before and after it. */
export function checkRow(row: AuditRow, links: LinkIndex): CheckedRecord {
  const seq = Number(row.seq);
  const problems: string[] = [];
  const own = contentProblem(row);
  if (own !== undefined) problems.push(own);
  if (seq === 1) {
    if (row.prev_hash !== GENESIS_HASH) problems.push('prevHash of the first record is not the genesis hash');
  } else {
    const prev = links.bySeq.get(seq - 1);
    if (prev === undefined) problems.push(`the record before it (seq ${seq - 1}) is missing (records removed)`);
    else if (prev.hash !== row.prev_hash) problems.push(`prevHash does not match the hash of record seq ${seq - 1}`);
  }
  const next = links.bySeq.get(seq + 1);
  if (next === undefined) {
    if (seq < links.maxSeq) problems.push(`the record after it (seq ${seq + 1}) is missing (records removed)`);
  } else if (next.prev_hash !== row.hash) {
    problems.push(`the next record (seq ${seq + 1}) does not link to this one (this record or the next one was altered)`);
  }
  return { ...readableRecord(row, seq), integrity: { ok: problems.length === 0, problems } };
}

/** The record of a row; a body that is not JSON is kept as its stored text (the integrity says so). */
function readableRecord(row: AuditRow, seq: number): AuditRecord {
  let body: unknown;
  try {
    body = JSON.parse(row.body) as unknown;
  } catch {
    body = row.body;
  }
  return makeRecord({ ...rowFields(row, seq, body), kind: row.kind as AuditKind, hash: row.hash });
}
