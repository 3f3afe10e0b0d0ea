/**
 * What an evaluation record says about its input resources, bounded whatever the input (rule 16): the
 * first {@link LISTED_INPUT_DIGESTS} digests one by one, and always the count and one sha256 over the
 * canonical JSON of every digest in order, so the record still pins the whole input exactly.
 */
import { canonicalJson, contentSha256, sha256Hex } from '../util/canonical-json.js';
import { isObject } from '../util/guards.js';

/** Digests listed one by one in an evaluation record. */
export const LISTED_INPUT_DIGESTS = 100;
/** Items of other per-resource lists (e.g. resources left out as another patient's) listed one by one. */
export const LISTED_RECORD_ITEMS = 20;

export interface InputDigests<T> {
  readonly inputResources: readonly T[];
  readonly inputResourceCount: number;
  readonly inputResourcesSha256: string;
}

export function inputDigests<T>(digests: readonly T[]): InputDigests<T> {
  return {
    inputResources: digests.slice(0, LISTED_INPUT_DIGESTS),
    inputResourceCount: digests.length,
    inputResourcesSha256: sha256Hex(canonicalJson(digests)),
  };
}

/** The first {@link LISTED_RECORD_ITEMS} items (give the count beside them). */
export function listedItems<T>(items: readonly T[]): readonly T[] {
  return items.slice(0, LISTED_RECORD_ITEMS);
}

type Json = Record<string, unknown>;

/** The id, version and content digest (sha256 of its canonical JSON) of an input resource, for the audit record. */
export function resourceDigest(r: unknown, i: number): Json {
  if (!isObject(r)) return { index: i, sha256: sha256Hex(canonicalJson(r)) };
  const meta = isObject(r['meta']) ? r['meta'] : {};
  return {
    ref: typeof r['resourceType'] === 'string' && typeof r['id'] === 'string' ? `${r['resourceType']}/${r['id']}` : `input #${i + 1}`,
    ...(typeof meta['versionId'] === 'string' ? { versionId: meta['versionId'] } : {}),
    ...(typeof meta['lastUpdated'] === 'string' ? { lastUpdated: meta['lastUpdated'] } : {}),
    sha256: contentSha256(r),
  };
}
