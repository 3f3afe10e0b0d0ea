/**
 * Clock times in the site's time zone (settings `displayTimeZone`), as the form's date-and-time fields
 * hold them ("2026-03-06T11:20", no zone), to and from instants. The browser's own zone is never used.
 * The platform's Intl database does the zone arithmetic; a clock time that does not exist (clocks go
 * forward) or happens twice (clocks go back) is refused, never guessed: an hour's error would move a
 * draw time across the retest interval.
 */

const WALL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The clock time in `timeZone` at the instant `ms`, as "YYYY-MM-DDTHH:MM". */
export function wallTime(ms: number, timeZone: string): string {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return `${parts['year'] ?? ''}-${parts['month'] ?? ''}-${parts['day'] ?? ''}T${parts['hour'] ?? ''}:${parts['minute'] ?? ''}`;
}

export type WallReading = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly problem: 'unreadable' | 'skipped' | 'repeated' };

/** The instant of a clock time in `timeZone`; a time the clocks skip or repeat is refused. */
export function instantOf(wall: string, timeZone: string): WallReading {
  const m = WALL.exec(wall.trim());
  if (m === null) return { ok: false, problem: 'unreadable' };
  const [y, mo, d, hh, mi] = m.slice(1).map(Number) as [number, number, number, number, number];
  const asUtc = Date.UTC(y, mo - 1, d, hh, mi);
  const check = new Date(asUtc);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || hh > 23 || mi > 59) return { ok: false, problem: 'unreadable' };
  const want = wall.trim();
  // The zone's offsets a day either side cover any one change of the clocks.
  const offsets = new Set([-86_400_000, 0, 86_400_000].map((delta) => asUtc - Date.parse(`${wallTime(asUtc + delta, timeZone)}:00Z`) + delta));
  const found = [...offsets].map((o) => asUtc + o).filter((ms, i, all) => all.indexOf(ms) === i && wallTime(ms, timeZone) === want);
  if (found.length === 0) return { ok: false, problem: 'skipped' };
  if (found.length > 1) return { ok: false, problem: 'repeated' };
  return { ok: true, ms: found[0] ?? asUtc };
}
