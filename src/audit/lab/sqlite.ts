/**
 * The laboratory tables on SQLite: events applied inside the store's write transaction (BEGIN IMMEDIATE:
 * the single writer, so preconditions are checked against what the transaction commits on), the reads,
 * and the alert outbox's bookkeeping.
 */
import type Database from 'better-sqlite3';
import { labStatements, labTablesSql, params, sqliteVersionTriggers, toAlert, toChange, toEpisode, toEvaluation, toResultRow, toVersionRow, withVersions } from './sql.js';
import { EVALUATION_VERSIONS } from '../../episodes/versions.js';
import type { AlertRow, EpisodePage, LabEvent, LabOutbox, LabReads, LabSnapshot, ResultRow, StoredResult, UnmatchedPage } from './types.js';

type Row = Record<string, unknown>;

export function sqliteLabSchema(): string {
  return labTablesSql('', 'INTEGER') + sqliteVersionTriggers();
}

export class SqliteLab implements LabReads, LabOutbox {
  private readonly st;
  private readonly cache = new Map<string, Database.Statement>();
  private readonly claim: Database.Transaction<(nowMs: number, leaseMs: number, limit: number) => Row[]>;

  constructor(private readonly db: Database.Database) {
    this.st = labStatements('');
    this.claim = db.transaction((nowMs: number, leaseMs: number, limit: number) =>
      db
        .prepare(
          `UPDATE lab_alerts SET claimed_until_ms = ?, attempts = attempts + 1 WHERE id IN (SELECT id FROM lab_alerts WHERE status = 'pending'
           AND next_attempt_ms <= ? AND (claimed_until_ms IS NULL OR claimed_until_ms < ?) ORDER BY next_attempt_ms LIMIT ?) RETURNING *`,
        )
        .all(nowMs + leaseMs, nowMs, nowMs, limit) as Row[],
    );
  }

  /** Prepared once per statement text (texts differ only by the number of placeholders, which is bounded). */
  private prepared(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  private run(sql: string, args: readonly unknown[]): number {
    return this.prepared(sql).run(...args).changes;
  }

  private all(sql: string, args: readonly unknown[]): Row[] {
    return this.prepared(sql).all(...args) as Row[];
  }

  /** Applies one event inside the caller's transaction; returns the failed precondition, or null. */
  applyEvent(ev: LabEvent): string | null {
    const st = this.st;
    for (const p of ev.patients) {
      const n = p.expectedRev === null ? this.run(st.patientInsert, [p.key]) : this.run(st.patientBump, [p.key, p.expectedRev]);
      if (n !== 1) return 'a patient of the event changed meanwhile';
    }
    for (const k of ev.newKeys) if (this.run(st.keyInsert, [k.key, k.resultId]) !== 1) return 'a result identity of the event was taken meanwhile';
    for (const v of ev.versions) if (this.run(st.versionInsert, params.version(v)) !== 1) return `version ${v.version} of a result of the event was taken meanwhile`;
    for (const r of ev.results) this.run(st.resultUpsert, params.result(r));
    for (const l of ev.patientLinks) this.run(st.linkInsert, [l.identifierKey, l.patientKey]);
    for (const e of ev.episodes) this.run(st.episodeUpsert, params.episode(e));
    for (const e of ev.evaluations) this.run(st.evaluationInsert, [e.episodeId, e.episodeId, e.at, e.trigger, e.outcome, e.auditId]);
    for (const c of ev.changes) this.run(st.changeInsert, [c.at, c.episodeId, c.row]);
    for (const a of ev.alerts) this.run(st.alertInsert, params.alert(a));
    if (ev.message !== undefined) this.run(st.messageInsert, [ev.message.sha256, ev.message.receivedAt, ev.message.client, ev.message.text]);
    return null;
  }

  /** The rows with every version (one result's history). */
  private withVersions(rows: Row[]): StoredResult[] {
    const results = rows.map(toResultRow);
    if (results.length === 0) return [];
    const versions = this.all(this.st.versionsOf(results.length), results.map((r) => r.id)).map(toVersionRow);
    return withVersions(results, versions);
  }

  /** The rows with the versions an evaluation reads (at most EVALUATION_VERSIONS + 1 each). */
  private withEvaluationVersions(rows: Row[]): StoredResult[] {
    const results = rows.map(toResultRow);
    if (results.length === 0) return [];
    const ids = results.map((r) => r.id);
    const versions = this.all(this.st.evaluationVersionsOf(ids.length), [EVALUATION_VERSIONS, ...ids, EVALUATION_VERSIONS, ...ids]).map(toVersionRow);
    return withVersions(results, versions);
  }

  /** The rows with their newest `n` versions. */
  private withLatestVersions(results: ResultRow[], n: number): StoredResult[] {
    if (results.length === 0) return [];
    return withVersions(results, this.all(this.st.latestVersionsOf(results.length), [n, ...results.map((r) => r.id)]).map(toVersionRow));
  }

  snapshot(q: { keys: readonly string[]; patientKeys: readonly string[] }): Promise<LabSnapshot> {
    return new Promise((resolve) => {
      const read = this.db.transaction(() => {
        const revs = new Map<string, number>();
        if (q.patientKeys.length > 0) for (const r of this.all(this.st.revsOf(q.patientKeys.length), q.patientKeys)) revs.set(String(r['patient_key']), Number(r['rev']));
        const keys = new Map<string, string>();
        if (q.keys.length > 0) for (const r of this.all(this.st.keysOf(q.keys.length), q.keys)) keys.set(String(r['key']), String(r['result_id']));
        const episodes = q.patientKeys.length === 0 ? [] : this.all(this.st.episodesOfPatients(q.patientKeys.length), q.patientKeys).map(toEpisode);
        const ids = [...new Set(keys.values())];
        const rows = ids.length > 0 ? this.all(this.st.resultsById(ids.length), ids) : [];
        const results = new Map(this.withEvaluationVersions(rows).map((r) => [r.row.id, r]));
        return { revs, keys, results, episodes };
      });
      resolve(read.deferred());
    });
  }

  result(id: string): Promise<StoredResult | null> {
    return new Promise((resolve) => resolve(this.withVersions(this.all(this.st.resultsById(1), [id]))[0] ?? null));
  }

  resultVersion(id: string, version: number | null): Promise<StoredResult | null> {
    return new Promise((resolve) => {
      const read = this.db.transaction(() => {
        const found = this.all(this.st.resultsById(1), [id])[0];
        if (found === undefined) return null;
        const row = toResultRow(found);
        return { row, versions: this.all(this.st.versionAt, [id, version ?? row.currentVersion]).map(toVersionRow) };
      });
      resolve(read.deferred());
    });
  }

  latestOfEpisode(episodeId: string, limit: number): Promise<StoredResult[]> {
    return new Promise((resolve) => resolve(this.withEvaluationVersions(this.all(this.st.latestOfEpisode, [episodeId, limit]))));
  }

  episodes(q: { status: 'open' | 'closed' | 'all'; limit: number }): Promise<ReturnType<typeof toEpisode>[]> {
    return new Promise((resolve) => resolve((q.status === 'all' ? this.all(this.st.episodesAll, [q.limit]) : this.all(this.st.episodesByStatus, [q.status, q.limit])).map(toEpisode)));
  }

  episode(id: string, page: EpisodePage): ReturnType<LabReads['episode']> {
    return new Promise((resolve) => {
      const read = this.db.transaction(() => {
        const row = this.all(this.st.episodeById, [id])[0];
        if (row === undefined) return null;
        const after = page.after ?? { timeMs: Number.MIN_SAFE_INTEGER, id: '' };
        const rows = this.all(this.st.episodePage, [id, after.timeMs, after.timeMs, after.id, page.limit + 1]).map(toResultRow);
        const shown = rows.slice(0, page.limit);
        const total = Number(this.all(this.st.episodeResultCount, [id])[0]?.['n'] ?? 0);
        return { episode: toEpisode(row), results: this.withLatestVersions(shown, page.versions), more: rows.length > page.limit, total, evaluations: this.all(this.st.evaluationsOf, [id]).map(toEvaluation) };
      });
      resolve(read.deferred());
    });
  }

  unmatched(page: UnmatchedPage): ReturnType<LabReads['unmatched']> {
    return new Promise((resolve) => {
      const read = this.db.transaction(() => {
        const a = page.after;
        const rows = (a === null ? this.all(this.st.unmatchedFirst, [page.limit + 1]) : this.all(this.st.unmatchedAfter, [a.createdAt, a.createdAt, a.id, page.limit + 1])).map(toResultRow);
        const total = Number(this.all(this.st.unmatchedCount, [])[0]?.['n'] ?? 0);
        return { results: this.withLatestVersions(rows.slice(0, page.limit), page.versions), more: rows.length > page.limit, total };
      });
      resolve(read.deferred());
    });
  }

  patientKeysFor(identifierKeys: readonly string[]): Promise<string[]> {
    return new Promise((resolve) => resolve(identifierKeys.length === 0 ? [] : this.all(this.st.linksOf(identifierKeys.length), identifierKeys).map((r) => String(r['patient_key']))));
  }

  resultsOfPatients(patientKeys: readonly string[], sinceMs: number, limit: number): Promise<StoredResult[]> {
    return new Promise((resolve) => resolve(patientKeys.length === 0 ? [] : this.withEvaluationVersions(this.all(this.st.resultsOfPatients(patientKeys.length), [...patientKeys, sinceMs, limit]))));
  }

  dueEpisodes(nowMs: number, limit: number): ReturnType<LabReads['dueEpisodes']> {
    return new Promise((resolve) => resolve(this.all(this.st.dueEpisodes, [nowMs, nowMs, limit]).map(toEpisode)));
  }

  changesAfter(seq: number, limit: number): ReturnType<LabReads['changesAfter']> {
    return new Promise((resolve) => resolve(this.all(this.st.changesAfter, [seq, limit]).map(toChange)));
  }

  lastChangeSeq(): Promise<number> {
    return new Promise((resolve) => resolve(Number(this.all(this.st.lastChange, [])[0]?.['m'] ?? 0)));
  }

  alerts(q: { status: AlertRow['status']; limit: number }): Promise<AlertRow[]> {
    return new Promise((resolve) => resolve(this.all(this.st.alertsByStatus, [q.status, q.limit]).map(toAlert)));
  }

  countAlerts(status: AlertRow['status']): Promise<number> {
    return new Promise((resolve) => resolve(Number(this.all(this.st.alertCount, [status])[0]?.['n'] ?? 0)));
  }

  claimAlerts(nowMs: number, leaseMs: number, limit: number): Promise<AlertRow[]> {
    return new Promise((resolve) => resolve(this.claim.immediate(nowMs, leaseMs, limit).map(toAlert)));
  }

  finishAlert(id: string, o: { status: AlertRow['status']; nextAttemptMs: number; error: string | null; at: string }): Promise<void> {
    return new Promise((resolve) => {
      this.run(this.st.alertFinish, [o.status, o.nextAttemptMs, o.error, o.at, id]);
      resolve();
    });
  }

  prune(keep: number, changesBeforeMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.db.transaction(() => {
        this.run(this.st.alertsPruneDead, [keep]);
        this.run(this.st.changesPrune, [new Date(changesBeforeMs).toISOString()]);
      }).immediate();
      resolve();
    });
  }
}
