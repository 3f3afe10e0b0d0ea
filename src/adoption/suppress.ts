/**
 * Statistical disclosure control for the adoption report (docs/adoption.md "Suppression"), on a table
 * of counts and the sums that tie them together.
 *
 * - Primary: a count of 1 to 4 is suppressed; so is every count of a cell in which fewer than 5 episodes
 *   started (its zeros too), unless everything in it is zero.
 * - Secondary: wherever a total and its parts are all published, one suppressed member could be recovered
 *   by subtraction. So for every sum (total = parts), when exactly one member is suppressed, the smallest
 *   non-zero part still shown is suppressed too (the total itself when no part is left to suppress).
 *   Repeated until nothing changes: sums cross cells (a period and the whole range, a settings hash and all
 *   of them), so one suppression can call for another elsewhere.
 */

/** A count in the table. */
export interface Entry {
  readonly value: number;
  suppressed: boolean;
}

/** total = sum of parts. */
export interface SumConstraint {
  readonly total: Entry;
  readonly parts: readonly Entry[];
}

export const MIN_COUNT = 5;

/** Marks primary suppressions: counts 1 to 4. */
export function primary(entries: Iterable<Entry>): void {
  for (const e of entries) if (e.value > 0 && e.value < MIN_COUNT) e.suppressed = true;
}

/** Secondary suppression to a fixpoint. Returns the number of passes. */
export function secondary(constraints: readonly SumConstraint[]): number {
  for (let pass = 1; ; pass++) {
    let changed = false;
    for (const c of constraints) {
      const members = [c.total, ...c.parts];
      const hidden = members.filter((m) => m.suppressed).length;
      if (hidden !== 1) continue;
      let pick: Entry | null = null;
      for (const p of c.parts) if (!p.suppressed && p.value > 0 && (pick === null || p.value < pick.value)) pick = p;
      if (pick === null && !c.total.suppressed) pick = c.total;
      if (pick === null) {
        // Only the total is hidden and every part is zero: the total is zero, nothing to protect.
        continue;
      }
      pick.suppressed = true;
      changed = true;
    }
    if (!changed) return pass;
  }
}
