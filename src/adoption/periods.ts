/**
 * Report periods, in UTC: ISO weeks (Monday to Sunday) and calendar months. Every count is kept per
 * period at both granularities, and a report covers whole periods only, so two reports over ranges that
 * differ by a day can never be subtracted to single out that day (docs/adoption.md "Suppression").
 */
export type Granularity = 'week' | 'month';
export const GRANULARITIES: readonly Granularity[] = ['week', 'month'];

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` of an instant (UTC). */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The first day of the period holding the instant: the Monday of its ISO week, or the 1st of its month. */
export function periodOf(ms: number, g: Granularity): string {
  if (g === 'month') return `${dayOf(ms).slice(0, 7)}-01`;
  const day = Math.floor(ms / DAY_MS);
  // 1970-01-01 was a Thursday: Monday-based day of week = (day + 3) mod 7.
  const dow = (((day + 3) % 7) + 7) % 7;
  return dayOf((day - dow) * DAY_MS);
}

/** The first day after the period that starts on `start`. */
export function periodEnd(start: string, g: Granularity): string {
  const t = Date.parse(`${start}T00:00:00Z`);
  if (g === 'week') return dayOf(t + 7 * DAY_MS);
  const d = new Date(t);
  return dayOf(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
}

/** Every period that overlaps the days `from` to `to` (both `YYYY-MM-DD`, inclusive), oldest first. */
export function periodsCovering(from: string, to: string, g: Granularity): string[] {
  const out: string[] = [];
  const last = Date.parse(`${to}T00:00:00Z`);
  let p = periodOf(Date.parse(`${from}T00:00:00Z`), g);
  while (Date.parse(`${p}T00:00:00Z`) <= last) {
    out.push(p);
    p = periodEnd(p, g);
  }
  return out;
}
