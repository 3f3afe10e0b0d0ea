/**
 * The CDS Hooks card for a decision: one card per decision, the same for the CDS service and the
 * console (which shows "the decision as the EHR would show it"). Its wording is the pathway file's
 * (`cards` section, compiled at load by src/cds/card-text.ts); this module only assembles it.
 *
 * - `summary`: one statement of the outcome, fewer than 140 characters, times in the display time zone.
 * - `indicator`: the decision's (chart2-pathway.md, section 3).
 * - `detail`: the next step, then the values and what is missing (src/cds/card-detail.ts).
 * - `extension["hs-troponin-cds"]`: the machine-readable decision of section 7 (codes, ids, UTC times).
 * - a suggestion to order the repeat hs-troponin, for the outcomes whose card text says `orderRetest`.
 * - `overrideReasons` the clinician can pick, and a signed link to the console with the de-identified
 *   case (src/cds/case-link-codec.ts).
 *
 * @see {@link https://cds-hooks.hl7.org/2.0/#card-attributes | CDS Hooks 2.0, Card attributes}
 */
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Decision } from '../engine/types.js';
import { caseLinkUrl } from './case-link-codec.js';
import { detailFor } from './card-detail.js';
import { fill } from '../engine/template.js';
import { type CardText, MAX_SUMMARY_LENGTH, cardTextOf, textFor } from './card-text.js';
import { valuesFor } from './card-values.js';
import { outcomeLabelOf, sourceUrlOf, titleOf } from './pathway-access.js';
import type { CdsCard, CdsCoding, CdsLink, CdsSuggestion, HsTroponinCardExtension } from './types.js';
import { isObject } from '../util/guards.js';

export { MAX_SUMMARY_LENGTH } from './card-text.js';
export { md } from './card-detail.js';

/** The key of the card extension (chart2-pathway.md, section 7). */
export const CARD_EXTENSION_KEY = 'hs-troponin-cds';
/** The code system of the override reasons a card offers. */
export const OVERRIDE_REASON_SYSTEM = 'http://hs-troponin-cds.example/fhir/CodeSystem/override-reason';
/** The code system of `source.topic`: the outcome codes of section 3. */
export const OUTCOME_SYSTEM = 'http://hs-troponin-cds.example/fhir/CodeSystem/outcome';
/** The console's page of the pathway's rules, under the public base URL. */
export const RULES_PATH = '/console/rules';

/** Reasons a clinician may give for not following the card (CDS Hooks: each Coding has a `display`). */
export const OVERRIDE_REASONS: readonly CdsCoding[] = [
  { system: OVERRIDE_REASON_SYSTEM, code: 'clinical-judgement', display: 'Clinical judgement: the patient is assessed differently' },
  { system: OVERRIDE_REASON_SYSTEM, code: 'data-incorrect', display: 'The results or times shown are wrong or incomplete' },
  { system: OVERRIDE_REASON_SYSTEM, code: 'not-cardiac-chest-pain', display: 'Not cardiac-sounding chest pain: the pathway does not apply' },
  { system: OVERRIDE_REASON_SYSTEM, code: 'already-actioned', display: 'Already actioned (e.g. retest already ordered or patient referred)' },
  { system: OVERRIDE_REASON_SYSTEM, code: 'senior-review-done', display: 'Senior clinician has reviewed the patient' },
];

export interface CardContext {
  /** New unique ids (UUIDs) for the card and its suggestion, when not given below. */
  readonly newId: () => string;
  readonly publicBaseUrl: string;
  /** IANA time zone for times shown to people (traces and the API stay in UTC). */
  readonly displayTimeZone: string;
  /** The audit record written for this decision; null off the CDS service (the console). */
  readonly auditId: string | null;
  /** Overrides the source label (default `hs-troponin-cds: <pathway title>`). */
  readonly sourceLabel?: string;
  /** The runtime the decision was made with: its pathway's card text, title, outcome labels, assay codes. */
  readonly runtime: PathwayRuntime;
  /** The resources the decision was made from: for the console link (de-identified) and the order's code. */
  readonly resources?: readonly unknown[];
  /** The key that signs the console link (src/cds/case-link-key.ts); without it the card has no link. */
  readonly caseLinkKey?: Uint8Array;
  /** The patient in context (the ServiceRequest's subject); never put in the link. */
  readonly patientId?: string;
  /** The encounter in context (the ServiceRequest's encounter; the case link says only same/other). */
  readonly encounterId?: string | null;
  /** The card's uuid (default `newId()`). The CDS service uses the id of the evaluation's audit record. */
  readonly cardUuid?: string;
  /** The suggestion's uuid (default `newId()`). */
  readonly suggestionUuid?: string;
}

function cut(text: string, max = MAX_SUMMARY_LENGTH): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 1).trimEnd()}…`;
}

type Values = Record<string, string | undefined>;

function valuesOf(decision: Decision, runtime: PathwayRuntime, text: CardText, displayTimeZone: string, publicBaseUrl: string): Values {
  const rulesUrl = `${publicBaseUrl.replace(/\/+$/, '')}${RULES_PATH}`;
  return valuesFor(decision, { runtime, displayTimeZone, locale: text.locale, rulesUrl, missingWords: text.missingWords });
}

function summaryOf(decision: Decision, text: CardText, values: Values): string {
  const candidates = textFor(text, decision).summaries.map((t) => fill(t, values));
  return candidates.find((s) => s.length <= MAX_SUMMARY_LENGTH) ?? cut(candidates[candidates.length - 1] ?? decision.outcome);
}

/**
 * The card summary: one statement of the outcome in the pathway file's words, fewer than 140
 * characters (a variant too long once filled in gives way to the next that holds).
 */
export function summaryFor(decision: Decision, runtime: PathwayRuntime, displayTimeZone: string): string {
  const text = cardTextOf(runtime);
  return summaryOf(decision, text, valuesOf(decision, runtime, text, displayTimeZone, ''));
}

type Json = Record<string, unknown>;

/** The coding to order the repeat test with: the baseline result's own coding for its assay, else the catalogue's. */
function retestCoding(decision: Decision, ctx: CardContext): { system: string; code: string; display?: string } | null {
  const baseline = decision.troponin.baseline;
  if (baseline === null) return null;
  const rt = ctx.runtime;
  const name = decision.assays.find((a) => a.assay === baseline.assay)?.assayName ?? rt.assays.get(baseline.assay)?.name ?? baseline.assay;
  const slash = baseline.ref.indexOf('/');
  const id = slash >= 0 ? baseline.ref.slice(slash + 1) : null;
  const resource = id === null ? undefined : ctx.resources?.find((r) => isObject(r) && r['resourceType'] === 'Observation' && r['id'] === id);
  const codings = isObject(resource) && isObject(resource['code']) && Array.isArray(resource['code']['coding']) ? (resource['code']['coding'] as unknown[]) : [];
  for (const c of codings) {
    if (!isObject(c) || typeof c['system'] !== 'string' || typeof c['code'] !== 'string') continue;
    if (rt.codeMaps.assayByCoding.get(`${c['system']}|${c['code']}`)?.assayId === baseline.assay) return { system: c['system'], code: c['code'], display: name };
  }
  const keys = [...rt.codeMaps.assayByCoding.entries()].filter(([, v]) => v.assayId === baseline.assay).map(([k]) => k);
  const preferred = keys.find((k) => k.startsWith('http://loinc.org|')) ?? keys[0];
  if (preferred === undefined) return null;
  const bar = preferred.lastIndexOf('|');
  return { system: preferred.slice(0, bar), code: preferred.slice(bar + 1), display: name };
}

/** Whether the card for this decision carries the retest-order suggestion: its outcome's card text says so, and a retest is due. */
export function suggestsRetest(decision: Decision, runtime: PathwayRuntime): boolean {
  return decision.retestDue !== undefined && textFor(cardTextOf(runtime), decision).orderRetest;
}

function retestSuggestion(decision: Decision, ctx: CardContext, text: CardText, values: Values): CdsSuggestion | null {
  const due = decision.retestDue;
  if (due === undefined || !suggestsRetest(decision, ctx.runtime)) return null;
  const coding = retestCoding(decision, ctx);
  const o = text.retestOrder;
  const test = fill(o.test, values);
  const resource: Json = {
    resourceType: 'ServiceRequest',
    status: 'draft',
    intent: 'order',
    category: [{ coding: [{ system: 'http://snomed.info/sct', code: '108252007', display: 'Laboratory procedure' }] }],
    code: coding === null ? { text: test } : { coding: [coding], text: test },
    subject: ctx.patientId === undefined ? { display: 'The patient in context' } : { reference: `Patient/${ctx.patientId}` },
    ...(ctx.encounterId === undefined || ctx.encounterId === null ? {} : { encounter: { reference: `Encounter/${ctx.encounterId}` } }),
    occurrenceDateTime: due,
    reasonCode: [{ text: fill(o.reason, values) }],
  };
  return {
    label: cut(fill(o.label, values), 80),
    uuid: ctx.suggestionUuid ?? ctx.newId(),
    isRecommended: true,
    actions: [{ type: 'create', description: fill(o.description, values), resource }],
  };
}

function consoleLink(decision: Decision, ctx: CardContext, text: CardText): CdsLink | null {
  if (ctx.resources === undefined || ctx.caseLinkKey === undefined) return null;
  const url = caseLinkUrl({ publicBaseUrl: ctx.publicBaseUrl, key: ctx.caseLinkKey, resources: ctx.resources, decision, runtime: ctx.runtime, encounterId: ctx.encounterId ?? null });
  return { label: text.labels.consoleLink, url, type: 'absolute' };
}

/** The outcome's name on the card: the card text's label, else the outcome's label in the pathway file. */
function topicDisplay(decision: Decision, runtime: PathwayRuntime, text: CardText, values: Values): string {
  const label = textFor(text, decision).label;
  return label === undefined ? outcomeLabelOf(runtime, decision.outcome) : fill(label, values);
}

/**
 * A card as its evaluation record keeps it: the whole card, without the two fields that are the record's own
 * id (its `uuid` and its extension's `auditId`), which the record's `uuidIsRecordId: true` stands for.
 */
export type RecordedCard = Omit<CdsCard, 'uuid' | 'extension'> & { readonly extension: { readonly [CARD_EXTENSION_KEY]: Omit<HsTroponinCardExtension, 'auditId'> } };

/** The card as its evaluation record keeps it ({@link RecordedCard}): `withRecordId(recordedCardOf(card), id)` is the card sent. */
export function recordedCardOf(card: CdsCard): RecordedCard {
  const { uuid: _uuid, extension, ...rest } = card;
  const { auditId: _auditId, ...kept } = extension[CARD_EXTENSION_KEY];
  return { ...rest, extension: { [CARD_EXTENSION_KEY]: kept } };
}

/**
 * The card made before its audit record was written (with `cardUuid` and `auditId` given as placeholders),
 * or the card an evaluation record keeps ({@link RecordedCard}), given the record's id: the same card, key for
 * key, as `cardsFor` with that id would make, and so the card the EHR received.
 */
export function withRecordId(card: CdsCard | RecordedCard, id: string): CdsCard {
  const extension = card.extension[CARD_EXTENSION_KEY];
  return { ...card, uuid: id, extension: { [CARD_EXTENSION_KEY]: { ...extension, auditId: id } } };
}

const assayNamesByRuntime = new WeakMap<PathwayRuntime, ReadonlyMap<string, string>>();
/** Assay id to name, made once per runtime (the catalogue does not change under it). */
function assayNamesOf(rt: PathwayRuntime): ReadonlyMap<string, string> {
  let names = assayNamesByRuntime.get(rt);
  if (names === undefined) {
    names = new Map([...rt.assays.values()].map((a) => [a.id, a.name]));
    assayNamesByRuntime.set(rt, names);
  }
  return names;
}

/**
 * The card for a decision: exactly one.
 *
 * @param decision - What the engine decided.
 * @param ctx - Ids, the public base URL (for the console links), the display time zone, the audit
 *   record id, the runtime (its pathway's card text), and what makes the card fuller (resources,
 *   patient and encounter in context, the case-link key).
 */
export function cardsFor(decision: Decision, ctx: CardContext): CdsCard[] {
  const rt = ctx.runtime;
  const text = cardTextOf(rt);
  const values = valuesOf(decision, rt, text, ctx.displayTimeZone, ctx.publicBaseUrl);
  const label = ctx.sourceLabel ?? `hs-troponin-cds: ${titleOf(rt) ?? decision.pathway.id}`;
  const sourceUrl = sourceUrlOf(rt);
  const extension: HsTroponinCardExtension = {
    outcome: decision.outcome,
    pathway: {
      id: decision.pathway.id,
      version: decision.pathway.version,
      sha256: decision.pathway.sha256,
      catalogueSha256: decision.pathway.catalogueSha256,
      settingsSha256: decision.pathway.settingsSha256,
    },
    ...(ctx.auditId === null ? {} : { auditId: ctx.auditId }),
    ...(decision.retestDue === undefined ? {} : { retestDue: decision.retestDue }),
    assays: decision.assays.map((a) => ({ result: a.result, assay: a.assay, assayName: a.assayName, source: a.source })),
    // Pathways that read the onset, catalogue cut-off tables or sex-specific thresholds (esc-0h1h-0h2h.md and high-steacs.md, section 7).
    ...(decision.onset === undefined ? {} : { onset: decision.onset }),
    ...(decision.cutoffs === undefined ? {} : { cutoffs: decision.cutoffs }),
    ...(decision.threshold === undefined ? {} : { threshold: decision.threshold }),
  };
  const uuid = ctx.cardUuid ?? ctx.newId();
  const suggestion = retestSuggestion(decision, ctx, text, values);
  const link = consoleLink(decision, ctx, text);
  const assayNames = assayNamesOf(rt);
  const card: CdsCard = {
    uuid,
    summary: summaryOf(decision, text, values),
    indicator: decision.indicator,
    detail: detailFor(decision, { text, values, displayTimeZone: ctx.displayTimeZone, assayNames }),
    source: {
      label,
      ...(sourceUrl === undefined ? {} : { url: sourceUrl }),
      topic: { system: OUTCOME_SYSTEM, code: decision.outcome, display: topicDisplay(decision, rt, text, values) },
    },
    ...(suggestion === null ? {} : { suggestions: [suggestion], selectionBehavior: 'at-most-one' as const }),
    overrideReasons: OVERRIDE_REASONS,
    ...(link === null ? {} : { links: [link] }),
    extension: { [CARD_EXTENSION_KEY]: extension },
  };
  return [card];
}
