/**
 * One result as the intake handles it, whatever the channel (FHIR or HL7 v2 mapped to FHIR): the
 * Observation as the laboratory sent it, how it is identified (for idempotency and versions), who it is
 * about, when it was drawn, and what the intake already knows the pathway cannot use.
 */
import { canonicalJson, sha256Hex } from '../util/canonical-json.js';
import { identifierOf, patientOf, type Identifier, type PatientRef } from './patient.js';
import { isObject } from '../util/guards.js';

type Json = Record<string, unknown>;

/** Something the pathway cannot use about a stored result (it is stored all the same). */
export interface Flag {
  /** `no-patient`, `no-identifier`, `no-draw-time`, or the pathway's use (`uninterpretable`, `ignored`). */
  readonly code: string;
  readonly text: string;
}

export interface IntakeItem {
  /** The Observation as sent (its id and meta.versionId / meta.lastUpdated removed: the store assigns them). */
  readonly resource: Json;
  /** sha256 of the canonical JSON of `resource`: the same result sent again has the same digest. */
  readonly contentSha: string;
  /**
   * Keys that identify the result: `identifier|<system>|<value>` for each identifier; with none, the
   * content digest (`content|<sha>`), so a repeat of an identifier-less result is still one result.
   */
  readonly identityKeys: readonly string[];
  readonly patient: PatientRef | null;
  /** The encounter id (the last segment of a reference; an identifier-only encounter names none, rule 3). */
  readonly encounterId: string | null;
  /** Draw time, else issued time (epoch ms), for grouping into episodes; null when neither is readable. */
  readonly timeMs: number | null;
  readonly status: string;
  readonly flags: readonly Flag[];
  /** Where it came from, stored with the version (channel, HL7 control id, segment). */
  readonly source: Json;
  /**
   * Earlier identity keys of the same result (HL7 filler identifiers before they were scoped to the lab
   * client): they find a stored result of the sending client only, and are never written.
   */
  readonly ownLookupKeys?: readonly string[];
  /** Conditional create: the identifier key of If-None-Exist. */
  readonly ifNoneExist?: string;
  /** HL7 OBX-11 U: "final, without retransmitting the result": the stored result's latest version, made final. */
  readonly finaliseStored?: boolean;
  /** Where it sits in the request, for messages: `Observation`, `Bundle.entry[2].resource`, `OBX[3]`. */
  readonly path: string;
}

/** A FHIR dateTime or instant with a time of day and a zone: its epoch ms, else null (rule 5: no time). */
export function instantMs(v: unknown): number | null {
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/.test(v)) return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : null;
}

export function drawTimeOf(r: Json): unknown {
  if (r['effectiveDateTime'] !== undefined) return r['effectiveDateTime'];
  if (r['effectiveInstant'] !== undefined) return r['effectiveInstant'];
  const p = r['effectivePeriod'];
  return isObject(p) ? p['start'] : undefined;
}

function encounterIdOf(r: Json): string | null {
  const e = r['encounter'];
  if (!isObject(e) || typeof e['reference'] !== 'string') return null;
  const m = /(?:^|\/)Encounter\/([^/?#]+)(?:\/_history\/[^/?#]+)?$/.exec(e['reference']);
  return m?.[1] ?? null;
}

/** The resource without what the store assigns (id, meta.versionId, meta.lastUpdated); other meta is kept. */
function asSent(resource: Json): Json {
  const { id: _id, meta, ...rest } = resource;
  if (!isObject(meta)) return rest;
  const { versionId: _v, lastUpdated: _l, ...keep } = meta;
  return Object.keys(keep).length === 0 ? rest : { ...rest, meta: keep };
}

/** Builds the intake item of a (structurally valid) Observation. */
export function itemOf(resource: Json, opts: { path: string; source: Json; moreIdentifiers?: readonly Identifier[]; ifNoneExist?: string; finaliseStored?: boolean; extraFlags?: readonly Flag[]; ownLookupKeys?: readonly string[] }): IntakeItem {
  const sent = asSent(resource);
  const contentSha = sha256Hex(canonicalJson(sent));
  const identifiers = (Array.isArray(sent['identifier']) ? (sent['identifier'] as unknown[]) : []).map(identifierOf).filter((i): i is Identifier => i !== null);
  const identityKeys = identifiers.length > 0 ? [...new Set(identifiers.map((i) => `identifier|${i.system}|${i.value}`))] : [`content|${contentSha}`];
  const patient = patientOf(sent['subject'], opts.moreIdentifiers ?? []);
  const drawMs = instantMs(drawTimeOf(sent));
  const flags: Flag[] = [...(opts.extraFlags ?? [])];
  if (patient === null) flags.push({ code: 'no-patient', text: 'names no patient (subject reference or identifier): stored, not in any episode' });
  if (identifiers.length === 0) flags.push({ code: 'no-identifier', text: 'has no identifier: a repeat with the same content is one result, but a correction cannot be matched to it' });
  if (drawMs === null) flags.push({ code: 'no-draw-time', text: 'has no readable draw time (effective[x] with a time of day and a time zone)' });
  return {
    resource: sent,
    contentSha,
    identityKeys,
    patient,
    encounterId: encounterIdOf(sent),
    timeMs: drawMs ?? instantMs(sent['issued']),
    status: typeof sent['status'] === 'string' ? sent['status'] : 'unknown',
    flags,
    source: opts.source,
    path: opts.path,
    ...(opts.ifNoneExist === undefined ? {} : { ifNoneExist: opts.ifNoneExist }),
    ...(opts.finaliseStored === true ? { finaliseStored: true } : {}),
    ...(opts.ownLookupKeys === undefined || opts.ownLookupKeys.length === 0 ? {} : { ownLookupKeys: opts.ownLookupKeys }),
  };
}
