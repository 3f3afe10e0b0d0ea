/**
 * A CDS call sees the laboratory's stored results: the patient is found by `context.patientId` (results
 * that referenced `Patient/<id>`) and by every identifier of the `patient` prefetch (discovery asks for it
 * while intake is on), and the stored results of the last two episode windows are added to the EHR's data,
 * as the worklist's evaluation sees them (src/episodes/evaluate.ts `resourcesFor`).
 *
 * De-duplicated by identifier: a stored result that the EHR also sent (same identifier, status, draw time
 * and value) is left out, so it counts once; a stored result that differs from the EHR's copy (a
 * correction the EHR has not had yet, say) is kept beside it, and the pathway's own version rule
 * (C2 rule 12, by meta.lastUpdated) decides between them.
 */
import type { AuditStore, StoredResult } from '../audit/store.js';
import { resourcesFor, type ResultVersions } from '../episodes/evaluate.js';
import { canonicalJson } from '../util/canonical-json.js';
import { drawTimeOf } from './item.js';
import { lookupKeys } from './patient.js';
import { isObject } from '../util/guards.js';

/** Most stored results added to one CDS call. */
export const MAX_STORED_IN_CALL = 500;

type Json = Record<string, unknown>;

export function versionsOf(r: StoredResult): ResultVersions {
  return { id: r.row.id, timeMs: r.row.timeMs, versions: r.versions.map((v) => ({ status: v.status, resource: JSON.parse(v.resource) as Json })) };
}

/** What makes two copies of one result the same reading. */
function sameness(r: Json): string {
  return canonicalJson([r['status'], drawTimeOf(r), r['valueQuantity'] ?? r['valueCodeableConcept'] ?? r['valueString'] ?? r['valueInteger'] ?? null]);
}

function identifierKeys(r: Json): string[] {
  const ids = Array.isArray(r['identifier']) ? (r['identifier'] as unknown[]) : [];
  return ids.filter(isObject).map((i) => `${String(i['system'])}|${String(i['value'])}`);
}

export interface Merged {
  readonly resources: unknown[];
  /** Stored results added to the EHR's data. */
  readonly added: number;
  /** Stored results the EHR also sent (left out). */
  readonly duplicates: number;
}

/** The EHR's resources with the patient's stored results added (see the module comment). */
export async function withStoredResults(store: AuditStore, ehr: readonly unknown[], q: { patientId: string; prefetch: unknown; nowMs: number; windowMs: number }): Promise<Merged> {
  const patient = isObject(q.prefetch) ? q.prefetch['patient'] : undefined;
  const patientKeys = await store.lab.patientKeysFor(lookupKeys(q.patientId, patient));
  if (patientKeys.length === 0) return { resources: [...ehr], added: 0, duplicates: 0 };
  const stored = resourcesFor((await store.lab.resultsOfPatients(patientKeys, q.nowMs - 2 * q.windowMs, MAX_STORED_IN_CALL)).map(versionsOf));
  const ehrByIdentifier = new Map<string, Set<string>>();
  for (const r of ehr) {
    if (!isObject(r)) continue;
    for (const k of identifierKeys(r)) ehrByIdentifier.set(k, new Set([...(ehrByIdentifier.get(k) ?? []), sameness(r)]));
  }
  const added: unknown[] = [];
  let duplicates = 0;
  for (const r of stored) {
    const same = identifierKeys(r).some((k) => ehrByIdentifier.get(k)?.has(sameness(r)) === true);
    if (same) duplicates += 1;
    else added.push(r);
  }
  return { resources: [...ehr, ...added], added: added.length, duplicates };
}
