/**
 * HL7 v2 times are read strictly (src/intake/hl7-time.ts): a draw time is never guessed.
 */
import { describe, expect, it } from 'vitest';
import { hl7Time } from '../../src/intake/hl7-time.js';

describe('HL7 v2 times', () => {
  it('a time with its UTC offset is exact; seconds and fractions are kept', () => {
    expect(hl7Time('202603061000+0000', undefined)).toEqual({ ok: true, fhir: '2026-03-06T10:00:00+00:00' });
    expect(hl7Time('20260306100512.25-0500', undefined)).toEqual({ ok: true, fhir: '2026-03-06T10:05:12.25-05:00' });
  });

  it('no offset: read in the lab client time zone, with its summer time; without one, no time', () => {
    expect(hl7Time('202607011000', 'Europe/London')).toEqual({ ok: true, fhir: '2026-07-01T10:00:00+01:00' });
    expect(hl7Time('202601011000', 'Europe/London')).toEqual({ ok: true, fhir: '2026-01-01T10:00:00+00:00' });
    expect(hl7Time('202603061000', undefined)).toMatchObject({ ok: false, problem: expect.stringContaining('no UTC offset') });
  });

  it('a local time the clock change skips or repeats is ambiguous: no time', () => {
    expect(hl7Time('202603290130', 'Europe/London')).toMatchObject({ ok: false, problem: expect.stringContaining('ambiguous') });
    expect(hl7Time('202610250130', 'Europe/London')).toMatchObject({ ok: false, problem: expect.stringContaining('ambiguous') });
  });

  it('less than minutes, impossible dates and garbage are no time (never filled with zeros)', () => {
    for (const t of ['20260306', '2026030610', '202602301000+0000', '202603061000+2500', 'yesterday', '']) expect(hl7Time(t, 'Europe/London').ok, t).toBe(false);
  });
});
