/**
 * What the CDS service writes to the audit trail about a call: who called, about whom, from where (the
 * head of every evaluation and failure record), what the EHR was told on a failure, and the evaluation
 * record's body (the decision with its trace, the input digests and the card as it was sent).
 */
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Decision } from '../engine/types.js';
import { TnpError } from '../errors.js';
import { auditableFhirUrl } from '../fhir/allow-list.js';
import { inputDigests, listedItems, resourceDigest } from '../audit/input-digests.js';
import { recordedCardOf, suggestsRetest } from './cards.js';
import type { VerifiedClient } from './jwt.js';
import type { GatheredData } from './prefetch.js';
import type { CdsCard, CdsPatientViewRequest } from './types.js';
import { decisionFields } from '../audit/decision-fields.js';

type Json = Record<string, unknown>;

/** The calling client as recorded: never the token. */
export function clientOf(c: VerifiedClient): Json {
  return { iss: c.iss, tenant: c.tenant, jti: c.jti, kid: c.kid };
}

/** Who called, about whom, from where. */
export function callOf(serviceId: string, body: CdsPatientViewRequest, client: VerifiedClient): Json {
  return {
    service: serviceId,
    hook: body.hook,
    hookInstance: body.hookInstance,
    client: clientOf(client),
    userId: body.context.userId,
    patientId: body.context.patientId,
    encounterId: body.context.encounterId ?? null,
    // Origin and path only: a query or credentials in it (tokens, patient ids) are not kept.
    fhirServer: auditableFhirUrl(body.fhirServer),
  };
}

/** What the EHR was told and, for a FHIR failure, what the FHIR server did (the answer leaves that out). */
export function errorOf(err: TnpError): Json {
  return {
    code: err.code,
    status: err.status,
    message: err.message,
    ...(err.cause instanceof TnpError ? { cause: { code: err.cause.code, message: err.cause.message } } : {}),
  };
}

export interface EvaluationFacts {
  readonly call: Json;
  readonly data: GatheredData;
  readonly runtime: PathwayRuntime;
  readonly engineVersion: string;
  readonly decision: Decision;
  /** The client that set the evaluation time (the local development client of `dev`), if one did. */
  readonly evaluationTimeGivenBy: string | null;
  /**
   * The card as made once, before the record, for the card sent and its record (its `uuid` and `auditId`
   * are placeholders until the record's id is known; the record keeps the card without them).
   */
  readonly card: CdsCard;
  readonly suggestionUuid: string;
}

/**
 * The evaluation record's body. Keys in the order the audit records and the golden files have always had them.
 * `cards` has one entry per card sent: `uuidIsRecordId`, `summary`, `indicator` and `suggestionUuids` as
 * always, and `card`, the whole card as sent but for its `uuid` and `auditId` (the record's id), so that
 * `withRecordId(card, record.id)` (src/cds/cards.ts) is the card the EHR received (hazard I-10).
 */
export function evaluationBody(f: EvaluationFacts): Json {
  const { data, decision, runtime } = f;
  return {
    ...f.call,
    data: { sources: data.sources, excluded: listedItems(data.excluded), excludedCount: data.excluded.length, fhirRequests: data.fhirRequests },
    ...inputDigests(data.resources.map(resourceDigest)),
    pathway: runtime.identity,
    engineVersion: f.engineVersion,
    evaluatedAt: decision.evaluatedAt,
    ...(f.evaluationTimeGivenBy === null ? {} : { evaluationTimeGivenBy: f.evaluationTimeGivenBy }),
    ...decisionFields(decision),
    cards: [{ uuidIsRecordId: true, summary: f.card.summary, indicator: decision.indicator, suggestionUuids: suggestsRetest(decision, runtime) ? [f.suggestionUuid] : [], card: recordedCardOf(f.card) }],
  };
}
