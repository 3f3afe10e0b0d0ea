/**
 * The laboratory tables on PostgreSQL: events applied inside the store's write transaction (which holds
 * the chain's advisory lock, so change seqs follow commit order), the reads, and the alert outbox, whose
 * claims use `FOR UPDATE SKIP LOCKED` so that several processes never deliver one alert at once.
 */
import type pg from 'pg';
import { labStatements, labTablesSql, params, toAlert, toChange, toEpisode, toEvaluation, toResultRow, toVersionRow, withVersions } from './sql.js';
import { EVALUATION_VERSIONS } from '../../episodes/versions.js';
import type { AlertRow, EpisodePage, EpisodeState, LabEvent, LabOutbox, LabReads, LabSnapshot, ResultRow, StoredResult, UnmatchedPage } from './types.js';

type Row = Record<string, unknown>;

/** `?` placeholders numbered for PostgreSQL ($1, $2...). The statements hold no `?` inside literals. */
export function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

/** The lab tables in a schema, with the append-only trigger on result versions. */
export function postgresLabSchema(s: string): string {
  const t = `"${s}".lab_result_versions`;
  return `${labTablesSql(`"${s}".`, 'bigint')}
CREATE OR REPLACE FUNCTION "${s}".lab_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'lab_result_versions is append-only';
END
$fn$;
DO $do$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = '${t}'::regclass AND tgname = 'lab_result_versions_append_only') THEN
    CREATE TRIGGER lab_result_versions_append_only BEFORE UPDATE OR DELETE ON ${t}
      FOR EACH ROW EXECUTE FUNCTION "${s}".lab_versions_append_only();
  END IF;
END
$do$;
`;
}

/** Whether the lab tables are all there (checked with the audit tables before any DDL is run). */
export function postgresLabReadySql(): string {
  return `to_regclass(quote_ident($1) || '.lab_messages') IS NOT NULL AND to_regclass(quote_ident($1) || '.lab_alerts') IS NOT NULL AND to_regclass(quote_ident($1) || '.lab_results_episode_time') IS NOT NULL AND to_regclass(quote_ident($1) || '.lab_result_versions_used') IS NOT NULL AND to_regclass(quote_ident($1) || '.lab_results_no_episode_page') IS NOT NULL`;
}

interface Querier {
  query<R extends Row = Row>(sql: string, args?: unknown[]): Promise<pg.QueryResult<R>>;
}

export class PostgresLab implements LabReads, LabOutbox {
  private readonly st;
  private readonly alertsTable: string;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
  ) {
    this.st = labStatements(`"${schema}".`);
    this.alertsTable = `"${schema}".lab_alerts`;
  }

  private async all(q: Querier, sql: string, args: readonly unknown[]): Promise<Row[]> {
    return (await q.query(numbered(sql), [...args])).rows;
  }

  private async run(q: Querier, sql: string, args: readonly unknown[]): Promise<number> {
    return (await q.query(numbered(sql), [...args])).rowCount ?? 0;
  }

  /** Applies one event inside the caller's transaction (under a savepoint it owns); returns the failed precondition, or null. */
  async applyEvent(client: pg.PoolClient, ev: LabEvent): Promise<string | null> {
    const st = this.st;
    for (const p of ev.patients) {
      const n = p.expectedRev === null ? await this.run(client, st.patientInsert, [p.key]) : await this.run(client, st.patientBump, [p.key, p.expectedRev]);
      if (n !== 1) return 'a patient of the event changed meanwhile';
    }
    for (const k of ev.newKeys) if ((await this.run(client, st.keyInsert, [k.key, k.resultId])) !== 1) return 'a result identity of the event was taken meanwhile';
    for (const v of ev.versions) if ((await this.run(client, st.versionInsert, params.version(v))) !== 1) return `version ${v.version} of a result of the event was taken meanwhile`;
    for (const r of ev.results) await this.run(client, st.resultUpsert, params.result(r));
    for (const l of ev.patientLinks) await this.run(client, st.linkInsert, [l.identifierKey, l.patientKey]);
    for (const e of ev.episodes) await this.run(client, st.episodeUpsert, params.episode(e));
    for (const e of ev.evaluations) await this.run(client, st.evaluationInsert, [e.episodeId, e.episodeId, e.at, e.trigger, e.outcome, e.auditId]);
    for (const c of ev.changes) await this.run(client, st.changeInsert, [c.at, c.episodeId, c.row]);
    for (const a of ev.alerts) await this.run(client, st.alertInsert, params.alert(a));
    if (ev.message !== undefined) await this.run(client, st.messageInsert, [ev.message.sha256, ev.message.receivedAt, ev.message.client, ev.message.text]);
    return null;
  }

  /** The rows with every version (one result's history). */
  private async withVersions(q: Querier, rows: Row[]): Promise<StoredResult[]> {
    const results = rows.map(toResultRow);
    if (results.length === 0) return [];
    const versions = (await this.all(q, this.st.versionsOf(results.length), results.map((r) => r.id))).map(toVersionRow);
    return withVersions(results, versions);
  }

  /** The rows with the versions an evaluation reads (at most EVALUATION_VERSIONS + 1 each). */
  private async withEvaluationVersions(q: Querier, rows: Row[]): Promise<StoredResult[]> {
    const results = rows.map(toResultRow);
    if (results.length === 0) return [];
    const ids = results.map((r) => r.id);
    const versions = (await this.all(q, this.st.evaluationVersionsOf(ids.length), [EVALUATION_VERSIONS, ...ids, EVALUATION_VERSIONS, ...ids])).map(toVersionRow);
    return withVersions(results, versions);
  }

  /** The rows with their newest `n` versions. */
  private async withLatestVersions(q: Querier, results: ResultRow[], n: number): Promise<StoredResult[]> {
    if (results.length === 0) return [];
    return withVersions(results, (await this.all(q, this.st.latestVersionsOf(results.length), [n, ...results.map((r) => r.id)])).map(toVersionRow));
  }

  async snapshot(q: { keys: readonly string[]; patientKeys: readonly string[] }): Promise<LabSnapshot> {
    // One connection, one REPEATABLE READ snapshot: the revisions and what they cover agree.
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const revs = new Map<string, number>();
      if (q.patientKeys.length > 0) for (const r of await this.all(client, this.st.revsOf(q.patientKeys.length), q.patientKeys)) revs.set(String(r['patient_key']), Number(r['rev']));
      const keys = new Map<string, string>();
      if (q.keys.length > 0) for (const r of await this.all(client, this.st.keysOf(q.keys.length), q.keys)) keys.set(String(r['key']), String(r['result_id']));
      const episodes = q.patientKeys.length === 0 ? [] : (await this.all(client, this.st.episodesOfPatients(q.patientKeys.length), q.patientKeys)).map(toEpisode);
      const ids = [...new Set(keys.values())];
      const rows = ids.length > 0 ? await this.all(client, this.st.resultsById(ids.length), ids) : [];
      const results = new Map((await this.withEvaluationVersions(client, rows)).map((r) => [r.row.id, r]));
      await client.query('COMMIT');
      return { revs, keys, results, episodes };
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async result(id: string): Promise<StoredResult | null> {
    return (await this.withVersions(this.pool, await this.all(this.pool, this.st.resultsById(1), [id])))[0] ?? null;
  }

  async resultVersion(id: string, version: number | null): Promise<StoredResult | null> {
    // Versions are immutable: the row, then the one version it names (or the one asked for).
    const found = (await this.all(this.pool, this.st.resultsById(1), [id]))[0];
    if (found === undefined) return null;
    const row = toResultRow(found);
    return { row, versions: (await this.all(this.pool, this.st.versionAt, [id, version ?? row.currentVersion])).map(toVersionRow) };
  }

  async latestOfEpisode(episodeId: string, limit: number): Promise<StoredResult[]> {
    return this.withEvaluationVersions(this.pool, await this.all(this.pool, this.st.latestOfEpisode, [episodeId, limit]));
  }

  async episodes(q: { status: 'open' | 'closed' | 'all'; limit: number }): Promise<EpisodeState[]> {
    const rows = q.status === 'all' ? await this.all(this.pool, this.st.episodesAll, [q.limit]) : await this.all(this.pool, this.st.episodesByStatus, [q.status, q.limit]);
    return rows.map(toEpisode);
  }

  async episode(id: string, page: EpisodePage): ReturnType<LabReads['episode']> {
    // One REPEATABLE READ snapshot: the page, its versions and the total agree.
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const row = (await this.all(client, this.st.episodeById, [id]))[0];
      let found: Awaited<ReturnType<LabReads['episode']>> = null;
      if (row !== undefined) {
        const after = page.after ?? { timeMs: Number.MIN_SAFE_INTEGER, id: '' };
        const rows = (await this.all(client, this.st.episodePage, [id, after.timeMs, after.timeMs, after.id, page.limit + 1])).map(toResultRow);
        const shown = rows.slice(0, page.limit);
        const results = await this.withLatestVersions(client, shown, page.versions);
        const total = Number((await this.all(client, this.st.episodeResultCount, [id]))[0]?.['n'] ?? 0);
        found = { episode: toEpisode(row), results, more: rows.length > page.limit, total, evaluations: (await this.all(client, this.st.evaluationsOf, [id])).map(toEvaluation) };
      }
      await client.query('COMMIT');
      return found;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async unmatched(page: UnmatchedPage): ReturnType<LabReads['unmatched']> {
    // One REPEATABLE READ snapshot: the page, its versions and the total agree.
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const a = page.after;
      const rows = (a === null ? await this.all(client, this.st.unmatchedFirst, [page.limit + 1]) : await this.all(client, this.st.unmatchedAfter, [a.createdAt, a.createdAt, a.id, page.limit + 1])).map(toResultRow);
      const total = Number((await this.all(client, this.st.unmatchedCount, []))[0]?.['n'] ?? 0);
      const results = await this.withLatestVersions(client, rows.slice(0, page.limit), page.versions);
      await client.query('COMMIT');
      return { results, more: rows.length > page.limit, total };
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async patientKeysFor(identifierKeys: readonly string[]): Promise<string[]> {
    if (identifierKeys.length === 0) return [];
    return (await this.all(this.pool, this.st.linksOf(identifierKeys.length), identifierKeys)).map((r) => String(r['patient_key']));
  }

  async resultsOfPatients(patientKeys: readonly string[], sinceMs: number, limit: number): Promise<StoredResult[]> {
    if (patientKeys.length === 0) return [];
    return this.withEvaluationVersions(this.pool, await this.all(this.pool, this.st.resultsOfPatients(patientKeys.length), [...patientKeys, sinceMs, limit]));
  }

  async dueEpisodes(nowMs: number, limit: number): Promise<EpisodeState[]> {
    return (await this.all(this.pool, this.st.dueEpisodes, [nowMs, nowMs, limit])).map(toEpisode);
  }

  async changesAfter(seq: number, limit: number): ReturnType<LabReads['changesAfter']> {
    return (await this.all(this.pool, this.st.changesAfter, [seq, limit])).map(toChange);
  }

  async lastChangeSeq(): Promise<number> {
    return Number((await this.all(this.pool, this.st.lastChange, []))[0]?.['m'] ?? 0);
  }

  async alerts(q: { status: AlertRow['status']; limit: number }): Promise<AlertRow[]> {
    return (await this.all(this.pool, this.st.alertsByStatus, [q.status, q.limit])).map(toAlert);
  }

  async countAlerts(status: AlertRow['status']): Promise<number> {
    return Number((await this.all(this.pool, this.st.alertCount, [status]))[0]?.['n'] ?? 0);
  }

  async claimAlerts(nowMs: number, leaseMs: number, limit: number): Promise<AlertRow[]> {
    const t = this.alertsTable;
    const rows = await this.all(
      this.pool,
      `UPDATE ${t} SET claimed_until_ms = ?, attempts = attempts + 1 WHERE id IN (SELECT id FROM ${t} WHERE status = 'pending'
       AND next_attempt_ms <= ? AND (claimed_until_ms IS NULL OR claimed_until_ms < ?) ORDER BY next_attempt_ms LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING *`,
      [nowMs + leaseMs, nowMs, nowMs, limit],
    );
    return rows.map(toAlert);
  }

  async finishAlert(id: string, o: { status: AlertRow['status']; nextAttemptMs: number; error: string | null; at: string }): Promise<void> {
    await this.run(this.pool, this.st.alertFinish, [o.status, o.nextAttemptMs, o.error, o.at, id]);
  }

  async prune(keep: number, changesBeforeMs: number): Promise<void> {
    await this.run(this.pool, this.st.alertsPruneDead, [keep]);
    await this.run(this.pool, this.st.changesPrune, [new Date(changesBeforeMs).toISOString()]);
  }
}
