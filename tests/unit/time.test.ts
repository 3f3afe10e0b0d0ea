/**
 * Exact instants: FHIR date-times with a time of day and a zone, and nothing else (rules 3 and 5).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatInstant, minutesBetween, parseInstant } from '../../src/engine/time.js';

const ok = (s: string): bigint => {
  const p = parseInstant(s);
  if (!p.ok) throw new Error(p.problem);
  return p.instant;
};

describe('instants', () => {
  it('reads zones and offsets exactly', () => {
    expect(formatInstant(ok('2026-03-14T09:05:00+01:00'))).toBe('2026-03-14T08:05:00Z');
    expect(formatInstant(ok('2026-03-14T09:05Z'))).toBe('2026-03-14T09:05:00Z');
    expect(formatInstant(ok('2024-02-29T00:00:00.123456789Z'))).toBe('2024-02-29T00:00:00.123456789Z');
  });

  it('a date alone, a time without a zone, or an impossible date is no time', () => {
    for (const s of ['2026-03-14', '2026-03', '2026-03-14T09:05:00', '2023-02-29T00:00:00Z', '2026-03-14T24:00:00Z', 'yesterday', '']) {
      expect(parseInstant(s).ok, s).toBe(false);
    }
    expect(parseInstant(12).ok).toBe(false);
  });

  it('agrees with Date for every millisecond instant, whatever the offset', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4102444800000 }), fc.integer({ min: -14 * 60, max: 14 * 60 }), (ms, offset) => {
        const local = new Date(ms + offset * 60_000).toISOString().slice(0, 23);
        const sign = offset < 0 ? '-' : '+';
        const abs = Math.abs(offset);
        const text = `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        expect(ok(text)).toBe(BigInt(ms) * 1_000_000n);
        expect(formatInstant(ok(text)).replace(/(\.\d*?)0*Z$/, '$1Z').replace(/\.Z$/, 'Z')).toBe(new Date(ms).toISOString().replace(/\.000Z$/, 'Z').replace(/(\.\d*?)0*Z$/, '$1Z'));
      }),
    );
  });

  it('minutes between draws, for people', () => {
    const t = ok('2026-03-14T09:00:00Z');
    expect(minutesBetween(t, ok('2026-03-14T12:00:00Z'))).toBe('180');
    expect(minutesBetween(t, ok('2026-03-14T09:00:30Z'))).toBe('0.5');
    expect(minutesBetween(t, ok('2026-03-14T09:01:30Z'))).toBe('1.5');
    expect(minutesBetween(t, ok('2026-03-14T09:00:20Z'))).toBe('0.333');
    expect(minutesBetween(ok('2026-03-14T09:02:00Z'), t)).toBe('-2');
    expect(minutesBetween(t, t)).toBe('0');
  });
});
