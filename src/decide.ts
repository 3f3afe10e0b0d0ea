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
import { extractResources, toFacts } from './fhir/mapping.js';

export interface DecideContext {
  /** The evaluation time: an ISO 8601 instant with a time zone, or epoch nanoseconds. */
  readonly now: string | Instant;
  readonly encounterId?: string | null;
}

function nowOf(now: string | Instant): Instant {
  if (typeof now === 'bigint') return now;
  const p = parseInstant(now);
  if (!p.ok) throw new TnpError('TNP_ERR_BAD_ARGUMENT', `the evaluation time ${p.problem}`);
  return p.instant;
}

/** Decide for already extracted resources. */
export async function decideResources(rt: PathwayRuntime, resources: readonly Resource[], ctx: DecideContext): Promise<Decision> {
  const facts = toFacts(resources, rt.codeMaps);
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
