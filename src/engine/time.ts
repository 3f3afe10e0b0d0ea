/**
 * Exact instants. A FHIR dateTime/instant with a time of day and a time zone becomes nanoseconds since
 * the epoch (bigint), so the 3-hour and 24-hour boundaries are compared exactly. No `Date`, no host time
 * zone, no locale: the same text always gives the same instant (rule 15).
 */
import type { Instant } from './types.js';

const NS_PER_MS = 1_000_000n;
export const NS_PER_MINUTE = 60_000_000_000n;
export const NS_PER_HOUR = 60n * NS_PER_MINUTE;

// YYYY-MM-DDThh:mm[:ss[.fraction]](Z|+hh:mm|-hh:mm). A time of day without a zone is no time (rule 3).
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9})\d*)?)?(Z|[+-](\d{2}):(\d{2}))$/;

function daysFromCivil(y: number, m: number, d: number): number {
  // Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const mp = (m + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

export type ParsedTime = { ok: true; instant: Instant } | { ok: false; problem: string };

/** The value of the decimal digits text[from, to), or -1 if any is not a digit. */
function digits(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * The common form `YYYY-MM-DDThh:mm:ss[.f{1,9}]Z` read without the regular expression, to the same instant;
 * undefined for anything else (read by {@link parseInstant}'s full path, which also says what is wrong).
 */
function parseUtcSeconds(text: string): Instant | undefined {
  const n = text.length;
  if (n < 20 || n > 30 || text.charCodeAt(n - 1) !== 90 /* Z */ || text[4] !== '-' || text[7] !== '-' || text[10] !== 'T' || text[13] !== ':' || text[16] !== ':') return undefined;
  const y = digits(text, 0, 4);
  const mo = digits(text, 5, 7);
  const d = digits(text, 8, 10);
  const h = digits(text, 11, 13);
  const mi = digits(text, 14, 16);
  const s = digits(text, 17, 19);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return undefined;
  let nanos = 0;
  if (n > 20) {
    if (text[19] !== '.' || n === 21) return undefined;
    const f = digits(text, 20, n - 1);
    if (f < 0) return undefined;
    nanos = f * 10 ** (9 - (n - 21));
  }
  const instant = BigInt(daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1_000_000_000n;
  return nanos === 0 ? instant : instant + BigInt(nanos);
}

/** Parse a FHIR dateTime or instant that carries a time of day (to the minute or finer) and a zone. */
export function parseInstant(text: unknown): ParsedTime {
  if (typeof text !== 'string') return { ok: false, problem: 'not a date-time string' };
  const fast = parseUtcSeconds(text);
  if (fast !== undefined) return { ok: true, instant: fast };
  const m = DATE_TIME.exec(text);
  if (m === null) {
    if (/^\d{4}(-\d{2}(-\d{2})?)?$/.test(text)) return { ok: false, problem: `"${text}" is a date with no time of day` };
    if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)) return { ok: false, problem: `"${text}" has a time of day but no time zone` };
    return { ok: false, problem: `"${text}" is not a FHIR date-time` };
  }
  const [, ys, mos, ds, hs, mis, ss, frac, zone, zh, zm] = m;
  const y = Number(ys);
  const mo = Number(mos);
  const d = Number(ds);
  const h = Number(hs);
  const mi = Number(mis);
  const s = ss === undefined ? 0 : Number(ss);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    return { ok: false, problem: `"${text}" is not a valid date-time` };
  }
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const oh = Number(zh);
    const om = Number(zm);
    if (oh > 14 || om > 59) return { ok: false, problem: `"${text}" has an invalid time zone offset` };
    offsetMinutes = (zone?.startsWith('-') === true ? -1 : 1) * (oh * 60 + om);
  }
  // Whole seconds are exact in a double for any 4-digit year (under 2^53); one conversion to bigint.
  const seconds = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offsetMinutes * 60;
  const instant = BigInt(seconds) * 1_000_000_000n;
  return { ok: true, instant: frac === undefined ? instant : instant + BigInt(frac.padEnd(9, '0')) };
}

/** The same instant from epoch milliseconds (adapters hand the engine `now` this way). */
export function instantFromEpochMs(ms: number): Instant {
  return BigInt(Math.trunc(ms)) * NS_PER_MS;
}

function pad(n: number | bigint, width = 2): string {
  return String(n).padStart(width, '0');
}

/** ISO 8601 UTC: seconds always, the fraction only when there is one. */
export function formatInstant(t: Instant): string {
  const totalSeconds = t >= 0n ? t / 1_000_000_000n : -((-t + 999_999_999n) / 1_000_000_000n);
  const nanos = t - totalSeconds * 1_000_000_000n;
  const days = Number(totalSeconds >= 0n ? totalSeconds / 86400n : -((-totalSeconds + 86399n) / 86400n));
  const secOfDay = Number(totalSeconds - BigInt(days) * 86400n);
  // civil from days (Hinnant)
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const hh = Math.floor(secOfDay / 3600);
  const mi = Math.floor((secOfDay % 3600) / 60);
  const ss = secOfDay % 60;
  const fraction = nanos === 0n ? '' : `.${pad(nanos, 9).replace(/0+$/, '')}`;
  return `${pad(y, 4)}-${pad(m)}-${pad(d)}T${pad(hh)}:${pad(mi)}:${pad(ss)}${fraction}Z`;
}

/**
 * Minutes between two instants, for people: "180", "0.5", "1.5", "-2". Whole minutes are exact; a
 * fraction is rounded to three decimals (display only: no decision uses it).
 */
export function minutesBetween(from: Instant, to: Instant): string {
  const diff = to - from;
  const sign = diff < 0n ? '-' : '';
  const abs = diff < 0n ? -diff : diff;
  // thousandths of a minute, rounded half up
  const milli = (abs * 1000n + NS_PER_MINUTE / 2n) / NS_PER_MINUTE;
  const whole = milli / 1000n;
  const frac = (milli % 1000n).toString().padStart(3, '0').replace(/0+$/, '');
  return `${milli === 0n ? '' : sign}${whole}${frac === '' ? '' : `.${frac}`}`;
}
