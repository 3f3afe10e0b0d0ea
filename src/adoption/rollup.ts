/**
 * The roll-up: audit records, in chain order, to counts per period, pathway and settings hash. One batch
 * of records at a time: the records' facts are read, the episodes they touch are fetched in one query,
 * every record is applied in seq order, and what changed (episodes, count deltas, the last seq) is handed
 * to the store to commit in ONE transaction, on the condition that nobody committed a batch meanwhile.
 * So a record is counted exactly once however often, and by how many processes, the catch-up runs
 * (docs/adoption.md "Roll-up"). Patient ids are replaced by a keyed hash before anything is kept.
 */
import { createHmac } from 'node:crypto';
import { add, applyEvaluation, episodeCounts, evaluationCounts, findEpisode, type Counts, type EpisodeState } from './episodes.js';
import { factOf, type AdoptionFact, type EvaluationFact, type RecordLike } from './facts.js';
import { GRANULARITIES, periodOf, type Granularity } from './periods.js';
import { unknownVocabulary, type PathwayVocabulary } from './vocabulary.js';

/** Where a count goes. */
export interface CellRef {
  readonly pathwayId: string;
  readonly settingsHash: string;
  readonly atMs: number;
}

/** One count row as stored: the sum of `n` over every delta of the same key. */
export interface CountRow {
  readonly granularity: Granularity;
  readonly period: string;
  readonly pathwayId: string;
  readonly settingsHash: string;
  readonly measure: string;
  readonly n: number;
}

/** What the roll-up reads while it applies a batch. */
export interface RollupReader {
  /** The episodes of these patients (keyed hashes) whose last evaluation is at or after `sinceMs`. */
  episodesOf(patientKeys: readonly string[], sinceMs: number): Promise<EpisodeState[]>;
  /** The cells of these evaluation records (for feedback), by record id; absent ids are not evaluations. */
  evaluationCells(ids: readonly string[]): Promise<Map<string, CellRef>>;
}

export type Vocabularies = (pathwayId: string) => PathwayVocabulary;

export function vocabulariesFrom(map: ReadonlyMap<string, PathwayVocabulary>): Vocabularies {
  const unknown = new Map<string, PathwayVocabulary>();
  return (id) => {
    const v = map.get(id);
    if (v !== undefined) return v;
    let u = unknown.get(id);
    if (u === undefined) {
      u = unknownVocabulary(id);
      unknown.set(id, u);
    }
    return u;
  };
}

/** The keyed hash that stands for a patient inside the roll-up. */
export function patientKeyer(secret: string): (patientId: string) => string {
  return (id) => createHmac('sha256', secret).update(id, 'utf8').digest('base64url').slice(0, 24);
}

const SEP = '\u0001';
export const deltaKey = (g: Granularity, period: string, pathwayId: string, settingsHash: string, measure: string): string => [g, period, pathwayId, settingsHash, measure].join(SEP);
export function splitDeltaKey(k: string, n: number): CountRow {
  const [granularity, period, pathwayId, settingsHash, measure] = k.split(SEP) as [Granularity, string, string, string, string];
  return { granularity, period, pathwayId, settingsHash, measure, n };
}

/** The changes of one batch, to be committed together. */
export interface BatchChanges {
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly toHash: string;
  readonly episodes: readonly EpisodeState[];
  readonly deltas: readonly CountRow[];
}

export class RollupBatch {
  private readonly episodes = new Map<string, EpisodeState>();
  private readonly changed = new Set<string>();
  private readonly byPatient = new Map<string, EpisodeState[]>();
  private readonly deltas = new Map<string, number>();
  private readonly evalCells = new Map<string, CellRef>();
  private lastSeq: number;
  private lastHash = '';

  constructor(
    private readonly reader: RollupReader,
    private readonly vocab: Vocabularies,
    private readonly keyOf: (patientId: string) => string,
    private readonly afterSeq: number,
  ) {
    this.lastSeq = afterSeq;
  }

  private count(cell: CellRef, counts: Counts, sign: 1 | -1): void {
    for (const g of GRANULARITIES) {
      const period = periodOf(cell.atMs, g);
      for (const [m, n] of counts) {
        const k = deltaKey(g, period, cell.pathwayId, cell.settingsHash, m);
        const v = (this.deltas.get(k) ?? 0) + sign * n;
        if (v === 0) this.deltas.delete(k);
        else this.deltas.set(k, v);
      }
    }
  }

  /** Applies records (in seq order, each after the previous one) to this batch. */
  async apply(records: readonly (RecordLike & { readonly hash: string })[]): Promise<void> {
    const facts: { rec: RecordLike & { hash: string }; fact: AdoptionFact | null }[] = records.map((rec) => ({ rec, fact: factOf(rec) }));
    const evals = facts.flatMap((x) => (x.fact?.kind === 'evaluation' && x.fact.patientId !== null ? [x.fact] : []));
    const keys = [...new Set(evals.map((f) => this.keyOf(f.patientId ?? '')))];
    if (keys.length > 0) {
      const window = Math.max(...evals.map((f) => this.vocab(f.pathwayId).episodeWindowMinutes)) * 60_000;
      const since = Math.min(...evals.map((f) => f.atMs)) - window;
      for (const e of await this.reader.episodesOf(keys, since)) if (!this.episodes.has(e.key)) this.remember(e);
    }
    const links = [...new Set(facts.flatMap((x) => (x.fact?.kind === 'feedback' ? [x.fact.linksTo] : [])))].filter((id) => !this.evalCells.has(id));
    const outside = links.length > 0 ? await this.reader.evaluationCells(links) : new Map<string, CellRef>();
    for (const { rec, fact } of facts) {
      if (rec.seq !== this.lastSeq + 1) throw new Error(`roll-up: record seq ${rec.seq} does not follow ${this.lastSeq}`);
      this.lastSeq = rec.seq;
      this.lastHash = rec.hash;
      if (fact === null) continue;
      if (fact.kind === 'evaluation') this.evaluation(fact, rec.id);
      else if (fact.kind === 'failure') this.count(fact, new Map([[`dqFailure|${fact.code}`, 1]]), 1);
      else {
        const cell = this.evalCells.get(fact.linksTo) ?? outside.get(fact.linksTo);
        if (cell === undefined) continue;
        const c: Counts = new Map();
        add(c, `feedback|${fact.outcome}`);
        if (fact.reason !== null) add(c, `overrideReason|${fact.reason}`);
        this.count(cell, c, 1);
      }
    }
  }

  private remember(e: EpisodeState): void {
    const k = `${e.patientKey}${SEP}${e.pathwayId}`;
    const list = this.byPatient.get(k) ?? [];
    const i = list.findIndex((x) => x.key === e.key);
    if (i >= 0) list[i] = e;
    else list.push(e);
    this.byPatient.set(k, list);
    this.episodes.set(e.key, e);
  }

  private evaluation(f: EvaluationFact, recordId: string): void {
    const cell: CellRef = { pathwayId: f.pathwayId, settingsHash: f.settingsHash, atMs: f.atMs };
    this.evalCells.set(recordId, cell);
    const v = this.vocab(f.pathwayId);
    if (f.patientId === null && f.episodeId === null) {
      this.count(cell, evaluationCounts(f, false), 1);
      return;
    }
    this.count(cell, evaluationCounts(f, true), 1);
    const patientKey = this.keyOf(f.patientId ?? `episode:${f.episodeId ?? ''}`);
    const prev = findEpisode(f, this.byPatient.get(`${patientKey}${SEP}${f.pathwayId}`) ?? [], v);
    const next = applyEvaluation(prev, f, patientKey, prev?.key ?? `e${f.seq}`, v);
    const episodeCell: CellRef = { pathwayId: next.pathwayId, settingsHash: next.settingsHash, atMs: next.startMs };
    if (prev !== null) this.count(episodeCell, episodeCounts(prev, v), -1);
    this.count(episodeCell, episodeCounts(next, v), 1);
    this.remember(next);
    this.changed.add(next.key);
  }

  /** What to commit. */
  changes(): BatchChanges {
    return {
      fromSeq: this.afterSeq,
      toSeq: this.lastSeq,
      toHash: this.lastHash,
      episodes: [...this.changed].flatMap((k) => {
        const e = this.episodes.get(k);
        return e === undefined ? [] : [e];
      }),
      deltas: [...this.deltas].map(([k, n]) => splitDeltaKey(k, n)),
    };
  }
}
