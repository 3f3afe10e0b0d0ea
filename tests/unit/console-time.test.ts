/**
 * The console form's clock times in the site's time zone (src/console/web/time.ts): read in the zone
 * the site set, never the machine's; a time the clocks skip or repeat is refused, not guessed.
 */
import { describe, expect, it } from 'vitest';
import { instantOf, wallTime } from '../../src/console/web/time.js';

describe('clock times in the site time zone', () => {
  it('reads a clock time in the given zone, summer and winter', () => {
    expect(instantOf('2026-03-06T11:20', 'Europe/London')).toEqual({ ok: true, ms: Date.parse('2026-03-06T11:20:00Z') });
    expect(instantOf('2026-07-06T11:20', 'Europe/London')).toEqual({ ok: true, ms: Date.parse('2026-07-06T10:20:00Z') });
    expect(instantOf('2026-03-06T11:20', 'Pacific/Auckland')).toEqual({ ok: true, ms: Date.parse('2026-03-05T22:20:00Z') });
    expect(instantOf('2026-03-06T11:20', 'America/St_Johns')).toEqual({ ok: true, ms: Date.parse('2026-03-06T14:50:00Z') });
  });

  it('writes an instant as the clock time of the zone, and back', () => {
    const ms = Date.parse('2026-10-25T00:59:00Z');
    expect(wallTime(ms, 'Europe/London')).toBe('2026-10-25T01:59');
    for (const zone of ['Europe/London', 'Pacific/Auckland', 'America/New_York', 'Asia/Kolkata', 'UTC']) {
      for (let t = Date.parse('2026-01-01T00:00:00Z'); t < Date.parse('2027-01-01T00:00:00Z'); t += 7 * 3_600_000 + 13 * 60_000) {
        const wall = wallTime(t, zone);
        const back = instantOf(wall, zone);
        if (back.ok) expect(back.ms).toBe(Math.floor(t / 60_000) * 60_000);
        else expect(back.problem).toBe('repeated');
      }
    }
  });

  it('refuses a clock time the clocks skip or repeat, and one that is not a time', () => {
    expect(instantOf('2026-03-29T01:30', 'Europe/London')).toEqual({ ok: false, problem: 'skipped' });
    expect(instantOf('2026-10-25T01:30', 'Europe/London')).toEqual({ ok: false, problem: 'repeated' });
    expect(instantOf('2026-10-25T02:30', 'Europe/London')).toEqual({ ok: true, ms: Date.parse('2026-10-25T02:30:00Z') });
    expect(instantOf('2026-02-30T10:00', 'Europe/London')).toEqual({ ok: false, problem: 'unreadable' });
    expect(instantOf('2026-02-10 10:00', 'Europe/London')).toEqual({ ok: false, problem: 'unreadable' });
    expect(instantOf('', 'Europe/London')).toEqual({ ok: false, problem: 'unreadable' });
  });
});
