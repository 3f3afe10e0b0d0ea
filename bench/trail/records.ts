/**
 * The synthetic department's audit trail, written through the real audit store exactly as the service
 * writes it: evaluation records with the body the CDS service builds (src/cds/service.ts; a test keeps the
 * two shapes equal), each decided by the real engine on FHIR resources; feedback records linked to their
 * card's record, with the service's idempotency key; evaluation failures. Records go in time order, many
 * in flight at once (the store's group commit), with ids from the seeded generator, so a trail is
 * reproducible to the hash.
 */
import { createHash } from 'node:crypto';
import type { Observation, Resource } from 'fhir/r4.js';
import { inputDigests } from '../../src/audit/input-digests.js';
import { PreparedBulk, type AuditRecordInput, type AuditStore } from '../../src/audit/store.js';
import { cardsFor, OVERRIDE_REASON_SYSTEM, OVERRIDE_REASONS, recordedCardOf, suggestsRetest } from '../../src/cds/cards.js';
import type { CdsCard } from '../../src/cds/types.js';
import type { PathwayRuntime } from '../../src/engine/catalogue.js';
import { canonicalJson, sha256Hex } from '../../src/util/canonical-json.js';
import { engineDecisions, type DecisionSource } from './decisions.js';
import type { EpisodeSpec, FeedbackSpec } from './episodes.js';
import { decisionFields } from '../../src/audit/decision-fields.js';

export const SITE_CODE = { system: 'http://lab.hospital.example/codes', code: 'TNTHS' };
/** The site settings of the synthetic department (its laboratory code mapped to the Roche assay). */
export const SITE_SETTINGS = { assayCodeMappings: [{ ...SITE_CODE, assay: 'roche-elecsys-hs-tnt' }] };
/** The service's public address, for the cards' links (the rules page, the console). */
export const TRAIL_PUBLIC_BASE_URL = 'https://cds.hospital.example/tnp';
/** The key the trail's cards' console links are signed with (fixed, so a trail is reproducible to the hash). */
const CASE_LINK_KEY = createHash('sha256').update('hs-troponin-cds synthetic trail: case-link key').digest();
const PRODUCT = 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain';
const EHR = 'https://ehr.hospital.example';

const iso = (ms: number): string => new Date(ms).toISOString();

/** The FHIR resources an evaluation at `upToMs` sees (what an EHR would prefetch at that time). */
export function observations(e: EpisodeSpec, upToMs: number): Resource[] {
  const at = (min: number): number => e.startMs + min * 60_000;
  const subject = { reference: `Patient/${e.patientId}` };
  const encounter = { reference: `Encounter/${e.encounterId}` };
  const out: Resource[] = [];
  if (e.ecg !== null && at(e.ecg.atMin) <= upToMs) {
    out.push({ resourceType: 'Observation', id: `${e.encounterId}-ecg`, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8601-7' }] }, subject, encounter, effectiveDateTime: iso(at(e.ecg.atMin)), valueCodeableConcept: { coding: [{ system: PRODUCT, code: e.ecg.finding }] } } as Observation);
  }
  if (e.timi !== null && at(e.timi.atMin) <= upToMs) {
    out.push({ resourceType: 'Observation', id: `${e.encounterId}-timi`, status: 'final', code: { coding: [{ system: PRODUCT, code: 'timi-risk-score' }] }, subject, encounter, effectiveDateTime: iso(at(e.timi.atMin)), valueInteger: e.timi.score } as Observation);
  }
  const trop = (id: string, value: number, min: number, coding: 'site' | 'default' | 'bad-unit'): Observation =>
    ({
      resourceType: 'Observation',
      id,
      status: 'final',
      code: { coding: [coding === 'default' ? { system: 'http://loinc.org', code: '67151-1' } : SITE_CODE] },
      subject,
      encounter,
      effectiveDateTime: iso(at(min)),
      valueQuantity: coding === 'bad-unit' ? { value, unit: 'U/L', system: 'http://unitsofmeasure.org', code: 'U/L' } : { value, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
    });
  if (e.baseline !== null && at(e.baseline.atMin) <= upToMs) out.push(trop(`${e.encounterId}-t0`, e.baseline.value, e.baseline.atMin, e.baseline.coding));
  if (e.retest !== null && at(e.retest.atMin) <= upToMs) out.push(trop(`${e.encounterId}-t1`, e.retest.value, e.retest.atMin, e.baseline?.coding === 'default' ? 'default' : 'site'));
  return out;
}

export type Event = { readonly atMs: number; readonly order: number; readonly e: EpisodeSpec } & ({ readonly kind: 'evaluation'; readonly index: number } | { readonly kind: 'failure' });

/** Every record-making event of the episodes, in time order. */
export function eventsOf(episodes: readonly EpisodeSpec[]): Event[] {
  const out: Event[] = [];
  let order = 0;
  for (const e of episodes) {
    if (e.failureAtMin !== undefined) out.push({ atMs: e.startMs + e.failureAtMin * 60_000, order: order++, e, kind: 'failure' });
    e.evals.forEach((v, index) => out.push({ atMs: e.startMs + v.atMin * 60_000, order: order++, e, kind: 'evaluation', index }));
  }
  return out.sort((a, b) => a.atMs - b.atMs || a.order - b.order);
}

const resourceDigest = (r: Resource) => ({ ref: `${r.resourceType}/${r.id ?? ''}`, sha256: sha256Hex(canonicalJson(r)) });

export interface TrailWriter {
  /** Appends a record with the given id (the store takes its ids from the generator). */
  append(input: AuditRecordInput, id: string): Promise<unknown>;
  flush(): Promise<void>;
}

/**
 * A writer over a store opened with `newId: writer.newId`: each append takes the id set just before it
 * (the store takes its id when `append` is called), and up to `inFlight` appends wait together.
 */
export function storeWriter(inFlight = 512): { newId: () => string; bind(store: AuditStore): TrailWriter } {
  let next = '';
  const newId = (): string => next;
  return {
    newId,
    bind(store) {
      let pending: Promise<unknown>[] = [];
      return {
        async append(input, id) {
          next = id;
          pending.push(store.append(input));
          if (pending.length >= inFlight) {
            const batch = pending;
            pending = [];
            await Promise.all(batch);
          }
        },
        async flush() {
          const batch = pending;
          pending = [];
          await Promise.all(batch);
        },
      };
    },
  };
}

/**
 * A writer that loads through `AuditStore.appendBulk` (the same rows and chain as `append`, thousands of
 * records per transaction): entries are buffered, checked and serialised once (`PreparedBulk`) and written
 * `bufferSize` at a time on every store given; one buffer is written while the next is being made.
 */
export function bulkWriter(stores: readonly AuditStore[], bufferSize = 20_000, chunkSize = 5000): TrailWriter {
  let buffer: { id: string; input: AuditRecordInput }[] = [];
  let writing: Promise<void> = Promise.resolve();
  const drain = async (): Promise<void> => {
    const entries = buffer;
    buffer = [];
    await writing;
    if (entries.length === 0) return;
    const prepared = new PreparedBulk(entries);
    writing = Promise.all(stores.map((s) => s.appendBulk(prepared, { chunkSize }))).then((outcomes) => {
      for (const o of outcomes.flat()) if (!o.ok) throw o.error;
    });
    // Handled here so that a failure waits for the next drain or flush (which rethrow it) without being "unhandled".
    writing.catch(() => undefined);
  };
  return {
    async append(input, id) {
      buffer.push({ input, id });
      if (buffer.length >= bufferSize) await drain();
    },
    async flush() {
      await drain();
      await writing;
    },
  };
}

function feedbackBody(card: string, f: Exclude<FeedbackSpec, null>, atMs: number, jti: string) {
  const outcome = f === 'accepted' ? 'accepted' : 'overridden';
  const reason = f === 'accepted' ? null : f.overridden === null ? { userComment: 'see notes' } : { reason: OVERRIDE_REASONS.find((x) => x.code === f.overridden) ?? { system: OVERRIDE_REASON_SYSTEM, code: f.overridden } };
  const content = { service: 'hs-troponin-chest-pain', card, outcome, acceptedSuggestions: [], overrideReason: reason, outcomeTimestamp: iso(atMs) };
  return { content, body: { ...content, client: { iss: EHR, tenant: null, jti, kid: 'ehr-key-1' } }, key: `feedback|${card}|${outcome}|${sha256Hex(canonicalJson(content))}` };
}

/** How many ids an event's records take from the seeded generator (the call's two, then each record's). */
export function idsOf(ev: Event): number {
  if (ev.kind === 'failure') return 3;
  return (ev.e.evals[ev.index]?.feedback ?? null) === null ? 4 : 6;
}

export interface TrailEntry {
  readonly id: string;
  readonly input: AuditRecordInput;
}

/**
 * The records of `events` in order. `seed` makes the ids; `firstId` is the number of ids taken by the
 * events before these (so a trail can be made in slices, in parallel: bench/trail/parallel.ts).
 */
export async function* trailRecords(events: readonly Event[], rt: PathwayRuntime, seed: number, engineVersion: string, decisions: DecisionSource, firstId = 0): AsyncGenerator<TrailEntry> {
  let counter = firstId;
  const uuid = (): string => {
    const h = createHash('sha256').update(`${seed}:${counter++}`).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
  };
  for (const ev of events) {
    const e = ev.e;
    const call = { service: 'hs-troponin-chest-pain', hook: 'patient-view', hookInstance: uuid(), client: { iss: EHR, tenant: null, jti: uuid(), kid: 'ehr-key-1' }, userId: 'Practitioner/dr-synthetic', patientId: e.patientId, encounterId: e.encounterId, fhirServer: null };
    if (ev.kind === 'failure') {
      yield { input: { kind: 'evaluation-failure', at: iso(ev.atMs), patientId: e.patientId, body: { ...call, prefetchKeys: [], error: { code: 'TNP_ERR_FHIR_TIMEOUT', status: 412, message: 'the FHIR server did not answer in time' }, pathway: rt.identity, engineVersion } }, id: uuid() };
      continue;
    }
    const resources = observations(e, ev.atMs);
    const decision = await decisions.decide(e, ev.atMs);
    const id = uuid();
    const suggestion = uuid();
    const lab = e.labEpisodeId !== undefined;
    // The card as the service makes it before its record (its uuid and auditId placeholders): the record keeps it.
    const noId = (): string => '';
    const [card] = cardsFor(decision, { newId: noId, publicBaseUrl: TRAIL_PUBLIC_BASE_URL, displayTimeZone: 'Europe/London', runtime: rt, resources, caseLinkKey: CASE_LINK_KEY, patientId: e.patientId, encounterId: e.encounterId, suggestionUuid: suggestion, auditId: '', cardUuid: '' }) as [CdsCard];
    yield {
      input: {
        kind: 'evaluation',
        at: iso(ev.atMs),
        patientId: e.patientId,
        body: {
          ...(lab ? { trigger: 'lab-result', episode: { id: e.labEpisodeId } } : {}),
          ...call,
          data: { sources: { observations: 'prefetch', patient: 'not-needed' }, excluded: [], excludedCount: 0, fhirRequests: 0 },
          ...inputDigests(resources.map(resourceDigest)),
          pathway: decision.pathway,
          engineVersion,
          evaluatedAt: decision.evaluatedAt,
          ...decisionFields(decision),
          cards: [{ uuidIsRecordId: true, summary: card.summary, indicator: decision.indicator, suggestionUuids: suggestsRetest(decision, rt) ? [suggestion] : [], card: recordedCardOf(card) }],
        },
      },
      id,
    };
    const f = e.evals[ev.index]?.feedback ?? null;
    if (f !== null) {
      const fbAt = ev.atMs + 2 * 60_000;
      const fb = feedbackBody(id, f, fbAt, uuid());
      yield { input: { kind: 'feedback', at: iso(fbAt), patientId: e.patientId, linksTo: id, idempotencyKey: fb.key, body: fb.body }, id: uuid() };
    }
  }
}

/**
 * Writes the episodes' records; returns how many. `seed` makes the ids. `decisions` decides each
 * evaluation (by default the engine every time; bench:report reuses the decisions of repeated cases).
 */
export async function writeTrail(writer: TrailWriter, episodes: readonly EpisodeSpec[], rt: PathwayRuntime, seed: number, engineVersion = '0.1.0', decisions: DecisionSource = engineDecisions(rt)): Promise<number> {
  let n = 0;
  for await (const r of trailRecords(eventsOf(episodes), rt, seed, engineVersion, decisions)) {
    await writer.append(r.input, r.id);
    n++;
  }
  await writer.flush();
  return n;
}
