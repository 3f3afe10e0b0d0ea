import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace. Used for hashes (pathway,
 * catalogue, settings, audit chain, input resources) so that the same content always gives the same
 * digest, whatever the key order. Non-finite numbers, functions and undefined are written as null,
 * except undefined object members, which are left out. The text is that of the earlier map-and-join
 * version (tests/unit/canonical-json.test.ts keeps it as the oracle).
 *
 * One walk, shared with {@link canonicalPlainJson} (the audit body's, which also checks the value is
 * plain JSON): a subtree made of plain objects whose keys are already in sorted order, arrays, strings,
 * numbers, booleans and null is written by the engine's own `JSON.stringify`, which writes exactly that
 * text for it (same key order as `Object.keys`, same escapes, non-finite numbers as null); only the
 * objects whose keys are out of order, and what `JSON.stringify` would write differently (functions,
 * symbols, class instances such as a Date), are written here.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  return write(value, null) ?? JSON.stringify(value);
}

/** A value that is not plain JSON: `path` names where (`.a[1].b`, empty for the value itself), `what` says why. */
export class NotPlainJson extends Error {
  constructor(
    readonly what: string,
    readonly path: string,
  ) {
    super(`${path === '' ? 'the value' : path} ${what}`);
    this.name = 'NotPlainJson';
  }
}

/**
 * {@link canonicalJson}'s text of a value that must be plain JSON (objects, arrays, strings, finite numbers,
 * booleans, null; undefined object members are left out and undefined array items written as null, as
 * there); anything else (a non-finite number, a function, a class instance, a circular reference) throws
 * {@link NotPlainJson} naming where. The audit record's body is checked and serialised by this one walk.
 */
export function canonicalPlainJson(value: unknown): string {
  try {
    return write(value, new Set()) ?? JSON.stringify(value);
  } catch (e) {
    if (!(e instanceof Refused)) throw e;
    throw new NotPlainJson(e.what, e.segments.reverse().join(''));
  }
}

/** Thrown inside the walk; the path is added on the way out, so it is only built for a value refused. */
class Refused extends Error {
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

/** Member names as JSON strings, kept: the same few hundred names (FHIR's, the decision's) recur in every body. */
const quotedKeys = new Map<string, string>();
function quoted(k: string): string {
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

export function sha256Hex(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

const contentDigests = new WeakMap<object, string>();

/**
 * `sha256Hex(canonicalJson(resource))`, computed once per resource object: the FHIR pull's duplicate check
 * and the audit record's input digest ask for the same digest of the same parsed resource. Only for
 * resources as parsed from JSON and never changed afterwards (nothing in the product edits an input).
 */
export function contentSha256(resource: object): string {
  let d = contentDigests.get(resource);
  if (d === undefined) {
    d = sha256Hex(canonicalJson(resource));
    contentDigests.set(resource, d);
  }
  return d;
}
