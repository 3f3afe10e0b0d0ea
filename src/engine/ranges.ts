/**
 * Exact interval reasoning for censored values (rule 11) and the classification of a baseline and a
 * later result (rule 7). Values are exact decimals (big.js); ratios are compared by cross-multiplying,
 * so nothing is ever rounded. The question answered is always "can some reading of these values fall
 * in this cell?", so that the governing rule can take the most serious outcome any reading allows.
 */
import { Big } from 'big.js';
import type { Direction, Position } from './pathway.js';

/** A set of possible values in ng/L: [lo, hi], each end open or closed; hi null = unbounded. */
export interface Interval {
  readonly lo: Big;
  readonly loOpen: boolean;
  readonly hi: Big | null;
  readonly hiOpen: boolean;
}

const ZERO = new Big(0);
const ONE = new Big(1);
const HUNDRED = new Big(100);

export function isEmpty(x: Interval): boolean {
  if (x.hi === null) return false;
  const c = x.lo.cmp(x.hi);
  return c > 0 || (c === 0 && (x.loOpen || x.hiOpen));
}

export function isPoint(x: Interval): boolean {
  return x.hi !== null && x.lo.eq(x.hi) && !x.loOpen && !x.hiOpen;
}

/**
 * Rule 11: a value under the limit of detection is taken as the LoD. The image of an interval under
 * v -> max(v, LoD) is again an interval.
 */
export function applyLod(x: Interval, lod: Big): Interval {
  if (x.lo.gte(lod)) return x;
  // Part of the interval lies under the LoD: all of it maps to the LoD.
  if (x.hi === null) return { lo: lod, loOpen: false, hi: null, hiOpen: true };
  if (x.hi.lte(lod)) return { lo: lod, loOpen: false, hi: lod, hiOpen: false };
  return { lo: lod, loOpen: false, hi: x.hi, hiOpen: x.hiOpen };
}

/** Whether some value of the interval is above the limit (a value exactly at it is not above). */
export function mayBeAbove(x: Interval, limit: Big): boolean {
  return x.hi === null || x.hi.gt(limit);
}

/** Where the interval lies against the limit: below, above, or at/across it. */
export function positionOf(x: Interval, limit: Big): 'below' | 'above' | 'at-or-across' {
  if (x.hi !== null && (x.hi.lt(limit) || (x.hi.eq(limit) && x.hiOpen))) return 'below';
  if (x.lo.gt(limit) || (x.lo.eq(limit) && x.loOpen)) return 'above';
  return 'at-or-across';
}

function restrict(x: Interval, p: Position, limit: Big): Interval | null {
  let r: Interval;
  if (p === 'at') r = { lo: limit, loOpen: false, hi: limit, hiOpen: false };
  else if (p === 'below') r = { lo: ZERO, loOpen: false, hi: limit, hiOpen: true };
  else r = { lo: limit, loOpen: true, hi: null, hiOpen: true };
  const out = intersect(x, r);
  return isEmpty(out) ? null : out;
}

function intersect(a: Interval, b: Interval): Interval {
  const lc = a.lo.cmp(b.lo);
  const lo = lc >= 0 ? a.lo : b.lo;
  const loOpen = lc > 0 ? a.loOpen : lc < 0 ? b.loOpen : a.loOpen || b.loOpen;
  let hi: Big | null;
  let hiOpen: boolean;
  if (a.hi === null) {
    hi = b.hi;
    hiOpen = b.hiOpen;
  } else if (b.hi === null) {
    hi = a.hi;
    hiOpen = a.hiOpen;
  } else {
    const hc = a.hi.cmp(b.hi);
    hi = hc <= 0 ? a.hi : b.hi;
    hiOpen = hc < 0 ? a.hiOpen : hc > 0 ? b.hiOpen : a.hiOpen || b.hiOpen;
  }
  return { lo, loOpen, hi, hiOpen };
}

/** A bound of a set of baseline values, as an exact ratio num/den (den > 0). */
export interface RatioBound {
  readonly num: Big;
  readonly den: Big;
  readonly open: boolean;
}

/** A set of baseline values [lo, hi] with exact ratio ends; hi null = unbounded. */
export interface Window {
  readonly lo: RatioBound;
  readonly hi: RatioBound | null;
}

/** a.num/a.den against b.num/b.den by cross-multiplying (no multiplication by a denominator of one). */
export function cmpRatio(a: RatioBound, b: RatioBound): number {
  return (b.den === ONE ? a.num : a.num.times(b.den)).cmp(a.den === ONE ? b.num : b.num.times(a.den));
}

/** r compared with coef x b: `strict` true means r > coef*b (lower) / r < coef*b (upper). */
interface Bound {
  readonly coef: Big;
  readonly strict: boolean;
}

/**
 * The baselines b in B for which some later value r in R has lower.coef*b (<|<=) r (<|<=) upper.coef*b,
 * or null when there are none. For fixed b the band of r is an interval; it meets R exactly when R's
 * top is above the band's bottom and R's bottom is below the band's top. Each of those is a ray in b,
 * so the answer is B cut by two rays: an interval with exact ratio ends.
 */
function admissibleBaselines(B: Interval, R: Interval, lower: Bound | null, upper: Bound | null): Window | null {
  if (lower !== null && upper !== null) {
    const c = lower.coef.cmp(upper.coef);
    if (c > 0 || (c === 0 && (lower.strict || upper.strict))) return null; // the band is empty for every b > 0
  }
  // Set of admissible b: start with B itself.
  let lo: RatioBound = { num: B.lo, den: ONE, open: B.loOpen };
  let hi: RatioBound | null = B.hi === null ? null : { num: B.hi, den: ONE, open: B.hiOpen };
  if (lower !== null) {
    // need some r in R with r (>|>=) coef*b: coef*b < sup R, or coef*b == sup R when both allow equality.
    if (R.hi !== null) {
      const equalAllowed = !R.hiOpen && !lower.strict;
      if (lower.coef.lte(0)) {
        const c = ZERO.cmp(R.hi);
        if (!(c < 0 || (c === 0 && equalAllowed))) return null;
      } else {
        const cap: RatioBound = { num: R.hi, den: lower.coef, open: !equalAllowed };
        if (hi === null || cmpRatio(cap, hi) < 0 || (cmpRatio(cap, hi) === 0 && cap.open)) hi = cap;
      }
    }
  }
  if (upper !== null) {
    // need some r in R with r (<|<=) coef*b: inf R < coef*b, or equal when both allow equality.
    const equalAllowed = !R.loOpen && !upper.strict;
    if (upper.coef.lte(0)) {
      const c = R.lo.cmp(ZERO);
      if (!(c < 0 || (c === 0 && equalAllowed))) return null;
    } else {
      const floor: RatioBound = { num: R.lo, den: upper.coef, open: !equalAllowed };
      if (cmpRatio(floor, lo) > 0 || (cmpRatio(floor, lo) === 0 && floor.open)) lo = floor;
    }
  }
  if (hi === null) return { lo, hi };
  const c = cmpRatio(lo, hi);
  return c < 0 || (c === 0 && !lo.open && !hi.open) ? { lo, hi } : null;
}

/** The qualitative cells (baseline vs limit, later vs limit, direction, change reaching the threshold). */
export interface Cell {
  readonly baselineVsLimit: Position;
  readonly laterVsLimit: Position;
  readonly direction: Direction;
  readonly changeReachesThreshold: boolean;
}

const POSITIONS: readonly Position[] = ['below', 'at', 'above'];

const ALL_VALUES: Interval = { lo: ZERO, loOpen: false, hi: null, hiOpen: true };

/**
 * Every cell some pair (b, r) with b in the baselines and r in R can fall in, where `meets(w)` tells
 * whether some baseline lies in the window w of baseline values that reach a cell. The change reaches
 * the threshold p (percent) when 100 x |r - b| >= p x b: rule 7's "5 x |retest - baseline| >= baseline"
 * for p = 20. Baselines are never 0 (the LoD is positive), so the change is always defined. With
 * `wanted`, only the cells it accepts are looked at.
 */
export function reachableCellsWhere(meets: (w: Window) => boolean, R: Interval, limit: Big, thresholdPercent: Big, wanted?: (c: Cell) => boolean): Cell[] {
  const k = ONE.plus(thresholdPercent.div(HUNDRED)); // rise reaching the threshold: r >= k b
  const m = ONE.minus(thresholdPercent.div(HUNDRED)); // fall reaching the threshold: r <= m b
  const zeroThreshold = thresholdPercent.eq(0);
  const out: Cell[] = [];
  const laters = POSITIONS.map((lp) => [lp, restrict(R, lp, limit)] as const);
  for (const bp of POSITIONS) {
    const Bp = restrict(ALL_VALUES, bp, limit);
    if (Bp === null) continue;
    for (const [lp, Rp] of laters) {
      if (Rp === null) continue;
      const add = (direction: Direction, changeReachesThreshold: boolean, lower: Bound | null, upper: Bound | null): void => {
        if (wanted !== undefined && !wanted({ baselineVsLimit: bp, laterVsLimit: lp, direction, changeReachesThreshold })) return;
        const w = admissibleBaselines(Bp, Rp, lower, upper);
        if (w !== null && meets(w)) out.push({ baselineVsLimit: bp, laterVsLimit: lp, direction, changeReachesThreshold });
      };
      // r = b: no change (reaches a threshold of 0 only).
      add('none', zeroThreshold, { coef: ONE, strict: false }, { coef: ONE, strict: false });
      // rise reaching the threshold: r >= k b (and r > b)
      add('rise', true, zeroThreshold ? { coef: ONE, strict: true } : { coef: k, strict: false }, null);
      // rise under the threshold: b < r < k b
      if (!zeroThreshold) add('rise', false, { coef: ONE, strict: true }, { coef: k, strict: true });
      // fall reaching the threshold: r <= m b (and r < b)
      add('fall', true, null, zeroThreshold ? { coef: ONE, strict: true } : { coef: m, strict: false });
      // fall under the threshold: m b < r < b
      if (!zeroThreshold) add('fall', false, m.lte(0) ? null : { coef: m, strict: true }, { coef: ONE, strict: true });
    }
  }
  return out;
}

/** Whether the lower end `a` lies at or below the upper end `b` (some value is in both). */
export function lowerMeetsUpper(a: RatioBound, b: RatioBound | null): boolean {
  if (b === null) return true;
  const c = cmpRatio(a, b);
  return c < 0 || (c === 0 && !a.open && !b.open);
}

/** The interval as a window with ratio ends. */
export function windowOf(x: Interval): Window {
  return { lo: { num: x.lo, den: ONE, open: x.loOpen }, hi: x.hi === null ? null : { num: x.hi, den: ONE, open: x.hiOpen } };
}

/** Every cell some pair (b, r) in B x R can fall in. */
export function reachableCells(B: Interval, R: Interval, limit: Big, thresholdPercent: Big): Cell[] {
  const b = windowOf(B);
  return reachableCellsWhere((w) => lowerMeetsUpper(b.lo, w.hi) && lowerMeetsUpper(w.lo, b.hi), R, limit, thresholdPercent);
}

/** The smallest interval holding every given interval. */
export function hull(xs: readonly Interval[]): Interval | null {
  let h: Interval | null = null;
  for (const x of xs) {
    if (h === null) {
      h = x;
      continue;
    }
    const lc = x.lo.cmp(h.lo);
    const lo: Interval = lc < 0 ? x : h;
    const loOpen: boolean = lc === 0 ? x.loOpen && h.loOpen : lo.loOpen;
    let hi: Interval['hi'];
    let hiOpen: boolean;
    if (x.hi === null || h.hi === null) {
      hi = null;
      hiOpen = true;
    } else {
      const hc = x.hi.cmp(h.hi);
      hi = hc > 0 ? x.hi : h.hi;
      hiOpen = hc === 0 ? x.hiOpen && h.hiOpen : hc > 0 ? x.hiOpen : h.hiOpen;
    }
    h = { lo: lo.lo, loOpen, hi, hiOpen };
  }
  return h;
}

/** Where an exact value lies against the limit. */
function pointPosition(x: Big, limit: Big): Position {
  const c = x.cmp(limit);
  return c < 0 ? 'below' : c === 0 ? 'at' : 'above';
}

/** The one cell of two exact values. */
export function cellOfPoints(b: Big, r: Big, limit: Big, thresholdPercent: Big): Cell {
  const d = r.cmp(b);
  return {
    baselineVsLimit: pointPosition(b, limit),
    laterVsLimit: pointPosition(r, limit),
    direction: d > 0 ? 'rise' : d < 0 ? 'fall' : 'none',
    changeReachesThreshold: r.minus(b).abs().times(HUNDRED).gte(thresholdPercent.times(b)),
  };
}

/** For people: the relative change as a percentage with one decimal (display only, never compared). */
export function changePercentText(b: Big, r: Big): string {
  const pct = r.minus(b).times(HUNDRED).div(b);
  const fixed = pct.round(1, Big.roundHalfEven).toFixed(1);
  return `${pct.gt(0) ? '+' : ''}${fixed.replace(/\.0$/, '')}`;
}

/** "13.2", "5 to <20", ">50000" for people. */
export function intervalText(x: Interval): string {
  if (isPoint(x)) return x.lo.toFixed();
  if (x.hi === null) return `${x.loOpen ? '>' : '>='}${x.lo.toFixed()}`;
  return `${x.loOpen ? '>' : ''}${x.lo.toFixed()} to ${x.hiOpen ? '<' : ''}${x.hi.toFixed()}`;
}
