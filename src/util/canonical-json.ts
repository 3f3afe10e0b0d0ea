import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace. Used for hashes (pathway,
 * catalogue, settings, audit chain, input resources) so that the same content always gives the same
 * digest, whatever the key order. Non-finite numbers, functions and undefined are written as null,
 * except undefined object members, which are left out. The text is that of the earlier map-and-join
 * version (tests/unit/canonical-json.test.ts keeps it as the oracle).
 *
 * One walk: a subtree made of plain objects whose keys are already in sorted order, arrays, strings,
 * numbers, booleans and null is written by the engine's own `JSON.stringify`, which writes exactly that
 * text for it (same key order as `Object.keys`, same escapes, non-finite numbers as null); only the
 * objects whose keys are out of order, and what `JSON.stringify` would write differently (functions,
 * symbols, class instances such as a Date), are written here.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  return write(value) ?? JSON.stringify(value);
}

/** undefined when `JSON.stringify(value)` is already the canonical text of `value`; otherwise that text. */
function write(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return undefined;
    case 'object':
      if (value === null) return undefined;
      return Array.isArray(value) ? writeArray(value as unknown[]) : writeObject(value as Record<string, unknown>);
    case 'bigint':
      // Throws, as before.
      return JSON.stringify(value);
    case 'undefined':
    case 'function':
    case 'symbol':
      // null (JSON.stringify leaves such members out, so their object is written here).
      return 'null';
  }
}

function writeArray(arr: unknown[]): string | undefined {
  let texts: (string | undefined)[] | undefined;
  for (let i = 0; i < arr.length; i++) {
    const v: unknown = arr[i];
    const t = v === undefined ? undefined : write(v);
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

function writeObject(obj: Record<string, unknown>): string | undefined {
  const proto: unknown = Object.getPrototypeOf(obj);
  let keys = Object.keys(obj);
  // JSON.stringify writes the keys in Object.keys order: fine when that is the sorted order, for a plain object.
  let clean = proto === Object.prototype || proto === null;
  for (let i = 1; clean && i < keys.length; i++) if ((keys[i - 1] as string) >= (keys[i] as string)) clean = false;
  if (!clean) keys = keys.sort();
  let texts: Map<string, string> | undefined;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    const t = write(v);
    if (t !== undefined) (texts ??= new Map()).set(k, t);
  }
  if (clean && texts === undefined) return undefined;
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${texts?.get(k) ?? JSON.stringify(v)}`;
    first = false;
  }
  return `${out}}`;
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
