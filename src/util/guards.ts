/**
 * The one object guard: a value parsed from JSON (a FHIR resource, a request body, a stored record) that is an
 * object with members, not null and not an array.
 */
export function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
