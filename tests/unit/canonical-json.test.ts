/**
 * canonicalJson is hashed into the audit chain, the input digests and the pathway identity: its text must
 * never change. The one-walk version must write exactly what the earlier map-and-join version wrote, for
 * any value (including what JSON cannot carry: undefined, functions, non-finite numbers, Dates).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, contentSha256, sha256Hex } from '../../src/util/canonical-json.js';

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

describe('canonicalJson', () => {
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
