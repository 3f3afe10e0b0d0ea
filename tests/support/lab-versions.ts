/**
 * Many versions of one stored result, written straight through the real store as that many laboratory
 * corrections would leave them (the intake's own stored form: `itemOf`, `storedResource`), so the bound
 * tests reach 1,000x a normal result's versions without thousands of posts; and a count of the versions
 * every laboratory read of the store returns (the rows an evaluation or a page reads).
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { AuditStore, LabEvent, ResultVersionRow } from '../../src/audit/store.js';
import { itemOf } from '../../src/intake/item.js';
import { canonicalText, storedResource } from '../../src/intake/records.js';

/**
 * Adds `count` versions on top of a stored result, the i-th made by `make(i)` (an Observation as a
 * laboratory sends it), each with its own lastUpdated after the current one. One event, on the result's
 * patient's revision (none for a result that names no patient).
 */
export async function addVersions(store: AuditStore, resultId: string, count: number, make: (i: number) => Record<string, unknown>): Promise<void> {
  const full = await store.lab.result(resultId);
  if (full === null) throw new Error(`no stored result ${resultId}`);
  const patientKey = full.row.patientKey;
  const revs = patientKey === null ? new Map<string, number>() : (await store.lab.snapshot({ keys: [], patientKeys: [patientKey] })).revs;
  const auditId = randomUUID();
  let last = Date.parse(full.versions[0]?.lastUpdated ?? '2026-01-01T00:00:00Z');
  const versions: ResultVersionRow[] = [];
  for (let i = 0; i < count; i++) {
    const version = full.row.currentVersion + 1 + i;
    const item = itemOf(make(i), { path: 'Observation', source: {} });
    const lastUpdated = new Date(++last).toISOString();
    const resource = canonicalText(storedResource(item.resource, resultId, version, lastUpdated));
    versions.push({ resultId, version, lastUpdated, status: item.status, contentSha: item.contentSha, resource, flags: '[]', source: '{"channel":"fhir"}', auditId });
  }
  const ev: LabEvent = {
    patients: patientKey === null ? [] : [{ key: patientKey, expectedRev: revs.get(patientKey) ?? null }],
    newKeys: [],
    results: [{ ...full.row, currentVersion: full.row.currentVersion + count }],
    versions,
    patientLinks: [],
    episodes: [],
    evaluations: [],
    alerts: [],
    changes: [],
  };
  const out = await store.commitEvent(ev, [{ id: auditId, input: { kind: 'lab-intake', at: new Date(last).toISOString(), patientId: patientKey, body: { trigger: 'lab-result' } } }]);
  expect(out.ok).toBe(true);
}

export interface CountingReads {
  /** The store, its lab reads counted (every call goes to the real store). */
  readonly store: AuditStore;
  /** Versions returned by lab reads since the last reset. */
  read(): number;
  /** The most versions one result came back with since the last reset. */
  maxPerResult(): number;
  reset(): void;
}

/** Counts the versions every lab read of the real store returns. */
export function countingReads(store: AuditStore): CountingReads {
  let read = 0;
  let max = 0;
  const count = (x: unknown): void => {
    if (x instanceof Map) for (const v of x.values()) count(v);
    else if (Array.isArray(x)) for (const v of x) count(v);
    else if (typeof x === 'object' && x !== null) {
      const o = x as Record<string, unknown>;
      if (Array.isArray(o['versions']) && typeof o['row'] === 'object') {
        read += o['versions'].length;
        max = Math.max(max, o['versions'].length);
      } else if (o['results'] !== undefined) count(o['results']);
    }
  };
  const lab = new Proxy(store.lab, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop);
      if (typeof v !== 'function') return v;
      return async (...args: unknown[]): Promise<unknown> => {
        const out: unknown = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        count(out);
        return out;
      };
    },
  });
  const counted = new Proxy(store, {
    get(target, prop) {
      if (prop === 'lab') return lab;
      const v: unknown = Reflect.get(target, prop);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    store: counted,
    read: () => read,
    maxPerResult: () => max,
    reset: () => {
      read = 0;
      max = 0;
    },
  };
}
