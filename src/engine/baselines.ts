/**
 * Rule 4, "two usable results drawn at the same earliest time: the governing rule applies over both
 * choices", for any number of choices without weighing every pair.
 *
 * For a later value R, the readings over every candidate baseline are the cells that some candidate
 * reaches. For each cell the baselines that reach it form one window of values (ranges.ts), so the
 * question is whether some candidate interval meets that window: candidates sorted by their lower end,
 * with the running highest upper end, answer it by one binary search. Each later result costs
 * O(cells x log candidates) instead of O(candidates).
 */
import type { Big } from 'big.js';
import { type Cell, type Interval, type RatioBound, type Window, cmpRatio, lowerMeetsUpper, reachableCellsWhere, windowOf } from './ranges.js';

/** Order of lower ends: by value, a closed end before an open one at the same value. */
function cmpLower(a: RatioBound, b: RatioBound): number {
  const c = cmpRatio(a, b);
  return c !== 0 ? c : a.open === b.open ? 0 : a.open ? 1 : -1;
}

/** Order of upper ends: by value, an open end before a closed one; null (unbounded) is the highest. */
function cmpUpper(a: RatioBound | null, b: RatioBound | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  const c = cmpRatio(a, b);
  return c !== 0 ? c : a.open === b.open ? 0 : a.open ? -1 : 1;
}

/** The candidate baselines of one assay (one URL), each a value interval, indexed by position in `values`. */
export class BaselineSet {
  private readonly order: number[];
  private readonly windows: Window[];
  /** For each prefix of `order`: the positions (in `values`) of the highest and second-highest upper end. */
  private readonly best: [number, number][] = [];

  constructor(values: readonly Interval[]) {
    this.windows = values.map(windowOf);
    this.order = values.map((_, i) => i).sort((a, b) => cmpLower(this.windows[a]!.lo, this.windows[b]!.lo) || a - b);
    let top = -1;
    let second = -1;
    for (const i of this.order) {
      const hi = this.windows[i]!.hi;
      if (top < 0 || cmpUpper(hi, this.windows[top]!.hi) > 0) {
        second = top;
        top = i;
      } else if (second < 0 || cmpUpper(hi, this.windows[second]!.hi) > 0) {
        second = i;
      }
      this.best.push([top, second]);
    }
  }

  get size(): number {
    return this.windows.length;
  }

  /** Whether some candidate other than `except` meets the window w. */
  meets(w: Window, except: number | null): boolean {
    // The candidates whose lower end is at or below w's upper end are a prefix of `order`.
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (lowerMeetsUpper(this.windows[this.order[mid]!]!.lo, w.hi)) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return false;
    const [top, second] = this.best[lo - 1]!;
    const pick = top === except ? second : top;
    return pick >= 0 && lowerMeetsUpper(w.lo, this.windows[pick]!.hi);
  }

  /** Every cell (that `wanted` accepts) some candidate other than `except` and some value of R can fall in. */
  cells(R: Interval, limit: Big, thresholdPercent: Big, except: number | null, wanted?: (c: Cell) => boolean): Cell[] {
    return reachableCellsWhere((w) => this.meets(w, except), R, limit, thresholdPercent, wanted);
  }
}
