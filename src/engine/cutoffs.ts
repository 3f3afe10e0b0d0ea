/**
 * Assay-specific cut-off tables from the catalogue, sex-specific thresholds, and the exact comparisons
 * the sample-window pathways make (esc-0h1h-0h2h.md rules 5, 6 and 9; high-steacs.md rules 5, 6 and 8).
 *
 * Values are exact decimals (big.js) and censored values are intervals: a comparison answers which sides
 * of the cut-off some concentration the value allows can fall on (`below`, `at-or-above`, or both). Every
 * rule-out cut-off is strict and every rule-in cut-off inclusive: "below" is value < cut-off. Pure.
 */
import { Big } from 'big.js';
import type { Interval } from './ranges.js';
import type { Side } from './serial-pathway.js';
import type { Sex } from './types.js';

/** One catalogue table: field -> cut-off in ng/L, and where the numbers come from. */
export interface CutoffTable {
  readonly name: string;
  readonly values: ReadonlyMap<string, Big>;
  readonly source: string;
}

/** The fields of a catalogue entry that are not cut-off tables. */
const NOT_TABLES = new Set(['id', 'name', 'analyte', 'codings', 'url99', 'lod', 'sources', 'notes']);

/**
 * The cut-off tables of a catalogue entry: every object field other than the assay's own data, whose
 * string values are exact decimals; `source` (or `sources`, joined) says where they come from.
 */
export function tablesOf(entry: Readonly<Record<string, unknown>>): Map<string, CutoffTable> {
  const out = new Map<string, CutoffTable>();
  for (const [name, v] of Object.entries(entry)) {
    if (NOT_TABLES.has(name) || typeof v !== 'object' || v === null || Array.isArray(v)) continue;
    const values = new Map<string, Big>();
    let source = '';
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'source' && typeof x === 'string') source = x;
      else if (k === 'sources' && Array.isArray(x)) source = x.filter((s): s is string => typeof s === 'string').join('; ');
      else if (typeof x === 'string') values.set(k, new Big(x));
    }
    out.set(name, { name, values, source });
  }
  return out;
}

/** Per field, the smallest cut-off among the named tables the assay has (esc rule 8c: H*, D*, N*). */
export function smallestCutoffs(tables: ReadonlyMap<string, CutoffTable>, names: readonly string[]): CutoffTable | null {
  const present = names.map((n) => tables.get(n)).filter((t): t is CutoffTable => t !== undefined);
  if (present.length === 0) return null;
  const values = new Map<string, Big>();
  for (const t of present) {
    for (const [k, v] of t.values) {
      const cur = values.get(k);
      if (cur === undefined || v.lt(cur)) values.set(k, v);
    }
  }
  return { name: present.map((t) => t.name).join('+'), values, source: [...new Set(present.map((t) => t.source))].join('; ') };
}

export type ThresholdBasis = 'female' | 'male' | 'sex-unknown';

/**
 * A cut-off chosen by sex (high-steacs.md rule 6): the female or male field for a woman or a man, and for
 * unknown sex (no Patient, no gender, another gender, Patients that disagree) the lower of the two.
 */
export function sexSpecificCutoff(table: CutoffTable, female: string, male: string, sex: Sex | null): { value: Big; basis: ThresholdBasis } | null {
  const f = table.values.get(female);
  const m = table.values.get(male);
  if (f === undefined || m === undefined) return null;
  if (sex === 'female') return { value: f, basis: 'female' };
  if (sex === 'male') return { value: m, basis: 'male' };
  return { value: f.lt(m) ? f : m, basis: 'sex-unknown' };
}

/** Which sides of the cut-off the interval's values fall on: below is value < cut-off. */
export function sidesOf(x: Interval, cutoff: Big): Side[] {
  const out: Side[] = [];
  if (x.lo.lt(cutoff)) out.push('below');
  if (x.hi === null || x.hi.gt(cutoff) || (x.hi.eq(cutoff) && !x.hiOpen)) out.push('at-or-above');
  return out;
}

/** v -> max(v, LoD) on an interval: in a change, a concentration under the LoD counts as the LoD (esc rule 9). */
export function atLeastLod(x: Interval, lod: Big): Interval {
  if (x.lo.gte(lod)) return x;
  if (x.hi === null) return { lo: lod, loOpen: false, hi: null, hiOpen: true };
  if (x.hi.lte(lod)) return { lo: lod, loOpen: false, hi: lod, hiOpen: false };
  return { lo: lod, loOpen: false, hi: x.hi, hiOpen: x.hiOpen };
}

/**
 * The sizes |Δ| of the change from the 0 h value to the later value over every pair of concentrations
 * the two allow, each taken under the LoD as the LoD: Δ = max(later, LoD) − max(0 h, LoD). Exact.
 */
export function absoluteChange(zero: Interval, later: Interval, lod: Big): Interval {
  const a = atLeastLod(zero, lod);
  const b = atLeastLod(later, lod);
  // Δ ranges over (b.lo − a.hi, b.hi − a.lo); null is unbounded.
  const lo = a.hi === null ? null : b.lo.minus(a.hi);
  const loOpen = b.loOpen || a.hiOpen;
  const hi = b.hi === null ? null : b.hi.minus(a.lo);
  const hiOpen = b.hiOpen || a.loOpen;
  if (lo !== null && lo.gte(0)) return { lo, loOpen, hi, hiOpen };
  if (hi !== null && hi.lte(0)) return { lo: hi.abs(), loOpen: hiOpen, hi: lo === null ? null : lo.abs(), hiOpen: loOpen };
  // Δ can be 0: |Δ| runs from 0 to the larger magnitude.
  if (lo === null || hi === null) return { lo: new Big(0), loOpen: false, hi: null, hiOpen: true };
  const down = lo.abs();
  const c = down.cmp(hi);
  return { lo: new Big(0), loOpen: false, hi: c >= 0 ? down : hi, hiOpen: c > 0 ? loOpen : c < 0 ? hiOpen : loOpen && hiOpen };
}
