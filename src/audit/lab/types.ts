/**
 * The laboratory part of the store: results (with their versions and identity keys), chest-pain
 * episodes, their evaluations, the change feed of the worklist stream and the alert outbox. They live in
 * the audit store's database so that one laboratory event (its results, its episode, its audit record, its
 * alerts) commits in ONE transaction with the hash chain: the lab's answer (201 or ACK) is sent only once
 * all of it is durable, and nothing is half written.
 *
 * Concurrency: an event is planned from a snapshot (`LabReads.snapshot`) and committed with preconditions
 * (the revision of each patient it touches, the identity keys it claims). Two processes posting for one
 * patient: one commits, the other's preconditions fail ({@link LabConflict}) and it plans again from a
 * fresh snapshot. So there is no lost update and no alert written twice, on SQLite and PostgreSQL alike.
 */

/** One version of a stored result: an immutable row (nothing is ever updated or deleted). */
export interface ResultVersionRow {
  readonly resultId: string;
  /** 1, 2, 3... */
  readonly version: number;
  /** meta.lastUpdated of this version, ISO 8601 UTC (strictly increasing per result). */
  readonly lastUpdated: string;
  readonly status: string;
  /** sha256 of the canonical JSON of the result as the laboratory sent it (without id and meta). */
  readonly contentSha: string;
  /** The stored FHIR Observation (with id and meta), canonical JSON text. */
  readonly resource: string;
  /** Why the pathway cannot use it (JSON array of { code, text, expression? }). */
  readonly flags: string;
  /** Where it came from (JSON: channel, client, HL7 control id and message digest...). */
  readonly source: string;
  /** The audit record written with it. */
  readonly auditId: string;
}

/** A stored result: its current version, its patient and its episode (these change; versions do not). */
export interface ResultRow {
  readonly id: string;
  /** The patient key (see src/intake/patient.ts), or null when the result names no patient. */
  readonly patientKey: string | null;
  /** The lab client that first sent it. */
  readonly client: string;
  readonly episodeId: string | null;
  readonly currentVersion: number;
  /** The time the episode rule groups it by (draw, else issued, else received), epoch ms. */
  readonly timeMs: number;
  readonly createdAt: string;
  /** True when the current version carries flags. */
  readonly flagged: boolean;
}

export type EpisodeStatus = 'open' | 'closed';

/** A chest-pain episode as the worklist shows it. */
export interface EpisodeState {
  readonly id: string;
  readonly patientKey: string;
  /** The identifier (or reference) that names the patient, for people: { system, value } or { reference }. */
  readonly patient: Readonly<Record<string, string>>;
  /** The encounter id the episode's results name (rule 3), or null. */
  readonly encounterId: string | null;
  readonly status: EpisodeStatus;
  /** Why it closed: `final-outcome` or `window-passed`. */
  readonly closedReason: string | null;
  readonly openedAt: string;
  /** Earliest and latest result times (epoch ms) of the episode. */
  readonly firstMs: number;
  readonly lastMs: number;
  /** When no further result can join it (latest result + the pathway's episode window), epoch ms. */
  readonly windowEndsMs: number;
  /** The latest decision (null before the first evaluation). */
  readonly outcome: string | null;
  readonly indicator: string | null;
  readonly summary: string | null;
  readonly missing: readonly string[];
  /** The first troponin (baseline) draw time, ISO, when there is one. */
  readonly baselineTime: string | null;
  readonly retestDue: string | null;
  readonly retestDueMs: number | null;
  /** The retest due time (ms) for which the overdue alert has fired. */
  readonly overdueFiredMs: number | null;
  readonly retestOverdue: boolean;
  /** When the outcome, the status or the overdue state last changed (ISO). */
  readonly lastChangeAt: string;
  /** Bumped by each committed event. */
  readonly rev: number;
  readonly lastAuditId: string | null;
}

export interface EvaluationRow {
  readonly episodeId: string;
  readonly seq: number;
  readonly at: string;
  /** `lab-result` or `retest-overdue`. */
  readonly trigger: string;
  readonly outcome: string;
  readonly auditId: string;
}

export type AlertStatus = 'pending' | 'delivered' | 'dead';

export interface AlertRow {
  readonly id: string;
  /** One alert per (notification, episode, change): a second insert with the key is ignored. */
  readonly dedupeKey: string;
  readonly url: string;
  readonly episodeId: string;
  readonly event: string;
  /** The exact bytes POSTed (the HMAC is of these). */
  readonly body: string;
  readonly status: AlertStatus;
  readonly attempts: number;
  readonly nextAttemptMs: number;
  readonly lastError: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What one event writes, with its preconditions. Built by src/intake and src/episodes, applied by the backends. */
export interface LabEvent {
  /** Each patient the event touches, with the revision its snapshot saw (null: the patient was unknown). */
  readonly patients: readonly { readonly key: string; readonly expectedRev: number | null }[];
  /** Identity keys the event claims for new results: each must still be free. */
  readonly newKeys: readonly { readonly key: string; readonly resultId: string }[];
  readonly results: readonly ResultRow[];
  /** New versions: each (resultId, version) must still be free. */
  readonly versions: readonly ResultVersionRow[];
  readonly patientLinks: readonly { readonly identifierKey: string; readonly patientKey: string }[];
  readonly episodes: readonly EpisodeState[];
  readonly evaluations: readonly Omit<EvaluationRow, 'seq'>[];
  readonly alerts: readonly AlertRow[];
  /** Episodes whose worklist row changed (the stream's feed). */
  readonly changes: readonly { readonly episodeId: string; readonly at: string; readonly row: string }[];
  /** The raw HL7 message (kept once per digest), when the event came from one. */
  readonly message?: { readonly sha256: string; readonly receivedAt: string; readonly client: string; readonly text: string };
}

/** The event's preconditions failed: another event changed what it was planned on. Nothing was written. */
export interface LabConflict {
  readonly ok: false;
  readonly conflict: string;
}

/** A stored result with the versions a reader asked for. */
export interface StoredResult {
  readonly row: ResultRow;
  /**
   * Newest first: every version (`LabReads.result`), the newest few (the pages), or what an evaluation
   * reads (the newest `EVALUATION_VERSIONS` and the newest used one before them, src/episodes/versions.ts).
   */
  readonly versions: readonly ResultVersionRow[];
}

/** What an event is planned on. */
export interface LabSnapshot {
  /** Revision per patient key (absent: unknown patient). */
  readonly revs: ReadonlyMap<string, number>;
  /** Result id per identity key asked for. */
  readonly keys: ReadonlyMap<string, string>;
  /**
   * The results named by those keys, with the versions an evaluation reads (bounded per result whatever
   * its number of versions: src/episodes/versions.ts). The results of the episodes are not here:
   * an evaluation reads its episode's latest results itself (`LabReads.latestOfEpisode`, bounded), after
   * the revisions, which guard them (any change to a patient's results bumps its revision).
   */
  readonly results: ReadonlyMap<string, StoredResult>;
  /** The patients' episodes (open or closed), newest first. */
  readonly episodes: readonly EpisodeState[];
}

/** A change of the worklist, for the stream. */
export interface ChangeRow {
  readonly seq: number;
  readonly at: string;
  readonly episodeId: string;
  /** The worklist row as it was after the change (JSON). */
  readonly row: string;
}

/** Which page of an episode's results to read (see `LabReads.episode`). */
export interface EpisodePage {
  readonly limit: number;
  /** The (time, id) of the last result of the previous page; null for the first page. */
  readonly after: { readonly timeMs: number; readonly id: string } | null;
  /** How many of each result's versions to read (the newest). */
  readonly versions: number;
}

/** Which page of the results in no episode to read (see `LabReads.unmatched`). */
export interface UnmatchedPage {
  readonly limit: number;
  /** The (createdAt, id) of the last result of the previous page; null for the first page. */
  readonly after: { readonly createdAt: string; readonly id: string } | null;
  /** How many of each result's versions to read (the newest). */
  readonly versions: number;
}

/** The lab reads of the store (each one query or a few; bounded by their `limit`). */
export interface LabReads {
  /** The state an event over these keys and patients is planned on. Revisions are read first. */
  snapshot(q: { readonly keys: readonly string[]; readonly patientKeys: readonly string[] }): Promise<LabSnapshot>;
  /** A result and every version of it (newest first): its whole history, for checks that compare with it. */
  result(id: string): Promise<StoredResult | null>;
  /** A result with one version only: `version`, else its current one (none when it has no such version). One row however many it has. */
  resultVersion(id: string, version: number | null): Promise<StoredResult | null>;
  /** An episode's latest `limit` results by time (newest first), with the versions an evaluation reads: one indexed query. */
  latestOfEpisode(episodeId: string, limit: number): Promise<StoredResult[]>;
  /** Episodes, newest change first. */
  episodes(q: { readonly status: EpisodeStatus | 'all'; readonly limit: number }): Promise<EpisodeState[]>;
  /**
   * An episode and one page of its results, ordered by time then id, after the cursor `after` (the last
   * result of the previous page): at most `limit` results (`more` says whether any follow), each with its
   * latest `versions` versions only (the rest are counted by `row.currentVersion`), and `total`, the
   * count of all its results. Bounded whatever the episode's size (one indexed range read per page).
   */
  episode(id: string, page: EpisodePage): Promise<{ episode: EpisodeState; results: StoredResult[]; more: boolean; total: number; evaluations: EvaluationRow[] } | null>;
  /**
   * One page of the stored results in no episode (naming no patient, or not read by the pathway), newest first (by creation, then id, descending),
   * before the cursor `after`: at most `limit` results (`more` says whether any follow), each with its
   * latest `versions` versions only, and `total`, the count of them all. Bounded whatever their number.
   */
  unmatched(page: UnmatchedPage): Promise<{ results: StoredResult[]; more: boolean; total: number }>;
  /** Patient keys linked to any of these identifier keys. */
  patientKeysFor(identifierKeys: readonly string[]): Promise<string[]>;
  /** The results of these patients with a time at or after `sinceMs` (at most `limit`, newest first), with the versions an evaluation reads. */
  resultsOfPatients(patientKeys: readonly string[], sinceMs: number, limit: number): Promise<StoredResult[]>;
  /** Open episodes with a timer due at `nowMs` (retest overdue not yet fired, or the window passed). */
  dueEpisodes(nowMs: number, limit: number): Promise<EpisodeState[]>;
  /** Changes after `seq`, oldest first, and the newest seq. */
  changesAfter(seq: number, limit: number): Promise<ChangeRow[]>;
  lastChangeSeq(): Promise<number>;
  alerts(q: { readonly status: AlertStatus; readonly limit: number }): Promise<AlertRow[]>;
  countAlerts(status: AlertStatus): Promise<number>;
}

/** The lab writes besides events (the alert outbox's delivery bookkeeping). */
export interface LabOutbox {
  /** Claims up to `limit` pending alerts due at `nowMs` for `leaseMs` (no other process gets them meanwhile). */
  claimAlerts(nowMs: number, leaseMs: number, limit: number): Promise<AlertRow[]>;
  /** Records a delivery attempt's outcome: delivered, retry at `nextAttemptMs`, or dead. */
  finishAlert(id: string, outcome: { readonly status: AlertStatus; readonly nextAttemptMs: number; readonly error: string | null; readonly at: string }): Promise<void>;
  /** Keeps at most `keep` dead letters (the oldest go) and changes younger than `changesBeforeMs`. */
  prune(keep: number, changesBeforeMs: number): Promise<void>;
}
