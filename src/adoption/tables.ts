/**
 * Where the roll-up reads records and keeps its state: the ports, an in-memory implementation (for a
 * read-only run, and the from-scratch recomputation the tests compare the roll-up with), and the catch-up
 * loop that brings the roll-up to the head of the chain.
 */
import { randomBytes } from 'node:crypto';
import type { EpisodeState } from './episodes.js';
import type { RecordLike } from './facts.js';
import type { Granularity } from './periods.js';
import { deltaKey, patientKeyer, RollupBatch, splitDeltaKey, type BatchChanges, type CellRef, type CountRow, type Vocabularies } from './rollup.js';

export type ChainRecord = RecordLike & { readonly hash: string };

/** The audit trail, read. */
export interface RecordSource {
  /** Up to `limit` records after `afterSeq`, in seq order. */
  records(afterSeq: number, limit: number): Promise<ChainRecord[]>;
  /** The hash of the record at `seq`, or null when there is none. */
  hashAt(seq: number): Promise<string | null>;
  /** The cells of these evaluation records, by id. */
  evaluationCells(ids: readonly string[]): Promise<Map<string, CellRef>>;
}

export interface RollupHead {
  readonly lastSeq: number;
  readonly lastHash: string;
  /** The key of the patients' keyed hash (never leaves the store). */
  readonly secret: string;
}

export interface CountQuery {
  readonly granularity: Granularity;
  /** First period start, inclusive (`YYYY-MM-DD`). */
  readonly from: string;
  /** Last period start, inclusive. */
  readonly to: string;
  readonly pathwayId?: string | undefined;
}

/** The roll-up's own state. */
export interface RollupTables {
  /** The head, or null when the roll-up has never run (a read-only store without its tables). */
  head(): Promise<RollupHead | null>;
  episodesOf(patientKeys: readonly string[], sinceMs: number): Promise<EpisodeState[]>;
  /** Commits a batch if the head is still at `changes.fromSeq`; false when another process moved it. */
  commit(changes: BatchChanges, secret: string): Promise<boolean>;
  /** Forgets everything (the chain was rewritten below the head): the next catch-up starts at seq 1. */
  reset(secret: string): Promise<void>;
  counts(q: CountQuery): Promise<CountRow[]>;
}

export const newSecret = (): string => randomBytes(32).toString('base64url');

/**
 * The roll-up in memory, over `base` (read, never written) when given: episodes and counts committed
 * here are added to what `base` holds. With no base, a from-scratch computation.
 */
export class MemoryTables implements RollupTables {
  private readonly episodes = new Map<string, EpisodeState>();
  private readonly deltas = new Map<string, number>();
  private state: RollupHead | null = null;

  constructor(private readonly base: RollupTables | null = null) {}

  async head(): Promise<RollupHead | null> {
    if (this.state !== null) return this.state;
    this.state = (this.base === null ? null : await this.base.head()) ?? { lastSeq: 0, lastHash: '', secret: newSecret() };
    return this.state;
  }

  async episodesOf(patientKeys: readonly string[], sinceMs: number): Promise<EpisodeState[]> {
    const keys = new Set(patientKeys);
    const out = new Map<string, EpisodeState>();
    if (this.base !== null) for (const e of await this.base.episodesOf(patientKeys, sinceMs)) out.set(e.key, e);
    for (const e of this.episodes.values()) if (keys.has(e.patientKey) && e.lastMs >= sinceMs) out.set(e.key, e);
    return [...out.values()];
  }

  commit(changes: BatchChanges, secret: string): Promise<boolean> {
    if (this.state === null || this.state.lastSeq !== changes.fromSeq) return Promise.resolve(false);
    for (const e of changes.episodes) this.episodes.set(e.key, e);
    for (const d of changes.deltas) {
      const k = deltaKey(d.granularity, d.period, d.pathwayId, d.settingsHash, d.measure);
      this.deltas.set(k, (this.deltas.get(k) ?? 0) + d.n);
    }
    this.state = { lastSeq: changes.toSeq, lastHash: changes.toHash, secret };
    return Promise.resolve(true);
  }

  reset(secret: string): Promise<void> {
    if (this.base !== null) return Promise.reject(new Error('a read-only roll-up cannot be reset'));
    this.episodes.clear();
    this.deltas.clear();
    this.state = { lastSeq: 0, lastHash: '', secret };
    return Promise.resolve();
  }

  async counts(q: CountQuery): Promise<CountRow[]> {
    const sum = new Map<string, number>();
    if (this.base !== null) {
      for (const r of await this.base.counts(q)) {
        const k = deltaKey(r.granularity, r.period, r.pathwayId, r.settingsHash, r.measure);
        sum.set(k, (sum.get(k) ?? 0) + r.n);
      }
    }
    for (const [k, n] of this.deltas) {
      const r = splitDeltaKey(k, n);
      if (r.granularity !== q.granularity || r.period < q.from || r.period > q.to) continue;
      if (q.pathwayId !== undefined && r.pathwayId !== q.pathwayId) continue;
      sum.set(k, (sum.get(k) ?? 0) + n);
    }
    return [...sum].filter(([, n]) => n !== 0).map(([k, n]) => splitDeltaKey(k, n));
  }
}

export interface CatchUpResult {
  /** Records applied by this call. */
  readonly applied: number;
  /** The seq the roll-up is at. */
  readonly lastSeq: number;
  /** True when the chain had changed below the head and the roll-up started again from seq 1. */
  readonly rebuilt: boolean;
}

export interface CatchUpOptions {
  /** Records per transaction. Default 2000. */
  readonly batchSize?: number;
  /** Stop after this many records (the rest waits for the next run). Default: to the head. */
  readonly maxRecords?: number;
  /** Called between batches (lets the event loop breathe). */
  readonly yieldBetween?: () => Promise<void>;
}

/**
 * Brings the roll-up to the head of the chain, batch by batch, each committed in one transaction keyed by
 * the chain position. When the record at the roll-up's head no longer has the hash it had, the chain was
 * rewritten: the roll-up forgets everything and starts again (a writable store only).
 */
export async function catchUp(source: RecordSource, tables: RollupTables, vocab: Vocabularies, opts: CatchUpOptions = {}): Promise<CatchUpResult> {
  const batchSize = opts.batchSize ?? 2000;
  const max = opts.maxRecords ?? Number.POSITIVE_INFINITY;
  let applied = 0;
  let rebuilt = false;
  let head = (await tables.head()) ?? { lastSeq: 0, lastHash: '', secret: newSecret() };
  if (head.lastSeq !== 0 && (await source.hashAt(head.lastSeq)) !== head.lastHash) {
    await tables.reset(newSecret());
    head = (await tables.head()) ?? head;
    rebuilt = true;
  }
  for (let conflicts = 0; applied < max; ) {
    const records = await source.records(head.lastSeq, Math.min(batchSize, max - applied));
    if (records.length === 0) break;
    const batch = new RollupBatch({ episodesOf: (k, s) => tables.episodesOf(k, s), evaluationCells: (ids) => source.evaluationCells(ids) }, vocab, patientKeyer(head.secret), head.lastSeq);
    await batch.apply(records);
    if (await tables.commit(batch.changes(), head.secret)) applied += records.length;
    else if (++conflicts > 100) throw new Error('roll-up: the head kept moving under this catch-up');
    head = (await tables.head()) ?? head;
    if (opts.yieldBetween !== undefined) await opts.yieldBetween();
  }
  return { applied, lastSeq: head.lastSeq, rebuilt };
}
