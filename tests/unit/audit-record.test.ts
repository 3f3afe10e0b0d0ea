/**
 * The audit record body is serialised once (normaliseInput) and that text is both hashed and stored:
 * it must be exactly canonicalJson's text, and the hash made from it exactly recordHash's.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseInput, recordHash, recordHashOfBodyText } from '../../src/audit/record.js';
import { canonicalJson } from '../../src/util/canonical-json.js';

const json = fc.jsonValue();
const withUndefined = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.array(tie('value')), fc.dictionary(fc.string(), tie('value'))),
})).value;

describe('the audit body: one canonical serialisation', () => {
  it('normaliseInput gives canonicalJson text, and the body parsed back from it', () => {
    fc.assert(
      fc.property(fc.oneof(json, withUndefined.filter((v) => v !== undefined)), (body) => {
        const n = normaliseInput({ kind: 'evaluation', at: '2026-01-31T12:00:00.000Z', patientId: 'p', body });
        expect(n.bodyText).toBe(canonicalJson(body));
        expect(n.body).toEqual(JSON.parse(canonicalJson(body)));
        expect(Object.keys(n)).toContain('body');
      }),
      { numRuns: 300 },
    );
  });

  it('recordHashOfBodyText(fields, canonicalJson(body)) === recordHash({ ...fields, body })', () => {
    const text = fc.string({ minLength: 1 });
    fc.assert(
      fc.property(
        fc.record({ seq: fc.integer({ min: 1 }), id: text, kind: text, at: text, patientId: fc.option(text), linksTo: fc.option(text, { nil: undefined }), idempotencyKey: fc.option(text, { nil: undefined }), prevHash: text, body: json }),
        (r) => {
          expect(recordHashOfBodyText(r, canonicalJson(r.body))).toBe(recordHash(r));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('still refuses what is not plain JSON', () => {
    for (const body of [{ a: Number.NaN }, { d: new Date(0) }, [() => 1], { n: 1n }]) {
      expect(() => normaliseInput({ kind: 'evaluation', at: '2026-01-31T12:00:00.000Z', patientId: null, body })).toThrow(/not JSON|non-finite|plain object/);
    }
    // The refusal names where: built only when a value is refused.
    expect(() => normaliseInput({ kind: 'evaluation', at: '2026-01-31T12:00:00.000Z', patientId: null, body: { a: [1, { b: Number.POSITIVE_INFINITY }] } })).toThrow('body.a[1].b is a non-finite number');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => normaliseInput({ kind: 'evaluation', at: '2026-01-31T12:00:00.000Z', patientId: null, body: cyclic })).toThrow(/circular/);
  });
});
