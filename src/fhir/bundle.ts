/**
 * What an input holds: a FHIR Bundle, a single resource or a JSON array of resources, flattened to its
 * resources. Pure: no network, no clock.
 */
import type { Bundle, Resource } from 'fhir/r4.js';
import { TnpError } from '../errors.js';
import { isObject } from '../util/guards.js';
import { rememberFullUrl } from './resource-fields.js';

/**
 * Accept a FHIR Bundle, a single resource, or a JSON array of resources, and return the resources.
 * Throws TNP_ERR_INPUT_EMPTY / TNP_ERR_INPUT_NOT_FHIR with what is wrong.
 */
export function extractResources(doc: unknown): Resource[] {
  if (doc === null || doc === undefined) throw new TnpError('TNP_ERR_INPUT_EMPTY', 'the input is empty (null)');
  if (Array.isArray(doc)) {
    if (doc.length === 0) throw new TnpError('TNP_ERR_INPUT_EMPTY', 'the input is an empty array: it holds no FHIR resource');
    const bad = doc.findIndex((r) => !isObject(r) || typeof r['resourceType'] !== 'string');
    if (bad >= 0) throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', `item ${bad} of the array is not a FHIR resource (an object with a resourceType)`, { expression: [`[${bad}]`] });
    const out: Resource[] = [];
    for (const r of doc as Resource[]) {
      if (r.resourceType === 'Bundle') out.push(...extractResources(r));
      else out.push(r);
    }
    return out;
  }
  if (!isObject(doc)) throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', `the input is a JSON ${typeof doc}, not a FHIR resource, Bundle or array of resources`);
  if (Object.keys(doc).length === 0) throw new TnpError('TNP_ERR_INPUT_EMPTY', 'the input is an empty JSON object');
  if (typeof doc['resourceType'] !== 'string') throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', 'the input has no resourceType: it is not a FHIR resource');
  if (doc['resourceType'] !== 'Bundle') return [doc as unknown as Resource];
  const bundle = doc as unknown as Bundle;
  const entries = bundle.entry;
  if (entries === undefined || (Array.isArray(entries) && entries.length === 0)) {
    throw new TnpError('TNP_ERR_INPUT_EMPTY', 'the Bundle has no entries');
  }
  if (!Array.isArray(entries)) throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', 'Bundle.entry is not an array', { expression: ['Bundle.entry'] });
  const out: Resource[] = [];
  entries.forEach((e: unknown, i) => {
    if (!isObject(e)) throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', `Bundle.entry[${i}] is not an object`, { expression: [`Bundle.entry[${i}]`] });
    const r = e['resource'];
    if (r === undefined) return; // e.g. a search-result entry without a resource: nothing to read
    if (!isObject(r) || typeof r['resourceType'] !== 'string') {
      throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', `Bundle.entry[${i}].resource is not a FHIR resource`, { expression: [`Bundle.entry[${i}].resource`] });
    }
    if (r['resourceType'] === 'Bundle') out.push(...extractResources(r));
    else {
      // A reference to the entry's fullUrl (a `urn:uuid:`, say) names this resource (rule 14 reads it).
      if (typeof e['fullUrl'] === 'string' && e['fullUrl'] !== '') rememberFullUrl(r, e['fullUrl']);
      out.push(r as unknown as Resource);
    }
  });
  if (out.length === 0) throw new TnpError('TNP_ERR_INPUT_EMPTY', 'the Bundle holds no resources');
  return out;
}
