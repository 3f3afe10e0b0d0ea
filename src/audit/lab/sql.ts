/**
 * The laboratory tables and statements, written once for both databases (`?` placeholders; the
 * PostgreSQL backend numbers them). Result versions are append-only (triggers refuse UPDATE and DELETE):
 * a result is never deleted, a void is a new version.
 */
import { USED_STATUSES } from '../../fhir/status.js';
import type { AlertRow, ChangeRow, EpisodeState, EvaluationRow, ResultRow, ResultVersionRow, StoredResult } from './types.js';

/**
 * The used statuses as an SQL list: the partial index lab_result_versions_used and the read that uses it
 * carry this same text, which is what lets both databases' planners take the index (a literal list of
 * fixed words, no placeholder).
 */
const USED_SQL = USED_STATUSES.map((s) => `'${s}'`).join(', ');

/**
 * Tables and indexes; `int` is INTEGER on SQLite and bigint on PostgreSQL. Change seqs are max + 1 under
 * the writer lock (SQLite's, PostgreSQL's chain lock), so they are given in commit order: a reader that saw
 * seq n never misses a change committed later with a smaller seq.
 */
export function labTablesSql(prefix: string, int: string): string {
  const t = (n: string): string => `${prefix}${n}`;
  return `
CREATE TABLE IF NOT EXISTS ${t('lab_patients')} (patient_key TEXT PRIMARY KEY, rev ${int} NOT NULL);
CREATE TABLE IF NOT EXISTS ${t('lab_patient_links')} (identifier_key TEXT NOT NULL, patient_key TEXT NOT NULL, PRIMARY KEY (identifier_key, patient_key));
CREATE TABLE IF NOT EXISTS ${t('lab_results')} (
  id TEXT PRIMARY KEY, patient_key TEXT, client TEXT NOT NULL, episode_id TEXT, current_version ${int} NOT NULL,
  time_ms ${int} NOT NULL, created_at TEXT NOT NULL, flagged ${int} NOT NULL);
CREATE INDEX IF NOT EXISTS lab_results_patient ON ${t('lab_results')} (patient_key, time_ms);
CREATE INDEX IF NOT EXISTS lab_results_episode ON ${t('lab_results')} (episode_id);
CREATE INDEX IF NOT EXISTS lab_results_episode_time ON ${t('lab_results')} (episode_id, time_ms, id);
DROP INDEX IF EXISTS ${t('lab_results_unmatched')};
DROP INDEX IF EXISTS ${t('lab_results_unmatched_page')};
CREATE INDEX IF NOT EXISTS lab_results_no_episode_page ON ${t('lab_results')} (created_at, id) WHERE episode_id IS NULL;
CREATE TABLE IF NOT EXISTS ${t('lab_result_keys')} (key TEXT PRIMARY KEY, result_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ${t('lab_result_versions')} (
  result_id TEXT NOT NULL, version ${int} NOT NULL, last_updated TEXT NOT NULL, status TEXT NOT NULL, content_sha TEXT NOT NULL,
  resource TEXT NOT NULL, flags TEXT NOT NULL, source TEXT NOT NULL, audit_id TEXT NOT NULL, PRIMARY KEY (result_id, version));
CREATE INDEX IF NOT EXISTS lab_result_versions_used ON ${t('lab_result_versions')} (result_id, version) WHERE status IN (${USED_SQL});
CREATE TABLE IF NOT EXISTS ${t('lab_episodes')} (
  id TEXT PRIMARY KEY, patient_key TEXT NOT NULL, status TEXT NOT NULL, retest_due_ms ${int}, overdue_fired_ms ${int},
  window_ends_ms ${int} NOT NULL, last_change_at TEXT NOT NULL, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lab_episodes_patient ON ${t('lab_episodes')} (patient_key);
CREATE INDEX IF NOT EXISTS lab_episodes_status ON ${t('lab_episodes')} (status, last_change_at);
CREATE TABLE IF NOT EXISTS ${t('lab_evaluations')} (
  episode_id TEXT NOT NULL, seq ${int} NOT NULL, at TEXT NOT NULL, trigger TEXT NOT NULL, outcome TEXT NOT NULL, audit_id TEXT NOT NULL,
  PRIMARY KEY (episode_id, seq));
CREATE TABLE IF NOT EXISTS ${t('lab_changes')} (seq ${int} PRIMARY KEY, at TEXT NOT NULL, episode_id TEXT NOT NULL, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ${t('lab_alerts')} (
  id TEXT PRIMARY KEY, dedupe_key TEXT NOT NULL UNIQUE, url TEXT NOT NULL, episode_id TEXT NOT NULL, event TEXT NOT NULL,
  body TEXT NOT NULL, status TEXT NOT NULL, attempts ${int} NOT NULL, next_attempt_ms ${int} NOT NULL, claimed_until_ms ${int},
  last_error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS lab_alerts_due ON ${t('lab_alerts')} (status, next_attempt_ms);
CREATE TABLE IF NOT EXISTS ${t('lab_messages')} (sha256 TEXT PRIMARY KEY, received_at TEXT NOT NULL, client TEXT NOT NULL, text TEXT NOT NULL);
`;
}

/** The statements of an event and of the reads, by name. `T` is the table prefix (schema on PostgreSQL). */
export function labStatements(T: string) {
  const t = (n: string): string => `${T}${n}`;
  const RV = 'result_id, version, last_updated, status, content_sha, resource, flags, source, audit_id';
  const RR = 'id, patient_key, client, episode_id, current_version, time_ms, created_at, flagged';
  const VCOLS = RV.split(', ').map((c) => `v.${c}`).join(', ');
  /** Each result's newest `?` versions, driven by the results' primary key (so never a scan of the versions). */
  const newestVersions = (n: number): string =>
    `SELECT ${VCOLS} FROM ${t('lab_results')} r JOIN ${t('lab_result_versions')} v ON v.result_id = r.id AND v.version > r.current_version - ? WHERE r.id IN (${marks(n)})`;
  const AL = 'id, dedupe_key, url, episode_id, event, body, status, attempts, next_attempt_ms, last_error, created_at, updated_at';
  return {
    patientInsert: `INSERT INTO ${t('lab_patients')} (patient_key, rev) VALUES (?, 1) ON CONFLICT (patient_key) DO NOTHING`,
    patientBump: `UPDATE ${t('lab_patients')} SET rev = rev + 1 WHERE patient_key = ? AND rev = ?`,
    keyInsert: `INSERT INTO ${t('lab_result_keys')} (key, result_id) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`,
    versionInsert: `INSERT INTO ${t('lab_result_versions')} (${RV}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (result_id, version) DO NOTHING`,
    resultUpsert: `INSERT INTO ${t('lab_results')} (${RR}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET patient_key = excluded.patient_key, episode_id = excluded.episode_id,
      current_version = excluded.current_version, time_ms = excluded.time_ms, flagged = excluded.flagged`,
    linkInsert: `INSERT INTO ${t('lab_patient_links')} (identifier_key, patient_key) VALUES (?, ?) ON CONFLICT DO NOTHING`,
    episodeUpsert: `INSERT INTO ${t('lab_episodes')} (id, patient_key, status, retest_due_ms, overdue_fired_ms, window_ends_ms, last_change_at, state)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, retest_due_ms = excluded.retest_due_ms,
      overdue_fired_ms = excluded.overdue_fired_ms, window_ends_ms = excluded.window_ends_ms, last_change_at = excluded.last_change_at, state = excluded.state`,
    evaluationInsert: `INSERT INTO ${t('lab_evaluations')} (episode_id, seq, at, trigger, outcome, audit_id)
      VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM ${t('lab_evaluations')} WHERE episode_id = ?), ?, ?, ?, ?)`,
    changeInsert: `INSERT INTO ${t('lab_changes')} (seq, at, episode_id, row) VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM ${t('lab_changes')}), ?, ?, ?)`,
    alertInsert: `INSERT INTO ${t('lab_alerts')} (${AL}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
    messageInsert: `INSERT INTO ${t('lab_messages')} (sha256, received_at, client, text) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,

    revsOf: (n: number) => `SELECT patient_key, rev FROM ${t('lab_patients')} WHERE patient_key IN (${marks(n)})`,
    keysOf: (n: number) => `SELECT key, result_id FROM ${t('lab_result_keys')} WHERE key IN (${marks(n)})`,
    resultsById: (n: number) => `SELECT ${RR} FROM ${t('lab_results')} WHERE id IN (${marks(n)})`,
    /** One page of an episode's results, by time then id after a cursor (the index lab_results_episode_time). */
    episodePage: `SELECT ${RR} FROM ${t('lab_results')} WHERE episode_id = ? AND (time_ms > ? OR (time_ms = ? AND id > ?)) ORDER BY time_ms, id LIMIT ?`,
    episodeResultCount: `SELECT count(*) AS n FROM ${t('lab_results')} WHERE episode_id = ?`,
    /**
     * The newest `?` versions of each result (versions are 1..current_version, so a primary-key range per
     * result). Parameters: the count, then the ids.
     */
    latestVersionsOf: (n: number) => `${newestVersions(n)} ORDER BY result_id, version DESC`,
    /**
     * What an evaluation reads of each result (src/episodes/versions.ts): its newest `?` versions (a
     * primary-key range) and the newest used version before them (one step down the partial index
     * lab_result_versions_used), so at most `?` + 1 rows per result however many versions it has.
     * Parameters: the count, the ids, the count again, the ids again.
     */
    evaluationVersionsOf: (n: number) => `${newestVersions(n)}
      UNION ALL
      SELECT ${VCOLS} FROM ${t('lab_results')} r JOIN ${t('lab_result_versions')} v ON v.result_id = r.id AND v.version = (SELECT u.version FROM ${t('lab_result_versions')} u
        WHERE u.result_id = r.id AND u.status IN (${USED_SQL}) AND u.version <= r.current_version - ? ORDER BY u.version DESC LIMIT 1)
      WHERE r.id IN (${marks(n)})
      ORDER BY result_id, version DESC`,
    /** An episode's latest results by time (the index lab_results_episode_time): what an evaluation reads. */
    latestOfEpisode: `SELECT ${RR} FROM ${t('lab_results')} WHERE episode_id = ? ORDER BY time_ms DESC, id DESC LIMIT ?`,
    versionAt: `SELECT ${RV} FROM ${t('lab_result_versions')} WHERE result_id = ? AND version = ?`,
    versionsOf: (n: number) => `SELECT ${RV} FROM ${t('lab_result_versions')} WHERE result_id IN (${marks(n)}) ORDER BY result_id, version DESC`,
    episodesOfPatients: (n: number) => `SELECT state FROM ${t('lab_episodes')} WHERE patient_key IN (${marks(n)}) ORDER BY last_change_at DESC LIMIT 200`,
    episodesByStatus: `SELECT state FROM ${t('lab_episodes')} WHERE status = ? ORDER BY last_change_at DESC, id LIMIT ?`,
    episodesAll: `SELECT state FROM ${t('lab_episodes')} ORDER BY last_change_at DESC, id LIMIT ?`,
    episodeById: `SELECT state FROM ${t('lab_episodes')} WHERE id = ?`,
    evaluationsOf: `SELECT episode_id, seq, at, trigger, outcome, audit_id FROM ${t('lab_evaluations')} WHERE episode_id = ? ORDER BY seq DESC LIMIT 500`,
    /**
     * One page of the results in no episode (naming no patient, or not read by the pathway), newest first,
     * before a cursor (the index lab_results_no_episode_page).
     */
    unmatchedFirst: `SELECT ${RR} FROM ${t('lab_results')} WHERE episode_id IS NULL ORDER BY created_at DESC, id DESC LIMIT ?`,
    unmatchedAfter: `SELECT ${RR} FROM ${t('lab_results')} WHERE episode_id IS NULL AND (created_at < ? OR (created_at = ? AND id < ?))
      ORDER BY created_at DESC, id DESC LIMIT ?`,
    unmatchedCount: `SELECT count(*) AS n FROM ${t('lab_results')} WHERE episode_id IS NULL`,
    linksOf: (n: number) => `SELECT DISTINCT patient_key FROM ${t('lab_patient_links')} WHERE identifier_key IN (${marks(n)}) LIMIT 100`,
    resultsOfPatients: (n: number) => `SELECT ${RR} FROM ${t('lab_results')} WHERE patient_key IN (${marks(n)}) AND time_ms >= ? ORDER BY time_ms DESC LIMIT ?`,
    dueEpisodes: `SELECT state FROM ${t('lab_episodes')} WHERE status = 'open' AND ((retest_due_ms IS NOT NULL AND retest_due_ms < ?
      AND (overdue_fired_ms IS NULL OR overdue_fired_ms <> retest_due_ms)) OR window_ends_ms <= ?) ORDER BY window_ends_ms LIMIT ?`,
    changesAfter: `SELECT seq, at, episode_id, row FROM ${t('lab_changes')} WHERE seq > ? ORDER BY seq LIMIT ?`,
    lastChange: `SELECT coalesce(max(seq), 0) AS m FROM ${t('lab_changes')}`,
    alertsByStatus: `SELECT ${AL} FROM ${t('lab_alerts')} WHERE status = ? ORDER BY updated_at DESC, id LIMIT ?`,
    alertCount: `SELECT count(*) AS n FROM ${t('lab_alerts')} WHERE status = ?`,
    alertFinish: `UPDATE ${t('lab_alerts')} SET status = ?, next_attempt_ms = ?, last_error = ?, updated_at = ?, claimed_until_ms = NULL WHERE id = ?`,
    alertsPruneDead: `DELETE FROM ${t('lab_alerts')} WHERE status = 'dead' AND id NOT IN (SELECT id FROM ${t('lab_alerts')} WHERE status = 'dead' ORDER BY updated_at DESC LIMIT ?)`,
    changesPrune: `DELETE FROM ${t('lab_changes')} WHERE seq < (SELECT coalesce(max(seq), 0) FROM ${t('lab_changes')}) AND at < ?`,
  };
}

export type LabStatements = ReturnType<typeof labStatements>;

/** Append-only result versions: the trigger statements (SQLite syntax; PostgreSQL has its own). */
export function sqliteVersionTriggers(): string {
  return `
CREATE TRIGGER IF NOT EXISTS lab_result_versions_no_update BEFORE UPDATE ON lab_result_versions
  BEGIN SELECT RAISE(ABORT, 'lab_result_versions is append-only'); END;
CREATE TRIGGER IF NOT EXISTS lab_result_versions_no_delete BEFORE DELETE ON lab_result_versions
  BEGIN SELECT RAISE(ABORT, 'lab_result_versions is append-only'); END;
`;
}

function marks(n: number): string {
  return Array.from({ length: Math.max(1, n) }, () => '?').join(', ');
}

type Row = Record<string, unknown>;
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const str = (v: unknown): string => (typeof v === 'string' ? v : String(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : str(v));

export function toResultRow(r: Row): ResultRow {
  return {
    id: str(r['id']),
    patientKey: strOrNull(r['patient_key']),
    client: str(r['client']),
    episodeId: strOrNull(r['episode_id']),
    currentVersion: num(r['current_version']),
    timeMs: num(r['time_ms']),
    createdAt: str(r['created_at']),
    flagged: num(r['flagged']) !== 0,
  };
}

export function toVersionRow(r: Row): ResultVersionRow {
  return {
    resultId: str(r['result_id']),
    version: num(r['version']),
    lastUpdated: str(r['last_updated']),
    status: str(r['status']),
    contentSha: str(r['content_sha']),
    resource: str(r['resource']),
    flags: str(r['flags']),
    source: str(r['source']),
    auditId: str(r['audit_id']),
  };
}

export function toEpisode(r: Row): EpisodeState {
  return JSON.parse(str(r['state'])) as EpisodeState;
}

export function toEvaluation(r: Row): EvaluationRow {
  return { episodeId: str(r['episode_id']), seq: num(r['seq']), at: str(r['at']), trigger: str(r['trigger']), outcome: str(r['outcome']), auditId: str(r['audit_id']) };
}

export function toChange(r: Row): ChangeRow {
  return { seq: num(r['seq']), at: str(r['at']), episodeId: str(r['episode_id']), row: str(r['row']) };
}

export function toAlert(r: Row): AlertRow {
  return {
    id: str(r['id']),
    dedupeKey: str(r['dedupe_key']),
    url: str(r['url']),
    episodeId: str(r['episode_id']),
    event: str(r['event']),
    body: str(r['body']),
    status: str(r['status']) as AlertRow['status'],
    attempts: num(r['attempts']),
    nextAttemptMs: num(r['next_attempt_ms']),
    lastError: strOrNull(r['last_error']),
    createdAt: str(r['created_at']),
    updatedAt: str(r['updated_at']),
  };
}

/** Groups result rows with their versions (newest first). */
export function withVersions(rows: readonly ResultRow[], versions: readonly ResultVersionRow[]): StoredResult[] {
  const by = new Map<string, ResultVersionRow[]>();
  for (const v of versions) {
    const list = by.get(v.resultId) ?? [];
    list.push(v);
    by.set(v.resultId, list);
  }
  return rows.map((row) => ({ row, versions: (by.get(row.id) ?? []).sort((a, b) => b.version - a.version) }));
}

/** The parameters of each write statement, in the order of its placeholders. */
export const params = {
  version: (v: ResultVersionRow) => [v.resultId, v.version, v.lastUpdated, v.status, v.contentSha, v.resource, v.flags, v.source, v.auditId],
  result: (r: ResultRow) => [r.id, r.patientKey, r.client, r.episodeId, r.currentVersion, r.timeMs, r.createdAt, r.flagged ? 1 : 0],
  episode: (e: EpisodeState) => [e.id, e.patientKey, e.status, e.retestDueMs, e.overdueFiredMs, e.windowEndsMs, e.lastChangeAt, JSON.stringify(e)],
  alert: (a: AlertRow) => [a.id, a.dedupeKey, a.url, a.episodeId, a.event, a.body, a.status, a.attempts, a.nextAttemptMs, a.lastError, a.createdAt, a.updatedAt],
};

export { numOrNull };
