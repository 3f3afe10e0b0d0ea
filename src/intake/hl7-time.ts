/**
 * HL7 v2 times (DTM: YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]) to FHIR dateTimes, strictly: a time
 * without minutes is no draw time (rule 5), and a time without a UTC offset is read in the lab client's
 * `hl7TimeZone`, or is no time without one (rule 3: a time of day without a time zone is no time). A
 * local time that the zone skips (spring forward) or repeats (fall back) is ambiguous: no time. Never
 * guessed (@medplum/core's parseHl7DateTime fills missing parts with 0 and reads a zone-less time as
 * UTC, which could move a draw by hours).
 */

export type Hl7Time = { readonly ok: true; readonly fhir: string } | { readonly ok: false; readonly problem: string };

const DTM = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?([+-]\d{4})?$/;

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** The offset (ms) of `zone` at the instant `utcMs`. */
function zoneOffsetMs(zone: string, utcMs: number): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(utcMs);
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value ?? '0');
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - (utcMs - (utcMs % 1000 + 1000) % 1000);
}

/** The UTC instant of a local wall time in `zone`, or null when the zone skips or repeats it. */
export function localToUtc(wallMs: number, zone: string): number | null {
  const offsets = new Set([zoneOffsetMs(zone, wallMs - 14 * 3_600_000), zoneOffsetMs(zone, wallMs), zoneOffsetMs(zone, wallMs + 14 * 3_600_000)]);
  const fits = [...offsets].map((o) => wallMs - o).filter((utc) => zoneOffsetMs(zone, utc) === wallMs - utc);
  const unique = [...new Set(fits)];
  return unique.length === 1 ? (unique[0] ?? null) : null;
}

function offsetText(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const m = Math.abs(offsetMs) / 60_000;
  return `${sign}${pad(Math.floor(m / 60))}:${pad(m % 60)}`;
}

/** An HL7 DTM as a FHIR dateTime with its offset, or why it is no time. */
export function hl7Time(text: string, zone: string | undefined): Hl7Time {
  const t = text.trim();
  if (t === '') return { ok: false, problem: 'no time given' };
  const m = DTM.exec(t);
  if (m === null) return { ok: false, problem: `"${t.slice(0, 40)}" is not an HL7 time to the minute or finer (YYYYMMDDHHMM[SS[.S]][+/-ZZZZ])` };
  const [, y, mo, d, h, mi, s, frac, off] = m;
  const [Y, MO, D, H, MI, S] = [y, mo, d, h, mi, s ?? '0'].map(Number) as [number, number, number, number, number, number];
  const wallMs = Date.UTC(Y, MO - 1, D, H, MI, S);
  const check = new Date(wallMs);
  if (check.getUTCFullYear() !== Y || check.getUTCMonth() !== MO - 1 || check.getUTCDate() !== D || H > 23 || MI > 59 || S > 59) return { ok: false, problem: `"${t}" is not a calendar time` };
  const fraction = frac === undefined ? '' : `.${frac}`;
  const wall = `${pad(Y, 4)}-${pad(MO)}-${pad(D)}T${pad(H)}:${pad(MI)}:${pad(S)}${fraction}`;
  if (off !== undefined) {
    const oh = Number(off.slice(1, 3));
    const om = Number(off.slice(3, 5));
    if (oh > 14 || om > 59) return { ok: false, problem: `"${t}" has an impossible UTC offset` };
    return { ok: true, fhir: `${wall}${off.slice(0, 3)}:${off.slice(3)}` };
  }
  if (zone === undefined) return { ok: false, problem: `"${t}" has no UTC offset and the lab client has no hl7TimeZone` };
  const utc = localToUtc(wallMs, zone);
  if (utc === null) return { ok: false, problem: `"${t}" is skipped or repeated in ${zone} (a clock change): ambiguous` };
  return { ok: true, fhir: `${wall}${offsetText(wallMs - utc)}` };
}
