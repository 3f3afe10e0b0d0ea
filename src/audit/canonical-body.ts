/**
 * The audit body's canonical text, made by the walk that checks it is plain JSON (record.ts
 * `normaliseInput`): the text both stores keep and the hash chain covers, exactly `canonicalJson`'s.
 */
import { TnpError } from '../errors.js';

/** A body that is not plain JSON: where (path segments, innermost last) and what. */
class NotJson extends Error {
  readonly segments: string[] = [];
  constructor(readonly what: string) {
    super(what);
  }
}

/**
 * Checks that `value` is plain JSON and writes its canonical JSON text (the same text as
 * `canonicalJson`: object keys sorted by UTF-16 code units, no whitespace, undefined members left out
 * and undefined array items written as null) in one walk, so a record body is serialised once. Returns
 * undefined when `JSON.stringify(value)` is already that text (every object's keys in sorted order), so
 * the engine's own serialiser writes the largest such subtrees; the path of a refused value is only
 * built when one is refused.
 */
function canonicalBody(value: unknown, seen: Set<object>): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      if (!Number.isFinite(value)) throw new NotJson('is a non-finite number');
      return undefined;
    case 'object': {
      if (value === null) return undefined;
      if (seen.has(value)) throw new NotJson('is a circular reference');
      seen.add(value);
      const out = Array.isArray(value) ? canonicalArray(value as unknown[], seen) : canonicalObject(value, seen);
      seen.delete(value);
      return out;
    }
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      throw new NotJson(`is a ${typeof value}, not JSON`);
  }
  throw new NotJson('is not JSON');
}

function canonicalArray(arr: unknown[], seen: Set<object>): string | undefined {
  let texts: (string | undefined)[] | undefined;
  for (let i = 0; i < arr.length; i++) {
    const v: unknown = arr[i];
    const t = v === undefined ? undefined : child(v, seen, i);
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

function canonicalObject(value: object, seen: Set<object>): string | undefined {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw new NotJson('is not a plain object (a class instance such as a Date is not JSON)');
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let sorted = true;
  for (let i = 1; sorted && i < keys.length; i++) if ((keys[i - 1] as string) >= (keys[i] as string)) sorted = false;
  if (!sorted) return writeMembers(obj, keys.sort(), undefined, seen);
  // Keys in order: JSON.stringify writes this object unless a member must be written here.
  for (let i = 0; i < keys.length; i++) {
    const v = obj[keys[i] as string];
    if (v === undefined) continue;
    const t = child(v, seen, keys[i] as string);
    if (t !== undefined) return writeMembers(obj, keys, { at: i, text: t }, seen);
  }
  return undefined;
}

/** The object's text with `keys` in order; the members before `first.at` are clean (JSON.stringify writes them). */
function writeMembers(obj: Record<string, unknown>, keys: readonly string[], first: { at: number; text: string } | undefined, seen: Set<object>): string {
  let out = '{';
  let sep = '';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const v = obj[k];
    if (v === undefined) continue;
    const text = first === undefined ? child(v, seen, k) : i < first.at ? undefined : i === first.at ? first.text : child(v, seen, k);
    out += `${sep}${JSON.stringify(k)}:${text ?? JSON.stringify(v)}`;
    sep = ',';
  }
  return `${out}}`;
}

/** {@link canonicalBody} of a member, naming the member (index or key) in the path of a refusal. */
function child(v: unknown, seen: Set<object>, at: number | string): string | undefined {
  try {
    return canonicalBody(v, seen);
  } catch (e) {
    if (e instanceof NotJson) e.segments.push(typeof at === 'number' ? `[${at}]` : `.${at}`);
    throw e;
  }
}

/** The body's canonical text, or TNP_ERR_AUDIT_RECORD_INVALID naming where it is not plain JSON. */
export function canonicalBodyText(body: unknown): string {
  try {
    return canonicalBody(body, new Set()) ?? JSON.stringify(body);
  } catch (e) {
    if (!(e instanceof NotJson)) throw e;
    const path = `body${e.segments.reverse().join('')}`;
    throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `${path} ${e.what}`, { expression: [path] });
  }
}
