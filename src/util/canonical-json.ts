import * as crypto from 'node:crypto';
import { MAX_KEPT_KEY_LENGTH, Refused, generalText, quoted } from './canonical-json-walk.js';

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace. Used for hashes (pathway,
 * catalogue, settings, audit chain, input resources) so that the same content always gives the same
 * digest, whatever the key order. Non-finite numbers, functions and undefined are written as null,
 * except undefined object members, which are left out. The text is that of the earlier map-and-join
 * version (tests/unit/canonical-json.test.ts keeps it as the oracle).
 *
 * Plain JSON (what a parsed FHIR resource and an audit body are) is written by {@link writePlain}, one
 * walk appending to one string; anything else it meets (a function, a class instance such as a Date, a
 * non-finite number, a very deep value) sends the whole value to the general walk (canonical-json-walk.ts),
 * which writes the same text for plain JSON and handles the rest.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  const text = plainText(value);
  return text ?? generalText(value, null);
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
 * {@link NotPlainJson} naming where (found by the general walk, which checks every value on its way).
 */
export function canonicalPlainJson(value: unknown): string {
  const text = plainText(value);
  if (text !== undefined) return text;
  try {
    return generalText(value, new Set());
  } catch (e) {
    if (!(e instanceof Refused)) throw e;
    throw new NotPlainJson(e.what, e.segments.reverse().join(''));
  }
}

/** {@link writePlain} met something that is not plain JSON (or a value nested deeper than {@link MAX_PLAIN_DEPTH}). */
class NotPlain extends Error {}
const NOT_PLAIN = new NotPlain();

/**
 * Nesting the plain writer takes; deeper values (and circular ones, which are infinitely deep) go to the
 * general walk, which finds a cycle with its set of the objects on the path.
 */
const MAX_PLAIN_DEPTH = 200;

/** The canonical text of a plain JSON value, or undefined when it is not one (see {@link canonicalJson}). */
function plainText(value: unknown): string | undefined {
  try {
    return writePlain(value, 0);
  } catch (e) {
    if (e === NOT_PLAIN) return undefined;
    throw e;
  }
}

/** What `JSON.stringify` escapes in a string: `"`, `\`, control characters and (lone) surrogates. */
// eslint-disable-next-line no-control-regex -- control characters are among what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * The canonical text of plain JSON: the same text as the general walk (and the oracle), written without
 * asking `JSON.stringify` for each member: a string with nothing to escape is quoted as it is, a finite
 * number is written as `String` writes it (as `JSON.stringify` does, -0 as 0), and an object's member
 * order is looked up by {@link sortedKeys}. Throws {@link NOT_PLAIN} for anything else.
 */
function writePlain(v: unknown, depth: number): string {
  switch (typeof v) {
    case 'string':
      return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
    case 'number':
      if (!Number.isFinite(v)) throw NOT_PLAIN;
      return `${v}`;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (depth >= MAX_PLAIN_DEPTH) throw NOT_PLAIN;
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) {
          if (i > 0) out += ',';
          const x: unknown = v[i];
          out += x === undefined ? 'null' : writePlain(x, depth + 1);
        }
        return `${out}]`;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw NOT_PLAIN;
      const obj = v as Record<string, unknown>;
      const keys = sortedKeys(Object.keys(obj));
      let out = '{';
      let sep = '';
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i] as string;
        const x = obj[k];
        if (x === undefined) continue;
        out += `${sep}${quoted(k)}:${writePlain(x, depth + 1)}`;
        sep = ',';
      }
      return `${out}}`;
    }
    case 'undefined':
    case 'function':
    case 'symbol':
    case 'bigint':
      throw NOT_PLAIN;
  }
}

/**
 * Sorted member orders, kept by the order `Object.keys` gives (a trie of key lists): the same few dozen
 * shapes (FHIR's, the decision's, the trace's) recur in every body, so each is sorted once. Bounded: the
 * trie is emptied when it holds {@link MAX_ORDER_NODES} nodes, and long key lists (or lists with a long
 * name) are sorted every time.
 */
interface OrderNode {
  next: Map<string, OrderNode> | undefined;
  order: readonly string[] | undefined;
}
const MAX_ORDER_NODES = 8192;
const MAX_KEPT_KEYS = 64;
let orders: OrderNode = { next: undefined, order: undefined };
let orderNodes = 0;

function sortedKeys(keys: string[]): readonly string[] {
  if (keys.length > MAX_KEPT_KEYS) return keys.sort();
  if (orderNodes + keys.length > MAX_ORDER_NODES) {
    orders = { next: undefined, order: undefined };
    orderNodes = 0;
  }
  let node = orders;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    if (k.length > MAX_KEPT_KEY_LENGTH) return keys.sort();
    let next = node.next;
    if (next === undefined) node.next = next = new Map<string, OrderNode>();
    let child = next.get(k);
    if (child === undefined) {
      child = { next: undefined, order: undefined };
      next.set(k, child);
      orderNodes += 1;
    }
    node = child;
  }
  return (node.order ??= keys.sort());
}

/** Node's one-shot digest (`crypto.hash`, Node 20.12 and later): the same digest without a Hash object per call. */
const oneShot = (crypto as { hash?: (algorithm: string, data: string | Buffer, encoding: 'hex') => string }).hash;

export function sha256Hex(text: string | Buffer): string {
  return oneShot === undefined ? crypto.createHash('sha256').update(text).digest('hex') : oneShot('sha256', text, 'hex');
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
