/**
 * Plans one laboratory event from a snapshot: the results (new, a new version, or an idempotent repeat),
 * the episodes they join, each touched episode evaluated with `decideResources`, its audit record, its
 * alerts and its worklist change. The plan is committed by the store with the snapshot's revisions as
 * preconditions (src/audit/lab/types.ts); when they fail, it is planned again from a fresh snapshot.
 *
 * Idempotency and versions (per result, identified by its identity keys, src/intake/item.ts):
 * - the same content again (or a conditional create that matches): nothing new, the current version;
 * - other content: a new version (amended, corrected, entered-in-error, a final after a preliminary...);
 *   the versions before it stay (nothing is ever deleted);
 * - keys naming two stored results, a result of another patient, or a result of another lab client: 409,
 *   nothing stored (a laboratory changes only its own results).
 *
 * Episodes: only a result the pathway reads opens one; another joins its patient's episode of its time, or none.
 */
import type { AuditRecordInput, EpisodeState, LabEvent, LabReads, LabSnapshot, ResultRow, ResultVersionRow } from '../audit/store.js';
import { alertsFor } from '../alerts/plan.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Decision } from '../engine/types.js';
import { boundedDecision, decideEpisode, episodeFor, episodeReadBound, newEpisode, nextState, type EpisodeRead, type ResultVersions } from '../episodes/evaluate.js';
import type { EpisodeRules } from '../episodes/rules.js';
import { worklistRow } from '../episodes/row.js';
import { TnpError } from '../errors.js';
import { canonicalJson, sha256Hex } from '../util/canonical-json.js';
import type { Resource } from 'fhir/r4.js';
import { toFacts } from '../fhir/mapping.js';
import { canonicalText, intakeAuditBody, evaluationAuditBody, flagsFromDecision, storedResource, type Work } from './records.js';
import type { Flag, IntakeItem } from './item.js';

export interface BuildContext {
  readonly runtime: PathwayRuntime;
  readonly rules: EpisodeRules;
  readonly nowMs: number;
  readonly newId: () => string;
  readonly client: string;
  readonly channel: 'fhir' | 'hl7' | 'timer';
  readonly engineVersion: string;
  /** Where an evaluation reads its episode's latest results (bounded; src/episodes/evaluate.ts). */
  readonly reads: Pick<LabReads, 'latestOfEpisode'>;
}

/** What happened to one item. */
export interface ItemOutcome {
  readonly outcome: 'created' | 'updated' | 'unchanged';
  readonly id: string;
  readonly version: number;
  /** The stored resource (canonical JSON text) of that version. */
  readonly resource: string;
  readonly flags: readonly Flag[];
  readonly episodeId: string | null;
}

export interface Plan {
  readonly event: LabEvent;
  readonly records: { id: string; input: AuditRecordInput }[];
  readonly outcomes: ItemOutcome[];
  /** Episodes whose outcome changed, for logs and metrics. */
  readonly decisions: { episodeId: string; outcome: string }[];
}

type Json = Record<string, unknown>;

export class EventBuilder {
  private readonly work: Work;
  private readonly touched = new Map<string, { trigger: string; atMs: number }>();
  private readonly pendingItems: { outcome: ItemOutcome | null; resultId: string; version: number }[] = [];
  /** Results not read by the pathway kept out of every episode: a later item of the event may open theirs. */
  private readonly notRead: { key: string; patientKey: string; encounterId: string | null; timeMs: number }[] = [];

  constructor(
    private readonly snap: LabSnapshot,
    private readonly ctx: BuildContext,
  ) {
    this.work = {
      results: new Map([...snap.results.values()].map((r) => [r.row.id, { row: r.row, versions: r.versions.map((v) => ({ row: v, resource: JSON.parse(v.resource) as Json })) }])),
      keys: new Map(snap.keys),
      episodes: new Map(snap.episodes.map((e) => [e.id, e])),
      newKeys: [],
      newVersions: new Map(),
      links: [],
    };
  }

  /** Adds one item; throws TnpError 409 (TNP_ERR_LAB_RESULT_CONFLICT) or 412 for a conditional create. */
  add(item: IntakeItem): void {
    const w = this.work;
    if (item.ifNoneExist !== undefined) {
      const owner = w.keys.get(item.ifNoneExist);
      const found = owner === undefined ? undefined : w.results.get(owner);
      if (found !== undefined) {
        this.ownedHere(found.row, item, 'If-None-Exist');
        return void this.pendingItems.push({ outcome: null, resultId: found.row.id, version: found.versions[0]?.row.version ?? 1 });
      }
    }
    let owners = new Set(item.identityKeys.map((k) => w.keys.get(k)).filter((x): x is string => x !== undefined));
    if (owners.size === 0 && item.ownLookupKeys !== undefined) {
      // An earlier identifier of the result: it finds this client's result only (another's is not this one).
      owners = new Set(item.ownLookupKeys.map((k) => w.keys.get(k)).filter((x): x is string => x !== undefined && w.results.get(x)?.row.client === this.ctx.client));
    }
    if (owners.size > 1) throw new TnpError('TNP_ERR_LAB_RESULT_CONFLICT', `${item.path}.identifier names ${owners.size} different stored results`, { expression: [`${item.path}.identifier`] });
    const existing = owners.size === 1 ? w.results.get([...owners][0] ?? '') : undefined;
    if (existing !== undefined) this.ownedHere(existing.row, item, 'identifier');
    if (existing !== undefined && existing.row.patientKey !== null && item.patient !== null && existing.row.patientKey !== item.patient.key) {
      throw new TnpError('TNP_ERR_LAB_RESULT_CONFLICT', `${item.path}.identifier names a stored result of another patient`, { expression: [`${item.path}.subject`] });
    }
    let resource = item.resource;
    let contentSha = item.contentSha;
    const flags: Flag[] = [...item.flags];
    if (item.finaliseStored === true) {
      const current = existing?.versions[0];
      if (current !== undefined) {
        const { id: _id, meta: _meta, ...rest } = current.resource;
        resource = { ...rest, status: 'final' };
        contentSha = sha256Hex(canonicalJson(resource));
      } else flags.push({ code: 'no-earlier-result', text: 'HL7 result status U (made final without its value) names no stored result: stored as sent' });
    }
    const current = existing?.versions[0];
    if (existing !== undefined && current !== undefined && current.row.contentSha === contentSha) {
      return void this.pendingItems.push({ outcome: null, resultId: existing.row.id, version: current.row.version });
    }
    const resultId = existing?.row.id ?? this.ctx.newId();
    const version = (current?.row.version ?? 0) + 1;
    const prevMs = current === undefined ? 0 : Date.parse(current.row.lastUpdated);
    const lastUpdatedMs = Math.max(this.ctx.nowMs, prevMs + 1);
    for (const k of item.identityKeys) {
      if (!w.keys.has(k)) {
        w.keys.set(k, resultId);
        w.newKeys.push({ key: k, resultId });
      }
    }
    const patient = item.patient ?? null;
    const patientKey = existing?.row.patientKey ?? patient?.key ?? null;
    if (patient !== null) for (const l of patient.links) w.links.push({ identifierKey: l, patientKey: patient.key });
    const timeMs = item.timeMs ?? existing?.row.timeMs ?? this.ctx.nowMs;
    let episodeId = existing?.row.episodeId ?? null;
    if (episodeId === null && patientKey !== null) {
      const mine = [...w.episodes.values()].filter((e) => e.patientKey === patientKey);
      const found = episodeFor(mine, item.encounterId, timeMs, this.ctx.rules.windowMs);
      // Only a result the pathway reads (troponin, ECG, TIMI, onset by the pathway's codes) opens an
      // episode; another joins the patient's episode of its time, else it is kept in none, listed with
      // the unmatched results (an unknown code may be a troponin the site has not mapped; hazard L-50).
      if (found === null && !readByPathway(this.ctx.runtime, resource)) {
        this.notRead.push({ key: `${resultId}|${version}`, patientKey, encounterId: item.encounterId, timeMs });
        flags.push({ code: 'not-read', text: 'not a result the pathway reads (troponin, ECG, TIMI score or onset by its codes) and no episode of the patient is open at its time: stored in no episode, listed at /episodes/unmatched (a troponin under a code the site has not mapped needs assayCodeMappings)' });
      } else {
        const ep = found ?? newEpisode(this.ctx.newId(), patientKey, patient?.display ?? { key: patientKey }, item.encounterId, timeMs, this.ctx.nowMs, this.ctx.rules);
        episodeId = ep.id;
        w.episodes.set(ep.id, ep.encounterId === null && item.encounterId !== null ? { ...ep, encounterId: item.encounterId } : ep);
      }
    }
    const row: ResultRow = { id: resultId, patientKey, client: existing?.row.client ?? this.ctx.client, episodeId, currentVersion: version, timeMs, createdAt: existing?.row.createdAt ?? new Date(this.ctx.nowMs).toISOString(), flagged: flags.length > 0 };
    const stored = storedResource(resource, resultId, version, new Date(lastUpdatedMs).toISOString());
    const entry = { row, versions: [{ row: { resultId, version, lastUpdated: new Date(lastUpdatedMs).toISOString(), status: typeof resource['status'] === 'string' ? resource['status'] : 'unknown', contentSha, resource: '', flags: '[]', source: JSON.stringify({ ...item.source, client: this.ctx.client }), auditId: '' }, resource: stored }, ...(existing?.versions ?? [])] };
    w.results.set(resultId, entry);
    w.newVersions.set(`${resultId}|${version}`, { flags, episodeId });
    this.pendingItems.push({ outcome: null, resultId, version });
    if (episodeId !== null) this.touch(episodeId, 'lab-result');
  }

  /**
   * A result the pathway does not read joins the episode an item after it in the same event opened (an
   * HL7 comment OBX before its troponin), as it would had they come the other way round.
   */
  private joinOpenedEpisodes(): void {
    const w = this.work;
    for (const n of this.notRead) {
      const nv = w.newVersions.get(n.key);
      const r = w.results.get(n.key.split('|')[0] ?? '');
      if (nv === undefined || r === undefined || r.row.episodeId !== null) continue;
      const found = episodeFor([...w.episodes.values()].filter((e) => e.patientKey === n.patientKey), n.encounterId, n.timeMs, this.ctx.rules.windowMs);
      if (found === null) continue;
      r.row = { ...r.row, episodeId: found.id };
      nv.episodeId = found.id;
      const i = nv.flags.findIndex((f) => f.code === 'not-read');
      if (i >= 0) nv.flags.splice(i, 1);
      this.touch(found.id, 'lab-result');
    }
  }

  /**
   * A result belongs to the lab client that sent it first: another client's item naming it (by identifier
   * or If-None-Exist) is refused, 409, nothing stored, so no laboratory changes or voids another's result
   * (hazard L-48). The timers (channel `timer`) add no items.
   */
  private ownedHere(row: ResultRow, item: IntakeItem, by: string): void {
    if (row.client === this.ctx.client) return;
    throw new TnpError('TNP_ERR_LAB_RESULT_CONFLICT', `${item.path}.${by === 'identifier' ? 'identifier' : 'If-None-Exist'} names a stored result that belongs to another laboratory (another lab client): a laboratory can change or void only its own results; nothing stored. Use an identifier of your own laboratory.`, { expression: [by === 'identifier' ? `${item.path}.identifier` : 'If-None-Exist'] });
  }

  /**
   * Marks an episode to be evaluated in this event (`trigger`: lab-result, retest-overdue, window-passed),
   * at `atMs` (default now; a window closes with the decision as it stood at the window's end, before its
   * results aged out of the pathway's episode rule).
   */
  touch(episodeId: string, trigger: string, atMs = this.ctx.nowMs): void {
    if (!this.touched.has(episodeId)) this.touched.set(episodeId, { trigger, atMs });
  }

  /**
   * Reads the episode's latest results (at most the read bound + 1, one indexed query) beside those the
   * event already holds (its own, and those its keys named, which win: they may carry new versions).
   */
  private async readEpisode(episodeId: string): Promise<EpisodeRead> {
    const w = this.work;
    const bound = episodeReadBound(this.ctx.runtime.pathway.file.settings.maxTroponinResults);
    const stored = await this.ctx.reads.latestOfEpisode(episodeId, bound + 1);
    for (const r of stored) {
      if (!w.results.has(r.row.id)) w.results.set(r.row.id, { row: r.row, versions: r.versions.map((v) => ({ row: v, resource: JSON.parse(v.resource) as Json })) });
    }
    let results = 0;
    for (const r of w.results.values()) if (r.row.episodeId === episodeId) results += 1;
    return { results, complete: stored.length <= bound };
  }

  /** Evaluates the touched episodes and builds the event. */
  async build(message?: LabEvent['message']): Promise<Plan> {
    const w = this.work;
    const ctx = this.ctx;
    this.joinOpenedEpisodes();
    const records: Plan['records'] = [];
    const episodes: EpisodeState[] = [];
    const evaluations: LabEvent['evaluations'][number][] = [];
    const alerts: LabEvent['alerts'][number][] = [];
    const changes: LabEvent['changes'][number][] = [];
    const decisions: Plan['decisions'] = [];
    const auditOf = new Map<string, string>();
    const decisionOf = new Map<string, Decision>();
    for (const [episodeId, { trigger, atMs }] of [...this.touched.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
      const prev = w.episodes.get(episodeId);
      if (prev === undefined) continue;
      const read = await this.readEpisode(episodeId);
      const results: ResultVersions[] = [...w.results.values()].filter((r) => r.row.episodeId === episodeId).map((r) => ({ id: r.row.id, timeMs: r.row.timeMs, versions: r.versions.map((v) => ({ status: v.row.status, resource: v.resource })) }));
      // A result for an episode whose window has passed (a late correction): the episode as it stood at
      // its window's end, with the new version, not at a time its results have aged out of it.
      const windowEnd = results.length === 0 ? atMs : Math.max(...results.map((r) => r.timeMs)) + ctx.rules.windowMs;
      const evalMs = Math.min(atMs, windowEnd);
      const decision = boundedDecision(ctx.runtime, await decideEpisode(ctx.runtime, results, evalMs, prev.encounterId), prev, read);
      const auditId = ctx.newId();
      const evaluated = nextState(prev, decision, results, evalMs, ctx.rules, auditId, read.complete);
      const step = evaluated.changed ? { ...evaluated, next: { ...evaluated.next, lastChangeAt: new Date(ctx.nowMs).toISOString() } } : evaluated;
      const newHere = [...w.newVersions.entries()].filter(([, v]) => v.episodeId === episodeId).map(([k]) => k);
      for (const k of newHere) {
        const nv = w.newVersions.get(k);
        if (nv !== undefined) nv.flags.push(...flagsFromDecision(decision, k.split('|')[0] ?? ''));
      }
      episodes.push(step.next);
      w.episodes.set(episodeId, step.next);
      evaluations.push({ episodeId, at: new Date(ctx.nowMs).toISOString(), trigger, outcome: decision.outcome, auditId });
      if (step.changed) changes.push({ episodeId, at: new Date(ctx.nowMs).toISOString(), row: JSON.stringify(worklistRow(step.next, ctx.nowMs)) });
      alerts.push(...alertsFor(step, prev.outcome, ctx.rules, { nowMs: ctx.nowMs, newId: ctx.newId, pathway: ctx.runtime.identity.id }));
      if (step.outcomeChangedFrom !== undefined) decisions.push({ episodeId, outcome: decision.outcome });
      auditOf.set(episodeId, auditId);
      decisionOf.set(episodeId, decision);
      records.push({ id: auditId, input: { kind: 'evaluation', at: new Date(ctx.nowMs).toISOString(), patientId: prev.patientKey, body: evaluationAuditBody(w, step.next, decision, trigger, ctx, newHere, read) } });
    }
    // Results in no episode (no patient): their own record, and flags from the pathway's reading of them alone.
    const loose = [...w.newVersions.entries()].filter(([, v]) => v.episodeId === null).map(([k]) => k);
    if (loose.length > 0) {
      const looseId = ctx.newId();
      for (const k of loose) {
        const [id] = k.split('|');
        const r = w.results.get(id ?? '');
        const nv = w.newVersions.get(k);
        if (r === undefined || nv === undefined) continue;
        const alone = await decideEpisode(ctx.runtime, [{ id: r.row.id, timeMs: r.row.timeMs, versions: [{ status: r.versions[0]?.row.status ?? 'unknown', resource: r.versions[0]?.resource ?? {} }] }], ctx.nowMs, null);
        nv.flags.push(...flagsFromDecision(alone, r.row.id));
        auditOf.set(`loose|${k}`, looseId);
      }
      records.push({ id: looseId, input: { kind: 'lab-intake', at: new Date(ctx.nowMs).toISOString(), patientId: null, body: intakeAuditBody(w, loose, ctx) } });
    }
    const versions: ResultVersionRow[] = [];
    const resultRows: ResultRow[] = [];
    for (const [k, nv] of w.newVersions) {
      const [id, version] = k.split('|');
      const r = w.results.get(id ?? '');
      // The version this key names: one event may add several versions of one result (a transaction
      // holding a preliminary and its final), each written once, in order.
      const v = r?.versions.find((x) => String(x.row.version) === version);
      if (r === undefined || v === undefined) continue;
      const auditId = nv.episodeId === null ? (auditOf.get(`loose|${k}`) ?? '') : (auditOf.get(nv.episodeId) ?? '');
      const resource = storedResource(v.resource, r.row.id, v.row.version, v.row.lastUpdated, nv.flags);
      v.resource = resource;
      const text = canonicalText(resource);
      versions.push({ ...v.row, resource: text, flags: JSON.stringify(nv.flags), auditId });
      // The result's row once, as its newest version leaves it.
      if (v.row.version === r.row.currentVersion) resultRows.push({ ...r.row, flagged: nv.flags.length > 0 });
    }
    const outcomes = this.pendingItems.map((p): ItemOutcome => {
      const r = w.results.get(p.resultId);
      const v = r?.versions.find((x) => x.row.version === p.version);
      const nv = w.newVersions.get(`${p.resultId}|${p.version}`);
      const flags = nv?.flags ?? (v === undefined ? [] : (JSON.parse(v.row.flags === '' ? '[]' : v.row.flags) as Flag[]));
      return { outcome: nv === undefined ? 'unchanged' : p.version === 1 ? 'created' : 'updated', id: p.resultId, version: p.version, resource: canonicalText(v?.resource ?? {}), flags, episodeId: r?.row.episodeId ?? null };
    });
    const patients = [...new Set([...resultRows.map((r) => r.patientKey), ...episodes.map((e) => e.patientKey)].filter((k): k is string => k !== null))].sort();
    const event: LabEvent = {
      patients: patients.map((key) => ({ key, expectedRev: this.snap.revs.get(key) ?? null })),
      newKeys: w.newKeys,
      results: resultRows,
      versions,
      patientLinks: dedupeLinks(w.links),
      episodes,
      evaluations,
      alerts,
      changes,
      ...(message === undefined || versions.length === 0 ? {} : { message }),
    };
    return { event, records, outcomes, decisions };
  }

  /** True when the event writes nothing (every item an idempotent repeat, no episode touched). */
  get empty(): boolean {
    return this.work.newVersions.size === 0 && this.touched.size === 0;
  }
}

/** Whether the pathway reads this Observation at all (its code is one of the pathway's), by the same mapping `decide` uses. */
function readByPathway(runtime: PathwayRuntime, resource: Json): boolean {
  return toFacts([resource as unknown as Resource], runtime.codeMaps, null).observations.length > 0;
}

function dedupeLinks(links: readonly { identifierKey: string; patientKey: string }[]): { identifierKey: string; patientKey: string }[] {
  const seen = new Map(links.map((l) => [`${l.identifierKey}\u0000${l.patientKey}`, l]));
  return [...seen.values()];
}
