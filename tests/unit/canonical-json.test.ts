/**
 * canonicalJson is hashed into the audit chain, the input digests and the pathway identity: its text must
 * never change. The one-walk version must write exactly what the earlier map-and-join version wrote, for
 * any value (including what JSON cannot carry: undefined, functions, non-finite numbers, Dates).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { canonicalJson, canonicalPlainJson, contentSha256, NotPlainJson, sha256Hex } from '../../src/util/canonical-json.js';

/** The earlier implementation, kept as the oracle. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => reference(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(obj[k])}`).join(',')}}`;
}

const anything = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.constant(() => 1), fc.date(), fc.array(tie('value')), fc.dictionary(fc.string(), tie('value'))),
})).value;

/** Strings a writer can get wrong: quotes, backslashes, control characters, lone and paired surrogates, U+2028. */
const awkwardString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028', '\ud800', '\udc00', '\ud83d\ude00', 'a', 'é') }));
/** Keys from a small set, so the same members come in many orders (the writer keeps one sorted order per key list). */
const fewKeys = fc.constantFrom('a', 'b', 'B', 'ab', 'aa', '', '0', '1', '10', '2', 'é', '\ud83d\ude00', '\uff01', '__proto__x', 'constructor');
/** Plain JSON, as a parsed resource or an audit body is, with numbers JSON writes oddly (-0, exponents). */
const plainJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    awkwardString,
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(0, -0, 1e21, 1e-7, 5e-324, 2 ** 53, 123456789012345680000),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value')),
    fc.dictionary(fc.oneof(fewKeys, awkwardString), tie('value')),
    fc.dictionary(fewKeys, fc.option(tie('value'), { nil: undefined })),
  ),
})).value;

describe('canonicalJson', () => {
  it('writes plain JSON exactly as the earlier implementation, and canonicalPlainJson writes the same', () => {
    fc.assert(
      fc.property(plainJson, (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
        expect(canonicalPlainJson(v)).toBe(reference(v));
      }),
      { numRuns: 3000 },
    );
  });

  it('writes the same text whatever the key order, once a key list has been seen in another order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fewKeys, { maxLength: 12 }), fc.integer(), (keys, seed) => {
        const a = Object.fromEntries(keys.map((k, i) => [k, i]));
        const shuffled = [...keys].sort((x, y) => ((x.charCodeAt(0) ^ seed) & 7) - ((y.charCodeAt(0) ^ seed) & 7));
        const b = Object.fromEntries(shuffled.map((k) => [k, keys.indexOf(k)]));
        expect(canonicalJson(a)).toBe(reference(a));
        expect(canonicalJson(b)).toBe(reference(a));
      }),
      { numRuns: 500 },
    );
  });

  it('writes objects with long member names (whose orders are not kept) as the earlier implementation', () => {
    const long = 'k'.repeat(300);
    for (const v of [{ [long]: 1, a: 2 }, { a: 2, [long]: 1 }, { [`${long}b`]: [{ [long]: 'x', b: null }], [`${long}a`]: true }]) {
      expect(canonicalJson(v)).toBe(reference(v));
      expect(canonicalJson(v)).toBe(reference(v));
    }
  });

  it('writes values nested deeper than the plain writer goes, and names a cycle or a non-plain value deep down', () => {
    let deep: unknown = { z: 1, a: ['x'] };
    for (let i = 0; i < 500; i++) deep = i % 2 === 0 ? { b: deep, a: i } : [deep, -0];
    expect(canonicalJson(deep)).toBe(reference(deep));
    expect(canonicalPlainJson(deep)).toBe(reference(deep));
    const cyclic: Record<string, unknown> = { b: 1, a: [{ y: 2 }] };
    (cyclic['a'] as Record<string, unknown>[])[0]!['x'] = cyclic;
    expect(() => canonicalPlainJson(cyclic)).toThrow(new NotPlainJson('is a circular reference', '.a[0].x'));
    expect(() => canonicalPlainJson({ b: { d: [1, Number.NaN] }, a: 1 })).toThrow(new NotPlainJson('is a non-finite number', '.b.d[1]'));
    expect(() => canonicalPlainJson({ a: { when: new Date(0) } })).toThrow(NotPlainJson);
    expect(canonicalJson({ b: [Number.POSITIVE_INFINITY, () => 1], a: new Date(0) })).toBe('{"a":{},"b":[null,null]}');
  });

  it('sha256Hex is the sha256 of the UTF-8 text, for strings and Buffers', () => {
    for (const t of ['', 'abc', 'caf\u00e9 \ud83d\ude00', 'x'.repeat(100_000)]) {
      const want = createHash('sha256').update(t, 'utf8').digest('hex');
      expect(sha256Hex(t)).toBe(want);
      expect(sha256Hex(Buffer.from(t, 'utf8'))).toBe(want);
    }
  });

  it('writes exactly the text of the earlier implementation', () => {
    fc.assert(
      fc.property(anything, (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('contentSha256 is sha256Hex(canonicalJson(resource)), computed once per object', () => {
    const r = { resourceType: 'Observation', id: 'a', b: [1, { y: 2, x: 1 }] };
    expect(contentSha256(r)).toBe(sha256Hex(canonicalJson(r)));
    expect(contentSha256(r)).toBe(contentSha256(r));
    expect(contentSha256({ ...r })).toBe(contentSha256(r));
  });
});
