import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), no whitespace. Used for hashes (pathway,
 * catalogue, settings, audit chain, input resources) so that the same content always gives the same
 * digest, whatever the key order. Non-finite numbers, functions and undefined are written as null,
 * except undefined object members, which are left out. One walk, no intermediate arrays (this runs on
 * every input resource and every audit body); the text is that of the earlier map-and-join version.
 */
export function canonicalJson(value: unknown): string {
  return write(value);
}

function write(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const v: unknown = value[i];
      out += v === undefined ? 'null' : write(v);
    }
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${write(v)}`;
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
