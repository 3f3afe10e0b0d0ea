/**
 * Rule 16, bounded episodes: exact duplicates count once, and an episode with more troponin results
 * than the pathway file's `maxTroponinResults` is summarised (counts, first, last, highest) and is at
 * least indeterminate. Everything here is one pass over the results (a hash map, a running best).
 */
import { formatInstant } from './time.js';
import type { Interval } from './ranges.js';
import { intervalText } from './ranges.js';
import type { Instant, ResultSummary, TroponinFact } from './types.js';

/**
 * What makes two troponin results exact duplicates (rule 16): same assay, value, unit, comparator,
 * draw time and status. Null for a result that is not a readable measurement with a draw time and one
 * assay: such results are never merged (each stays named, rule 13).
 */
export function duplicateKey(t: TroponinFact): string | null {
  if (t.value.kind !== 'range' || t.drawTime === null || t.assayId === null) return null;
  // `reported` is the comparator, the number as written and the unit code or text.
  // The assay id (catalogue) and the draw time (digits) cannot hold `|`; `reported` is preceded by its length
  // and the status is last (or `-` when absent), so no two results share a key by accident.
  return `${t.assayId}|${t.drawTime}|${t.value.reported.length}|${t.value.reported}|${t.statusText === null ? '-' : `+${t.statusText}`}`;
}

/** Rule 16: the first of each set of exact duplicates stands; the others are returned with the one they copy. */
export function mergeExactDuplicates<T extends TroponinFact>(troponins: readonly T[], exempt: (t: T) => boolean): { kept: T[]; duplicates: { dup: T; of: T }[] } {
  const first = new Map<string, T>();
  const kept: T[] = [];
  const duplicates: { dup: T; of: T }[] = [];
  for (const t of troponins) {
    const key = exempt(t) ? null : duplicateKey(t);
    const of = key === null ? undefined : first.get(key);
    if (key !== null && of !== undefined) {
      duplicates.push({ dup: t, of });
      continue;
    }
    if (key !== null) first.set(key, t);
    kept.push(t);
  }
  return { kept, duplicates };
}

/** A usable result as the summary needs it. */
export interface SummaryInput {
  readonly fact: TroponinFact;
  readonly drawTime: Instant;
  readonly value: Interval;
  readonly assay: { readonly id: string };
  readonly url: { toFixed(): string };
  /** Why this URL applies (rule 14), or null where the pathway does not use the assay's URL: then no URL is shown. */
  readonly urlBasis: string | null;
}

/** Higher value first: an unbounded upper end is the highest, then the upper end, then the lower end. */
function higher(a: Interval, b: Interval): boolean {
  if (a.hi === null || b.hi === null) return a.hi === null && b.hi !== null;
  const c = a.hi.cmp(b.hi);
  return c !== 0 ? c > 0 : a.lo.gt(b.lo);
}

export function resultSummary(u: SummaryInput): ResultSummary {
  return {
    ref: u.fact.ref,
    assay: u.assay.id,
    drawTime: formatInstant(u.drawTime),
    reported: u.fact.value.kind === 'range' ? u.fact.value.reported : '',
    valueNgL: intervalText(u.value),
    ...(u.urlBasis === null ? {} : { url: u.url.toFixed() }),
  };
}

/** The earliest, latest and highest of the usable results (ties: the first in canonical order). */
export function firstLastHighest(usable: readonly SummaryInput[]): { first: ResultSummary | null; last: ResultSummary | null; highest: ResultSummary | null } {
  let first: SummaryInput | null = null;
  let last: SummaryInput | null = null;
  let highest: SummaryInput | null = null;
  for (const u of usable) {
    if (first === null || u.drawTime < first.drawTime) first = u;
    if (last === null || u.drawTime > last.drawTime) last = u;
    if (highest === null || higher(u.value, highest.value)) highest = u;
  }
  return { first: first && resultSummary(first), last: last && resultSummary(last), highest: highest && resultSummary(highest) };
}

/** "Observation/t1 (13.2 ng/L, 2026-03-14T09:00:00Z)" */
export function describeResult(r: ResultSummary | null): string {
  return r === null ? 'none usable' : `${r.ref} (${r.valueNgL} ng/L, ${r.drawTime})`;
}
