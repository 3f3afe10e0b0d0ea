/**
 * Rule 10: troponin values are normalised to ng/L, exactly.
 *
 * ucum-lhc parses and validates the unit and tells us whether it is a mass concentration (it converts to
 * ng/L). It converts in binary floating point, so its factor is only used to recover the exact decimal
 * factor: every UCUM mass-concentration unit built from metric prefixes and decimal definitions has a
 * factor with few significant digits, so rounding ucum-lhc's result to 12 significant digits gives it
 * exactly. Where the 12- and 14-digit roundings disagree the unit has no exact decimal factor (e.g. an
 * avoirdupois ounce per US gallon) and the result is uninterpretable rather than approximated.
 * The units labs actually send are in a fixed table and never touch the floating point path.
 */
import ucum from '@lhncbc/ucum-lhc';
import { Big } from 'big.js';

export const UCUM_SYSTEM = 'http://unitsofmeasure.org';

const EXACT: ReadonlyMap<string, string> = new Map([
  ['ng/L', '1'],
  ['ng/l', '1'],
  ['pg/mL', '1'],
  ['pg/ml', '1'],
  ['ng/mL', '1000'],
  ['ng/ml', '1000'],
  ['ug/L', '1000'],
  ['ug/l', '1000'],
]);

export type UnitFactor = { ok: true; factor: Big; unit: string } | { ok: false; problem: string };

let utils: ReturnType<typeof ucum.UcumLhcUtils.getInstance> | null = null;
const cache = new Map<string, UnitFactor>();

/**
 * ucum-lhc keeps its unit table in plain objects: a unit spelt like one of their inherited members
 * (`toString`, `constructor`, `__proto__`) is "valid" to it and then throws when converted. Such a name is
 * no UCUM unit; and whatever else the library throws is an unreadable unit, never an error of the call.
 */
const inherited = (unit: string): boolean => unit in Object.prototype;

function lookup(unit: string): UnitFactor {
  const exact = EXACT.get(unit);
  if (exact !== undefined) return { ok: true, factor: new Big(exact), unit };
  if (inherited(unit)) return { ok: false, problem: `"${unit}" is not a valid UCUM unit` };
  try {
    return convertWithUcum(unit);
  } catch (e) {
    return { ok: false, problem: `"${unit}" could not be read as a UCUM unit (${e instanceof Error ? e.message : String(e)})` };
  }
}

function convertWithUcum(unit: string): UnitFactor {
  utils ??= ucum.UcumLhcUtils.getInstance();
  const valid = utils.validateUnitString(unit, false);
  if (valid.status !== 'valid') return { ok: false, problem: `"${unit}" is not a valid UCUM unit` };
  const conv = utils.convertUnitTo(unit, 1, 'ng/L');
  if (conv.status !== 'succeeded' || conv.toVal === null || !Number.isFinite(conv.toVal) || conv.toVal <= 0) {
    return { ok: false, problem: `"${unit}" is not a mass concentration (it cannot be converted to ng/L)` };
  }
  const twelve = new Big(conv.toVal.toPrecision(12));
  const fourteen = new Big(conv.toVal.toPrecision(14));
  if (!twelve.eq(fourteen)) return { ok: false, problem: `"${unit}" has no exact decimal factor to ng/L` };
  return { ok: true, factor: twelve, unit };
}

/** Whether `unit` is a valid UCUM unit (of any dimension). */
export function isUcumUnit(unit: string): boolean {
  if (EXACT.has(unit)) return true;
  if (inherited(unit)) return false;
  utils ??= ucum.UcumLhcUtils.getInstance();
  try {
    return utils.validateUnitString(unit, false).status === 'valid';
  } catch {
    return false;
  }
}

/** The exact factor from `unit` to ng/L, or why there is none. Memoised: the function is pure. */
export function factorToNgPerL(unit: string): UnitFactor {
  let f = cache.get(unit);
  if (f === undefined) {
    f = lookup(unit);
    if (cache.size < 1000) cache.set(unit, f);
  }
  return f;
}
