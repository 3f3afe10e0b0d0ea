/**
 * The only strings a case link may carry besides the pathway's own codings: fixed vocabularies
 * (Observation statuses, comparators, data-absent reasons) and units that parse as UCUM. A value
 * outside them is replaced by a placeholder the pathway reads the same way (an unknown status is still
 * unknown, an unreadable unit still unreadable), so no free text from a record reaches a link and the
 * decision the link reproduces does not change.
 */
import { factorToNgPerL, isUcumUnit, UCUM_SYSTEM } from '../fhir/units.js';

export type Json = Record<string, unknown>;

export const UCUM = UCUM_SYSTEM;
/** The unit system written for any system other than UCUM (the pathway reads none of them). */
export const OTHER_UNIT_SYSTEM = 'urn:hs-troponin-cds:case-link:other-unit-system';
/** The unit written for a unit that is not UCUM: never a UCUM unit, so it stays unreadable. */
export const UNREADABLE_UNIT = '[unreadable unit]';

/** The value[x] elements a case rebuilds for the values it does not keep (it keeps only how many). */
export const VALUE_ELEMENTS = ['valueString', 'valueBoolean', 'valueRange', 'valueRatio', 'valueSampledData', 'valueTime', 'valueDateTime', 'valuePeriod'];

/** FHIR R4 ObservationStatus. */
const STATUSES = new Set(['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown']);
/** FHIR R4 QuantityComparator. */
const COMPARATORS = new Set(['<', '<=', '>=', '>', 'ad']);
/** FHIR R4 DataAbsentReason. */
const ABSENT_REASONS = new Set(['unknown', 'asked-unknown', 'temp-unknown', 'not-asked', 'asked-declined', 'masked', 'not-applicable', 'unsupported', 'as-text', 'error', 'not-a-number', 'negative-infinity', 'positive-infinity', 'not-performed', 'not-permitted']);
/** Spellings laboratories use that are not UCUM: kept so that the console shows why a result is unreadable. */
const KNOWN_NON_UCUM = new Set(['µg/L', 'μg/L', 'µg/l', 'μg/l', 'mcg/L', 'mcg/l']);
/** A unit's characters: no spaces, no braces (UCUM annotations are free text). */
const UNIT_SHAPE = /^[A-Za-z0-9µμ%./*^[\]_'-]{1,24}$/;

/** A status the pathway reads the same way: the FHIR code, or `unknown` (not usable) for anything else. */
export function safeStatus(s: unknown): string {
  return typeof s === 'string' && STATUSES.has(s) ? s : 'unknown';
}

/** A comparator the pathway reads the same way: the FHIR code, or `other` (unreadable) for anything else. */
export function safeComparator(c: unknown): string {
  return typeof c === 'string' && COMPARATORS.has(c) ? c : 'other';
}

export function safeAbsentReason(code: string | undefined): string {
  return code !== undefined && ABSENT_REASONS.has(code) ? code : 'unknown';
}

/**
 * A unit the pathway reads the same way, without free text: a UCUM unit of plain characters as it is;
 * a UCUM mass concentration written with annotations (`ng/L{serum}`) without them when that keeps its
 * factor; a known non-UCUM spelling as it is; anything else `[unreadable unit]`. (A mass concentration
 * that is neither, e.g. longer than 24 characters, becomes unreadable: the link's decision can then
 * only be more cautious than the card's, never less.)
 */
export function safeUnit(unit: string): string {
  if (KNOWN_NON_UCUM.has(unit)) return unit;
  const factor = factorToNgPerL(unit);
  if (UNIT_SHAPE.test(unit) && (factor.ok || isUcumUnit(unit))) return unit;
  if (factor.ok) {
    const bare = unit.replace(/\{[^}]*\}/g, '');
    const again = factorToNgPerL(bare);
    if (UNIT_SHAPE.test(bare) && again.ok && again.factor.eq(factor.factor)) return bare;
  }
  return UNREADABLE_UNIT;
}
