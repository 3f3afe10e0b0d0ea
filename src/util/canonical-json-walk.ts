/**
 * The general canonical JSON walk: any value, including what JSON cannot carry (functions, symbols,
 * non-finite numbers, class instances such as a Date, toJSON). The text is that of the earlier
 * map-and-join version (tests/unit/canonical-json.test.ts keeps it as the oracle). canonical-json.ts
 * tries its plain-JSON writer first and comes here only for a value that writer does not take, and to
 * name where a value refused by `canonicalPlainJson` is not plain JSON.
 *
 * A subtree made of plain objects whose keys are already in sorted order, arrays, strings, numbers,
 * booleans and null is written by the engine's own `JSON.stringify`, which writes exactly that text for
 * it (same key order as `Object.keys`, same escapes, non-finite numbers as null); only the objects whose
 * keys are out of order, and what `JSON.stringify` would write differently, are written here.
 */

/** The canonical text of `value` (`plain`: refuse what is not plain JSON, with a {@link Refused}). */
export function generalText(value: unknown, plain: Set<object> | null): string {
  if (value === null || typeof value !== 'object') {
    if (plain !== null) write(value, plain);
    return JSON.stringify(value) ?? 'null';
  }
  return write(value, plain) ?? JSON.stringify(value);
}

/** Thrown inside the walk; the path is added on the way out, so it is only built for a value refused. */
export class Refused extends Error {
  readonly segments: string[] = [];
  constructor(readonly what: string) {
    super(what);
  }
}

/**
 * undefined when `JSON.stringify(value)` is already the canonical text of `value`; otherwise that text.
 * `plain` (the set of objects on the path, for cycles) makes it refuse what is not plain JSON.
 */
function write(value: unknown, plain: Set<object> | null): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      if (plain !== null && !Number.isFinite(value)) throw new Refused('is a non-finite number');
      return undefined;
    case 'object': {
      if (value === null) return undefined;
      if (plain === null) return Array.isArray(value) ? writeArray(value as unknown[], null) : writeObject(value, null);
      if (plain.has(value)) throw new Refused('is a circular reference');
      plain.add(value);
      const out = Array.isArray(value) ? writeArray(value as unknown[], plain) : writeObject(value, plain);
      plain.delete(value);
      return out;
    }
    case 'bigint':
      if (plain !== null) throw new Refused('is a bigint, not JSON');
      // Throws, as before.
      return JSON.stringify(value);
    case 'undefined':
    case 'function':
    case 'symbol':
      if (plain !== null) throw new Refused(`is a ${typeof value}, not JSON`);
      // null (JSON.stringify leaves such members out, so their object is written here).
      return 'null';
  }
}

function writeArray(arr: unknown[], plain: Set<object> | null): string | undefined {
  let texts: (string | undefined)[] | undefined;
  for (let i = 0; i < arr.length; i++) {
    const v: unknown = arr[i];
    const t = v === undefined ? undefined : child(v, plain, i);
    if (t !== undefined) (texts ??= new Array<string | undefined>(arr.length))[i] = t;
  }
  if (texts === undefined && typeof (arr as { toJSON?: unknown }).toJSON !== 'function') return undefined;
  let out = '[';
  for (let i = 0; i < arr.length; i++) {
    if (i > 0) out += ',';
    const v: unknown = arr[i];
    out += v === undefined ? 'null' : (texts?.[i] ?? JSON.stringify(v));
  }
  return `${out}]`;
}

function writeObject(value: object, plain: Set<object> | null): string | undefined {
  const proto: unknown = Object.getPrototypeOf(value);
  const isPlain = proto === Object.prototype || proto === null;
  if (!isPlain && plain !== null) throw new Refused('is not a plain object (a class instance such as a Date is not JSON)');
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  // JSON.stringify writes the keys in Object.keys order: fine when that is the sorted order, for a plain object.
  let sorted = isPlain;
  for (let i = 1; sorted && i < keys.length; i++) if ((keys[i - 1] as string) >= (keys[i] as string)) sorted = false;
  if (!sorted) return writeMembers(obj, keys.sort(), undefined, plain);
  // Keys in order: JSON.stringify writes this object unless a member must be written here.
  for (let i = 0; i < keys.length; i++) {
    const v = obj[keys[i] as string];
    if (v === undefined) continue;
    const t = child(v, plain, keys[i] as string);
    if (t !== undefined) return writeMembers(obj, keys, { at: i, text: t }, plain);
  }
  return undefined;
}

/** Longer member names are not kept (nor, by canonical-json.ts, their objects' member orders): huge names must not hold memory. */
export const MAX_KEPT_KEY_LENGTH = 128;

/** Member names as JSON strings, kept: the same few hundred names (FHIR's, the decision's) recur in every body (not long ones). */
const quotedKeys = new Map<string, string>();
export function quoted(k: string): string {
  if (k.length > MAX_KEPT_KEY_LENGTH) return JSON.stringify(k);
  let q = quotedKeys.get(k);
  if (q === undefined) {
    q = JSON.stringify(k);
    if (quotedKeys.size >= 4096) quotedKeys.clear();
    quotedKeys.set(k, q);
  }
  return q;
}

/** The object's text with `keys` in order; the members before `first.at` are clean (JSON.stringify writes them). */
function writeMembers(obj: Record<string, unknown>, keys: readonly string[], first: { at: number; text: string } | undefined, plain: Set<object> | null): string {
  let out = '{';
  let sep = '';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const v = obj[k];
    if (v === undefined) continue;
    const text = first === undefined ? child(v, plain, k) : i < first.at ? undefined : i === first.at ? first.text : child(v, plain, k);
    out += `${sep}${quoted(k)}:${text ?? JSON.stringify(v)}`;
    sep = ',';
  }
  return `${out}}`;
}

/** {@link write} of a member, naming the member (index or key) in the path of a refusal. */
function child(v: unknown, plain: Set<object> | null, at: number | string): string | undefined {
  if (plain === null) return write(v, null);
  try {
    return write(v, plain);
  } catch (e) {
    if (e instanceof Refused) e.segments.push(typeof at === 'number' ? `[${at}]` : `.${at}`);
    throw e;
  }
}

