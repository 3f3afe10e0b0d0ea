/**
 * What the adoption report reads of each audit record: the decision shape of evaluation records (from the
 * CDS service, and from laboratory intake with trigger `lab-result`), feedback records and evaluation
 * failures. Read from the records' data only, never from the engine. Every field is read defensively: a
 * record of another shape (an older version, an edited body) gives no fact, and is counted as such.
 */
import { OVERRIDE_REASON_SYSTEM, OVERRIDE_REASONS } from '../cds/cards.js';
import { isObject } from '../util/guards.js';

type Json = Record<string, unknown>;
const str = (x: unknown): string | null => (typeof x === 'string' && x !== '' ? x : null);

/** Codes that go into the roll-up as keys: short, plain; anything else is counted as `other`. */
const CODE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const codeOf = (x: unknown): string => (typeof x === 'string' && CODE.test(x) ? x : 'other');

/** A record's time as epoch ms, or null. */
function ms(x: unknown): number | null {
  if (typeof x !== 'string') return null;
  const t = Date.parse(x);
  return Number.isFinite(t) ? t : null;
}

export interface LaterSample {
  readonly minutes: number;
  readonly sameAssay: boolean;
}

export interface EvaluationFact {
  readonly kind: 'evaluation';
  readonly seq: number;
  readonly recordId: string;
  readonly atMs: number;
  readonly patientId: string | null;
  readonly encounterId: string | null;
  /** The record's own episode key (laboratory intake), when it has one. */
  readonly episodeId: string | null;
  /** `cds-hooks` for CDS calls, or the record's `trigger` (`lab-result`). */
  readonly trigger: string;
  readonly pathwayId: string;
  readonly settingsHash: string;
  readonly outcome: string;
  readonly evaluatedAtMs: number;
  readonly missing: readonly string[];
  readonly retestDueMs: number | null;
  readonly retestOverdue: boolean;
  readonly baselineDrawMs: number | null;
  /** The baseline draw time as recorded (the episode's anchor). */
  readonly baselineDrawTime: string | null;
  /** Later results of the episode, by minutes after the baseline, ascending. */
  readonly later: readonly LaterSample[];
  /** Result references (kept inside the computation only) with the rule that made them uninterpretable. */
  readonly uninterpretable: readonly { readonly ref: string; readonly reason: string }[];
  /** Results whose assay was assumed from the catalogue's default codes (the site has not mapped its code). */
  readonly unmapped: readonly string[];
  /** Resources that were not a pathway observation (an unknown code). */
  readonly unrecognised: readonly string[];
}

export interface FeedbackFact {
  readonly kind: 'feedback';
  readonly seq: number;
  readonly atMs: number;
  readonly linksTo: string;
  readonly outcome: 'accepted' | 'overridden' | 'other';
  /** The override reason's code when it is one the service offers, `other` for any other coding, `none`. */
  readonly reason: string | null;
}

export interface FailureFact {
  readonly kind: 'failure';
  readonly seq: number;
  readonly atMs: number;
  readonly pathwayId: string;
  readonly settingsHash: string;
  readonly code: string;
}

export type AdoptionFact = EvaluationFact | FeedbackFact | FailureFact;

/** The part of a stored record the report reads. */
export interface RecordLike {
  readonly seq: number;
  readonly id: string;
  readonly kind: string;
  readonly at: string;
  readonly patientId: string | null;
  readonly linksTo?: string | undefined;
  readonly body: unknown;
}

/** `(rule 10/11)` at the end of an engine reason: the rule is the category; no free text leaves. */
export function reasonCategory(reason: unknown): string {
  if (typeof reason !== 'string') return 'other';
  const m = /\(rules? ([0-9]+(?:\/[0-9]+)?)[^)]*\)\s*$/.exec(reason);
  return m?.[1] === undefined ? 'other' : `rule-${m[1].replace('/', '-')}`;
}

const KNOWN_REASONS = new Set(OVERRIDE_REASONS.map((r) => r.code));

function feedbackReason(body: Json): string | null {
  if (body['outcome'] !== 'overridden') return null;
  const o = body['overrideReason'];
  if (!isObject(o) || !isObject(o['reason'])) return 'none';
  const r = o['reason'];
  return r['system'] === OVERRIDE_REASON_SYSTEM && typeof r['code'] === 'string' && KNOWN_REASONS.has(r['code']) ? r['code'] : 'other';
}

function pathwayOf(body: Json): { id: string; settingsHash: string } | null {
  const p = body['pathway'];
  if (!isObject(p)) return null;
  const id = str(p['id']);
  if (id === null || !CODE.test(id)) return null;
  const h = str(p['settingsSha256']);
  return { id, settingsHash: h !== null && /^[0-9a-f]{64}$/.test(h) ? h : 'unknown' };
}

function evaluationFact(r: RecordLike, body: Json, atMs: number): EvaluationFact | null {
  const pathway = pathwayOf(body);
  const outcome = str(body['outcome']);
  if (pathway === null || outcome === null) return null;
  const troponin = isObject(body['troponin']) ? body['troponin'] : {};
  const baseline = isObject(troponin['baseline']) ? troponin['baseline'] : null;
  const baselineAssay = baseline === null ? null : str(baseline['assay']);
  const baselineDrawTime = baseline === null ? null : str(baseline['drawTime']);
  const later = (Array.isArray(troponin['later']) ? (troponin['later'] as unknown[]) : [])
    .filter(isObject)
    .flatMap((l) => {
      const minutes = Number(l['minutesAfterBaseline']);
      if (!Number.isFinite(minutes)) return [];
      return [{ minutes, sameAssay: l['role'] !== 'other-assay' && (baselineAssay === null || l['assay'] === baselineAssay) }];
    })
    .sort((a, b) => a.minutes - b.minutes);
  const inputs = (Array.isArray(body['inputs']) ? (body['inputs'] as unknown[]) : []).filter(isObject);
  const assays = (Array.isArray(body['assays']) ? (body['assays'] as unknown[]) : []).filter(isObject);
  const episode = isObject(body['episode']) ? str(body['episode']['id']) : str(body['episodeId']);
  return {
    kind: 'evaluation',
    seq: r.seq,
    recordId: r.id,
    atMs,
    patientId: r.patientId,
    encounterId: str(body['encounterId']),
    episodeId: episode,
    trigger: codeOf(str(body['trigger']) ?? (str(body['hook']) !== null ? 'cds-hooks' : 'unknown')),
    pathwayId: pathway.id,
    settingsHash: pathway.settingsHash,
    outcome: codeOf(outcome),
    evaluatedAtMs: ms(body['evaluatedAt']) ?? atMs,
    missing: (Array.isArray(body['missing']) ? (body['missing'] as unknown[]) : []).map(codeOf),
    retestDueMs: ms(body['retestDue']),
    retestOverdue: body['retestOverdue'] === true,
    baselineDrawMs: ms(baselineDrawTime),
    baselineDrawTime,
    later,
    uninterpretable: inputs.filter((i) => i['use'] === 'uninterpretable' && typeof i['ref'] === 'string').map((i) => ({ ref: i['ref'] as string, reason: reasonCategory(i['reason']) })),
    unmapped: assays.filter((a) => a['source'] === 'catalogue-default' && typeof a['result'] === 'string').map((a) => a['result'] as string),
    unrecognised: inputs.filter((i) => i['use'] === 'ignored' && i['kind'] === 'other' && typeof i['ref'] === 'string').map((i) => i['ref'] as string),
  };
}

/**
 * The fact an audit record gives, or null (a heartbeat-free trail has only these kinds; a lab intake
 * without a decision gives none). An evaluation is any record whose body has the decision shape
 * (`outcome` and `pathway.id`), whatever its trigger.
 */
export function factOf(r: RecordLike): AdoptionFact | null {
  const body = r.body;
  const atMs = ms(r.at);
  if (!isObject(body) || atMs === null) return null;
  if (r.kind === 'feedback') {
    if (typeof r.linksTo !== 'string') return null;
    const o = body['outcome'];
    return { kind: 'feedback', seq: r.seq, atMs, linksTo: r.linksTo, outcome: o === 'accepted' || o === 'overridden' ? o : 'other', reason: feedbackReason(body) };
  }
  if (r.kind === 'evaluation-failure') {
    const pathway = pathwayOf(body);
    const err = isObject(body['error']) ? body['error']['code'] : undefined;
    return pathway === null ? null : { kind: 'failure', seq: r.seq, atMs, pathwayId: pathway.id, settingsHash: pathway.settingsHash, code: codeOf(err) };
  }
  return evaluationFact(r, body, atMs);
}
