/**
 * One decision, many views: FHIR resources and an evaluation time in, a Decision out. Every adapter
 * (CDS Hooks, lab intake, console, command line) goes through here, so they cannot disagree.
 */
import type { Resource } from 'fhir/r4.js';
import { TnpError } from './errors.js';
import type { PathwayRuntime } from './engine/catalogue.js';
import { PathwayDefect } from './engine/defect.js';
import { evaluate } from './engine/evaluate.js';
import { parseInstant } from './engine/time.js';
import type { Decision, Instant } from './engine/types.js';
import { casePatientRef, extractResources, fullUrlOf, subjectPatientId, subjectReference, toFacts } from './fhir/mapping.js';

export interface DecideContext {
  /** The evaluation time: an ISO 8601 instant with a time zone, or epoch nanoseconds. */
  readonly now: string | Instant;
  readonly encounterId?: string | null;
  /**
   * Whose case it is (C2 rule 14). A string: that patient (a CDS call's `context.patientId`), whose Patient
   * gives the sex and whose Observations count. Null: the resources are one patient's already (a
   * laboratory episode, grouped by patient) and no Patient is read. Absent (the console, the command
   * line): the patient the Observations name as their subject; resources naming more than one patient
   * are refused ({@link casePatientId}).
   */
  readonly patientId?: string | null;
}

/**
 * The patient the resources' subjects name (C2 rule 14), or null when none names one: the id of a
 * `Patient/<id>` reference, relative or absolute; a reference to a Bundle entry's `fullUrl` (a
 * `urn:uuid:`) names that entry's Patient, by its id when it has one, else by the fullUrl itself; any
 * other reference is a patient of its own.
 *
 * @throws TnpError 400 (`TNP_ERR_INPUT_MORE_THAN_ONE_PATIENT`) when they name more than one: which
 *   patient's case it is cannot be told, and one patient's results must never decide for another.
 */
export function casePatientId(resources: readonly Resource[]): string | null {
  const byFullUrl = new Map<string, string>();
  for (const r of resources) {
    const obj = r as unknown as Record<string, unknown>;
    const url = obj['resourceType'] === 'Patient' && typeof obj['id'] === 'string' ? fullUrlOf(obj) : null;
    if (url !== null) byFullUrl.set(url, obj['id'] as string);
  }
  const named = new Set<string>();
  for (const r of resources) {
    const obj = r as unknown as Record<string, unknown>;
    if (obj['resourceType'] === 'Patient') continue;
    const id = subjectPatientId(obj);
    const ref = id === null ? subjectReference(obj) : null;
    const key = id ?? (ref === null ? null : (byFullUrl.get(ref) ?? ref));
    if (key !== null) named.add(key);
  }
  if (named.size > 1) {
    const shown = [...named].sort().slice(0, 5).map(casePatientRef);
    throw new TnpError('TNP_ERR_INPUT_MORE_THAN_ONE_PATIENT', `the resources name ${named.size} patients as their subject (${shown.join(', ')}${named.size > 5 ? ', …' : ''}): a case is one patient's`, { expression: ['subject'] });
  }
  return [...named][0] ?? null;
}

function nowOf(now: string | Instant): Instant {
  if (typeof now === 'bigint') return now;
  const p = parseInstant(now);
  if (!p.ok) throw new TnpError('TNP_ERR_BAD_ARGUMENT', `the evaluation time ${p.problem}`);
  return p.instant;
}

/** Decide for already extracted resources. */
export async function decideResources(rt: PathwayRuntime, resources: readonly Resource[], ctx: DecideContext): Promise<Decision> {
  const facts = toFacts(resources, rt.codeMaps, ctx.patientId === undefined ? casePatientId(resources) : ctx.patientId);
  try {
    return await evaluate(rt, facts, { now: nowOf(ctx.now), encounterId: ctx.encounterId ?? null });
  } catch (e) {
    // A defect of the pathway itself (load-time validation should have caught it): the registry's error.
    if (e instanceof PathwayDefect) throw new TnpError('TNP_ERR_PATHWAY_NOT_TOTAL', e.message, { cause: e });
    throw e;
  }
}

/** Decide for a FHIR document: a Bundle, a resource, or an array of resources. */
export async function decide(rt: PathwayRuntime, doc: unknown, ctx: DecideContext): Promise<Decision> {
  return decideResources(rt, extractResources(doc), ctx);
}
