/**
 * A troponin Observation's value -> an exact measured range in ng/L (or why there is none). Readability
 * only (value, comparator, unit); the LoD rule and what the value means are the engine's.
 */
import { Big } from 'big.js';
import type { Quantity } from 'fhir/r4.js';
import type { MeasuredRange, TroponinValue } from '../engine/types.js';
import { isObject } from '../util/guards.js';
import { codings, formatNumber, valueKeysOf } from './resource-fields.js';
import { statusUseOf } from './status.js';
import { UCUM_SYSTEM, factorToNgPerL } from './units.js';

/** The lower end of a `<` or `<=` result (big.js values are never changed in place, so one is shared). */
const ZERO = new Big(0);
const ONE = new Big(1);

/** The value of a troponin Observation, read exactly (a JSON number as its decimal text). */
export function troponinValue(o: Record<string, unknown>): TroponinValue {
  const valueKeys = valueKeysOf(o);
  const dar = o['dataAbsentReason'];
  if (valueKeys.length === 0) {
    if (dar === undefined && statusUseOf(o['status']) === 'listed') {
      // Rule 12 (and ESC rule 11): a registered or preliminary result with no value yet is pending.
      return { kind: 'absent', reason: `no value yet: status ${String(o['status'])}, pending` };
    }
    if (dar !== undefined) {
      const text = isObject(dar) ? ((typeof dar['text'] === 'string' ? dar['text'] : undefined) ?? codings(dar).map((c) => c.display ?? c.code).join(', ')) : '';
      return { kind: 'absent', reason: `no value: ${text === '' ? 'dataAbsentReason given' : text}` };
    }
    return { kind: 'unreadable', reason: 'no value and no dataAbsentReason' };
  }
  if (dar !== undefined) return { kind: 'unreadable', reason: 'carries both a value and a dataAbsentReason' };
  if (valueKeys.length > 1) return { kind: 'unreadable', reason: `several values (${valueKeys.sort().join(', ')})` };
  if (valueKeys[0] !== 'valueQuantity') return { kind: 'unreadable', reason: `the value is a ${valueKeys[0] ?? 'value'}, not a valueQuantity` };
  const q = o['valueQuantity'];
  if (!isObject(q)) return { kind: 'unreadable', reason: 'valueQuantity is not an object' };
  const quantity = q as Quantity & Record<string, unknown>;
  const v = quantity.value as unknown;
  if (typeof v !== 'number' || !Number.isFinite(v)) return { kind: 'unreadable', reason: `the value ${formatNumber(v)} is not a number` };
  const comparator = quantity.comparator as unknown;
  if (comparator !== undefined && comparator !== '<' && comparator !== '<=' && comparator !== '>' && comparator !== '>=') {
    return { kind: 'unreadable', reason: comparator === 'ad' ? 'the comparator "ad" (sufficient to achieve) is not a measurement' : `unknown comparator ${formatNumber(comparator)}` };
  }
  if (v < 0) return { kind: 'unreadable', reason: `impossible value ${String(v)} (negative)` };
  let unit: string;
  const system = quantity.system as unknown;
  const code = quantity.code as unknown;
  const unitText = quantity.unit as unknown;
  // A unit system other than UCUM makes the result uninterpretable, whether or not a code is given:
  // the unit text is never read in place of a code of another system.
  if (system !== undefined && system !== UCUM_SYSTEM) return { kind: 'unreadable', reason: `the unit is from ${formatNumber(system)}, not UCUM` };
  if (code !== undefined) {
    if (typeof code !== 'string' || code === '') return { kind: 'unreadable', reason: 'the unit code is empty' };
    unit = code;
  } else if (typeof unitText === 'string' && unitText !== '') {
    unit = unitText;
  } else {
    return { kind: 'unreadable', reason: 'no unit' };
  }
  const factor = factorToNgPerL(unit);
  if (!factor.ok) return { kind: 'unreadable', reason: factor.problem };
  const measured = new Big(String(v));
  // ng/L and its equals: the value as given (times 1 is the same exact decimal).
  const x = factor.factor.eq(ONE) ? measured : measured.times(factor.factor);
  const reported = `${comparator ?? ''}${String(v)} ${unit}`;
  const cmp = comparator ?? null;
  const zero = ZERO;
  const range: MeasuredRange =
    cmp === null
      ? { kind: 'range', lo: x, loOpen: false, hi: x, hiOpen: false, reported, comparator: null }
      : cmp === '<'
        ? { kind: 'range', lo: zero, loOpen: false, hi: x, hiOpen: true, reported, comparator: cmp }
        : cmp === '<='
          ? { kind: 'range', lo: zero, loOpen: false, hi: x, hiOpen: false, reported, comparator: cmp }
          : cmp === '>'
            ? { kind: 'range', lo: x, loOpen: true, hi: null, hiOpen: true, reported, comparator: cmp }
            : { kind: 'range', lo: x, loOpen: false, hi: null, hiOpen: true, reported, comparator: cmp };
  return range;
}
