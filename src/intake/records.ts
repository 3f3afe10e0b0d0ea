/**
 * The pieces of an event that people read: the stored resource (with its id, version, lastUpdated and
 * the intake's flags as meta.tag), the flags the pathway's own reading gives, and the audit records'
 * bodies (trigger, lab client, the results and versions, the decision with its trace).
 */
import type { EpisodeState, ResultRow, ResultVersionRow } from '../audit/store.js';
import type { Decision } from '../engine/types.js';
import { canonicalJson, sha256Hex } from '../util/canonical-json.js';
import type { Flag } from './item.js';
import { decisionFields } from '../audit/decision-fields.js';

type Json = Record<string, unknown>;

/** The working state of a plan (src/intake/builder.ts). */
export interface Work {
  readonly results: Map<string, { row: ResultRow; versions: { row: ResultVersionRow; resource: Json }[] }>;
  readonly keys: Map<string, string>;
  readonly episodes: Map<string, EpisodeState>;
  readonly newKeys: { key: string; resultId: string }[];
  /** `resultId|version` of the versions this event adds, with their flags and episode. */
  readonly newVersions: Map<string, { flags: Flag[]; episodeId: string | null }>;
  readonly links: { identifierKey: string; patientKey: string }[];
}

/**
 * The canonical JSON text and its sha256 of a resource object, computed once per object: within one
 * plan the same stored resource is hashed for the audit record's inputs and results and written as the
 * version's text and the answer's body. Keyed by identity (a WeakMap), so a resource replaced by a new
 * object (its flags added) is computed afresh; resources are never mutated once built.
 */
const canonicalTexts = new WeakMap<object, string>();
export function canonicalText(resource: Json): string {
  let text = canonicalTexts.get(resource);
  if (text === undefined) {
    text = canonicalJson(resource);
    canonicalTexts.set(resource, text);
  }
  return text;
}
const shas = new WeakMap<object, string>();
function shaOf(resource: Json): string {
  let sha = shas.get(resource);
  if (sha === undefined) {
    sha = sha256Hex(canonicalText(resource));
    shas.set(resource, sha);
  }
  return sha;
}

/** The code system of the intake's flags on stored results (meta.tag). */
export const FLAG_SYSTEM = 'http://hs-troponin-cds.example/fhir/CodeSystem/intake-flag';

/** The resource as stored: the laboratory's content, with the store's id and meta (and its flags as tags). */
export function storedResource(sent: Json, id: string, version: number, lastUpdated: string, flags: readonly Flag[] = []): Json {
  const { id: _id, meta, ...rest } = sent;
  const m = typeof meta === 'object' && meta !== null ? (meta as Json) : {};
  const labTags = Array.isArray(m['tag']) ? (m['tag'] as unknown[]).filter((t) => !(typeof t === 'object' && t !== null && (t as Json)['system'] === FLAG_SYSTEM)) : [];
  const tags = [...labTags, ...dedupeFlags(flags).map((f) => ({ system: FLAG_SYSTEM, code: f.code, display: f.text.slice(0, 300) }))];
  return { resourceType: 'Observation', id, meta: { ...m, versionId: String(version), lastUpdated, ...(tags.length === 0 ? {} : { tag: tags }) }, ...rest };
}

function dedupeFlags(flags: readonly Flag[]): Flag[] {
  const seen = new Map<string, Flag>();
  for (const f of flags) seen.set(`${f.code}|${f.text}`, f);
  return [...seen.values()];
}

/** The pathway's own word on a result it cannot use: `uninterpretable` or `ignored`, with the engine's reason. */
export function flagsFromDecision(decision: Decision, resultId: string): Flag[] {
  const ref = `Observation/${resultId}`;
  return dedupeFlags(decision.inputs.filter((i) => i.ref === ref && (i.use === 'uninterpretable' || i.use === 'ignored')).map((i) => ({ code: i.use, text: i.reason })));
}

function resultsOf(w: Work, keys: readonly string[]): Json[] {
  return keys.map((k) => {
    const [id, version] = k.split('|');
    const r = w.results.get(id ?? '');
    const v = r?.versions.find((x) => String(x.row.version) === version);
    return {
      id,
      version: Number(version),
      status: v?.row.status ?? null,
      sha256: v === undefined ? null : shaOf(v.resource),
      identifier: Array.isArray(v?.resource['identifier']) ? v?.resource['identifier'] : [],
      flags: [...(w.newVersions.get(k)?.flags ?? [])],
    };
  });
}

/** The body of an episode's evaluation record (trigger `lab-result` or `retest-overdue`). */
export function evaluationAuditBody(
  w: Work,
  e: EpisodeState,
  d: Decision,
  trigger: string,
  ctx: { client: string; channel: string; engineVersion: string; runtime: { identity: unknown } },
  newVersions: readonly string[],
  read: { readonly results: number; readonly complete: boolean },
): Json {
  const inputs = [...w.results.values()]
    .filter((r) => r.row.episodeId === e.id)
    .flatMap((r) => r.versions.slice(0, 2).map((v) => ({ ref: `Observation/${r.row.id}`, versionId: String(v.row.version), lastUpdated: v.row.lastUpdated, sha256: shaOf(v.resource) })));
  // Plain JSON already (the decision is, as the CDS service's record shows): the store's canonical
  // serialisation is the one pass it needs (no JSON round trip here; undefined members are left out there).
  return {
    trigger,
    labClient: ctx.client,
    channel: ctx.channel,
    episode: { id: e.id, status: e.status, closedReason: e.closedReason, patient: e.patient, encounterId: e.encounterId },
    results: resultsOf(w, newVersions),
    // What the evaluation read of its episode (bounded: src/episodes/evaluate.ts); inputResources lists it.
    episodeRead: { results: read.results, complete: read.complete },
    inputResources: inputs,
    pathway: ctx.runtime.identity,
    engineVersion: ctx.engineVersion,
    evaluatedAt: d.evaluatedAt,
    ...decisionFields(d),
  };
}

/** The body of the record of results that joined no episode (they name no patient). */
export function intakeAuditBody(w: Work, newVersions: readonly string[], ctx: { client: string; channel: string; engineVersion: string }): Json {
  return { trigger: 'lab-result', labClient: ctx.client, channel: ctx.channel, episode: null, results: resultsOf(w, newVersions), engineVersion: ctx.engineVersion };
}
