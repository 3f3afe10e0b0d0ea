/**
 * `POST /console/api/evaluate`: a Bundle, resources or a card's case link in, the decision and the card
 * out, through the same code path as the CDS service (decide, then cardsFor). Nothing is stored.
 *
 * Bounds (the console API is public): at most MAX_RESOURCES resources per request (413), on top of the
 * route's body limit; a case link is at most 8,192 characters and 199 observations
 * (src/cds/case-link-codec.ts). A case link's signature is checked here, with the key that never leaves
 * the service, and the answer says whether it verified (`caseLink`).
 *
 * The console's cards carry no link to the console: only the CDS service signs links, for the cases it
 * evaluated from an EHR's data, so a link made from a pasted case can never pass as one from a card.
 */
import { randomUUID } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import { cardsFor } from '../cds/cards.js';
import { caseToResources } from '../cds/case-resources.js';
import { readCaseParam } from '../cds/case-link-codec.js';
import { decideResources } from '../decide.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Decision } from '../engine/types.js';
import { TnpError, isTnpError } from '../errors.js';
import { extractResources } from '../fhir/mapping.js';
import { loadCatalogue, runtimeFrom } from '../pathways/load.js';
import type { Settings } from '../settings.js';
import { annotate } from './annotations.js';
import type { EvaluateBody } from './schemas.js';
import type { CaseLinkView, EvaluateResponse, SettingsUsed } from './web/api-types.js';

/** Most resources one console request may hold (a long episode is a few dozen; a full prefetch page is 100). */
export const MAX_RESOURCES = 200;

export interface ConsoleEvaluator {
  /** The site's runtime, or one with the request's sexSpecificUrls (fixtures carry that setting). */
  runtimeFor(sexSpecificUrls: boolean | undefined): { rt: PathwayRuntime; used: SettingsUsed };
  /** The answer for a decision: the card exactly as the CDS service builds it, less the audit id and the link. */
  respond(decision: Decision, rt: PathwayRuntime, used: SettingsUsed, resources: readonly unknown[], now: string, encounter: string | null, caseLink?: CaseLinkView): EvaluateResponse;
  evaluate(body: EvaluateBody): Promise<EvaluateResponse>;
}

function bounded(resources: Resource[]): Resource[] {
  if (resources.length > MAX_RESOURCES) {
    throw new TnpError('TNP_ERR_CONSOLE_TOO_LARGE', `the request holds ${resources.length} resources; the console takes at most ${MAX_RESOURCES} per request`);
  }
  return resources;
}

export function consoleEvaluator(opts: { runtime: PathwayRuntime; settings: Settings; caseLinkKey: Uint8Array; now: () => Date }): ConsoleEvaluator {
  const { runtime, settings } = opts;
  const overrideRuntimes = new Map<boolean, PathwayRuntime>();
  const file = runtime.pathway.file;

  const runtimeFor: ConsoleEvaluator['runtimeFor'] = (sexSpecificUrls) => {
    if (sexSpecificUrls === undefined || sexSpecificUrls === runtime.sexSpecificUrls) {
      return { rt: runtime, used: { sexSpecificUrls: runtime.sexSpecificUrls, source: 'site' } };
    }
    let rt = overrideRuntimes.get(sexSpecificUrls);
    if (rt === undefined) {
      rt = runtimeFrom(runtime.pathway, loadCatalogue(), { ...settings, sexSpecificUrls });
      overrideRuntimes.set(sexSpecificUrls, rt);
    }
    return { rt, used: { sexSpecificUrls, source: 'request' } };
  };

  const respond: ConsoleEvaluator['respond'] = (decision, rt, used, resources, now, encounter, caseLink) => ({
    decision,
    cards: cardsFor(decision, {
      newId: randomUUID,
      publicBaseUrl: settings.publicBaseUrl,
      displayTimeZone: settings.displayTimeZone,
      auditId: null,
      runtime: rt,
      resources,
      encounterId: encounter,
    }),
    annotations: annotate(decision, file),
    settings: used,
    resources,
    now,
    encounter,
    ...(caseLink === undefined ? {} : { caseLink }),
  });

  const evaluate: ConsoleEvaluator['evaluate'] = async (body) => {
    const { rt, used } = runtimeFor(body.settings?.sexSpecificUrls);
    if (body.case !== undefined) {
      let read;
      try {
        read = readCaseParam(body.case, opts.caseLinkKey);
      } catch (e) {
        throw isTnpError(e) ? new TnpError('TNP_ERR_CONSOLE_CASE_LINK_INVALID', e.message, { expression: ['case'], cause: e }) : e;
      }
      const c = caseToResources(read.case);
      const now = body.now ?? c.now;
      const encounter = body.encounter ?? c.encounterId;
      // A case link may hold no observation at all (nothing recorded yet): that is a case, not an empty input.
      const decision = await decideResources(rt, bounded(c.resources), { now, encounterId: encounter });
      const caseLink: CaseLinkView = {
        verified: read.verified,
        problem: read.problem,
        cardOutcome: read.case.outcome ?? null,
        summary: read.case.summary ?? null,
      };
      return respond(decision, rt, used, c.resources, decision.evaluatedAt, encounter, caseLink);
    }
    const resources = bounded(extractResources(body.bundle ?? body.resources));
    const encounter = body.encounter ?? null;
    const decision = await decideResources(rt, resources, { now: body.now ?? opts.now().toISOString(), encounterId: encounter });
    return respond(decision, rt, used, resources, decision.evaluatedAt, encounter);
  };

  return { runtimeFor, respond, evaluate };
}
