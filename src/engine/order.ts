/**
 * Rule 15: the canonical order of observations, so that every list in a decision is built from an order
 * that does not depend on the order of the input.
 */
import { formatInstant } from './time.js';
import type { Instant, ObservationFact } from './types.js';

export function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const KINDS = { troponin: 0, ecg: 1, timi: 2, onset: 3 } as const;

/** By kind, time, reference, then content. */
export function canonicalOrder(a: ObservationFact, b: ObservationFact): number {
  if (a.kind !== b.kind) return KINDS[a.kind] - KINDS[b.kind];
  const ta = a.drawTime ?? a.issued;
  const tb = b.drawTime ?? b.issued;
  if (ta !== tb) {
    if (ta === null) return -1;
    if (tb === null) return 1;
    return cmpBig(ta, tb);
  }
  return cmpStr(a.ref, b.ref) || cmpStr(a.contentKey(), b.contentKey()) || cmpStr(a.status, b.status);
}

export function describeTime(t: Instant | null): string {
  return t === null ? 'no time' : formatInstant(t);
}
