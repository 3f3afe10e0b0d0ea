/**
 * The CDS Hooks card for a decision: one card per decision, the same for the CDS service and the
 * console (which shows "the decision as the EHR would show it").
 *
 * - `summary`: the recommendation in plain words, fewer than 140 characters; a retest time is shown in
 *   the site's display time zone ("Retest hs-troponin due 12:05 (Europe/London)").
 * - `indicator`: the decision's (chart2-pathway.md, section 3).
 * - `detail`: GitHub-Flavored Markdown with the values, draw times, the URL used, the change, the branch
 *   taken, what is missing and what could not be interpreted. Text that comes from the data is escaped.
 * - `extension["hs-troponin-cds"]`: the machine-readable decision of section 7.
 * - `awaiting-retest`: a suggestion to order the repeat hs-troponin at the due time.
 * - `overrideReasons` the clinician can pick, and a signed link to the console with the de-identified
 *   case (src/cds/case-link-codec.ts).
 *
 * @see {@link https://cds-hooks.hl7.org/2.0/#card-attributes | CDS Hooks 2.0, Card attributes}
 */
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Decision, OutcomeCode } from '../engine/types.js';
import { caseLinkUrl } from './case-link-codec.js';
import { detailFor } from './card-detail.js';
import type { CdsCard, CdsCoding, CdsLink, CdsSuggestion, HsTroponinCardExtension } from './types.js';

/** The key of the card extension (chart2-pathway.md, section 7). */
export const CARD_EXTENSION_KEY = 'hs-troponin-cds';
/** The code system of the override reasons a card offers. */
export const OVERRIDE_REASON_SYSTEM = 'http://hs-troponin-cds.example/fhir/CodeSystem/override-reason';
/** The code system of `source.topic`: the outcome codes of section 3. */
export const OUTCOME_SYSTEM = 'http://hs-troponin-cds.example/fhir/CodeSystem/outcome';
/** CDS Hooks: the summary is "<140 characters". */
export const MAX_SUMMARY_LENGTH = 139;

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
  /** The runtime the decision was made with: pathway title, outcome labels, chart branches, assay codes. */
  readonly runtime?: PathwayRuntime;
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

const formatters = new Map<string, { time: Intl.DateTimeFormat; day: Intl.DateTimeFormat; full: Intl.DateTimeFormat }>();

function formattersFor(timeZone: string): { time: Intl.DateTimeFormat; day: Intl.DateTimeFormat; full: Intl.DateTimeFormat } {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = {
      time: new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
      day: new Intl.DateTimeFormat('en-GB', { timeZone, day: 'numeric', month: 'short' }),
      full: new Intl.DateTimeFormat('en-GB', { timeZone, day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
    };
    formatters.set(timeZone, f);
  }
  return f;
}

/** "12:05", or "15 Mar 00:30" when the day differs from the evaluation's, in the display time zone. */
export function shortLocalTime(iso: string, evaluatedAt: string, timeZone: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const f = formattersFor(timeZone);
  const e = new Date(evaluatedAt);
  const sameDay = !Number.isNaN(e.getTime()) && f.day.format(t) === f.day.format(e);
  return sameDay ? f.time.format(t) : `${f.day.format(t)} ${f.time.format(t)}`;
}

/** "14 Mar 2026, 12:05" in the display time zone. */
export function fullLocalTime(iso: string, timeZone: string): string {
  const t = new Date(iso);
  return Number.isNaN(t.getTime()) ? iso : formattersFor(timeZone).full.format(t);
}

/** Escapes text that comes from the data (or the EHR) so it cannot become Markdown or HTML. */
export function md(text: string): string {
  return text.replace(/[\\`*_[\]|<>~&]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : `\\${c}`)).replace(/[\r\n]+/g, ' ');
}

function cut(text: string, max = MAX_SUMMARY_LENGTH): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 1).trimEnd()}…`;
}

/** The card summary: the recommendation in plain words, fewer than 140 characters. */
export function summaryFor(decision: Decision, displayTimeZone: string): string {
  const due = decision.retestDue;
  const when = due === undefined ? null : `${shortLocalTime(due, decision.evaluatedAt, displayTimeZone)} (${displayTimeZone})`;
  if (decision.outcome === 'awaiting-retest' && when !== null) {
    return cut(decision.retestOverdue === true ? `Retest hs-troponin now: it was due ${when}` : `Retest hs-troponin due ${when}`);
  }
  const base = decision.summary;
  if (when !== null && (decision.outcome === 'indeterminate' || decision.outcome === 'needs-input')) {
    const withRetest = `${base.replace(/\.$/, '')}. Retest hs-troponin ${decision.retestOverdue === true ? 'was due' : 'due'} ${when}.`;
    if (withRetest.length <= MAX_SUMMARY_LENGTH) return withRetest;
  }
  return cut(base);
}

export function outcomeLabel(outcome: OutcomeCode, runtime: PathwayRuntime | undefined): string {
  return runtime?.pathway.file.outcomes[outcome]?.label ?? outcome;
}

function assayName(assayId: string, decision: Decision): string {
  return decision.assays.find((a) => a.assay === assayId)?.assayName ?? assayId;
}

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The coding to order the repeat test with: the baseline result's own coding for its assay, else the catalogue's. */
function retestCoding(decision: Decision, ctx: CardContext): { system: string; code: string; display?: string } | null {
  const baseline = decision.troponin.baseline;
  if (baseline === null) return null;
  const rt = ctx.runtime;
  const name = assayName(baseline.assay, decision);
  const slash = baseline.ref.indexOf('/');
  const id = slash >= 0 ? baseline.ref.slice(slash + 1) : null;
  const resource = id === null ? undefined : ctx.resources?.find((r) => isObject(r) && r['resourceType'] === 'Observation' && r['id'] === id);
  const codings = isObject(resource) && isObject(resource['code']) && Array.isArray(resource['code']['coding']) ? (resource['code']['coding'] as unknown[]) : [];
  for (const c of codings) {
    if (!isObject(c) || typeof c['system'] !== 'string' || typeof c['code'] !== 'string') continue;
    if (rt === undefined || rt.codeMaps.assayByCoding.get(`${c['system']}|${c['code']}`)?.assayId === baseline.assay) {
      return { system: c['system'], code: c['code'], display: name };
    }
  }
  if (rt !== undefined) {
    const keys = [...rt.codeMaps.assayByCoding.entries()].filter(([, v]) => v.assayId === baseline.assay).map(([k]) => k);
    const preferred = keys.find((k) => k.startsWith('http://loinc.org|')) ?? keys[0];
    if (preferred !== undefined) {
      const bar = preferred.lastIndexOf('|');
      return { system: preferred.slice(0, bar), code: preferred.slice(bar + 1), display: name };
    }
  }
  return null;
}

/** Whether the card for this decision carries the retest-order suggestion (awaiting-retest with a due time). */
export function suggestsRetest(decision: Decision): boolean {
  return decision.outcome === 'awaiting-retest' && decision.retestDue !== undefined;
}

function retestSuggestion(decision: Decision, ctx: CardContext): CdsSuggestion | null {
  const due = decision.retestDue;
  if (!suggestsRetest(decision) || due === undefined) return null;
  const coding = retestCoding(decision, ctx);
  const when = `${shortLocalTime(due, decision.evaluatedAt, ctx.displayTimeZone)} (${ctx.displayTimeZone})`;
  const resource: Json = {
    resourceType: 'ServiceRequest',
    status: 'draft',
    intent: 'order',
    category: [{ coding: [{ system: 'http://snomed.info/sct', code: '108252007', display: 'Laboratory procedure' }] }],
    code: coding === null ? { text: 'High-sensitivity troponin (repeat at 3 hours)' } : { coding: [coding], text: 'High-sensitivity troponin (repeat at 3 hours)' },
    subject: ctx.patientId === undefined ? { display: 'The patient in context' } : { reference: `Patient/${ctx.patientId}` },
    ...(ctx.encounterId === undefined || ctx.encounterId === null ? {} : { encounter: { reference: `Encounter/${ctx.encounterId}` } }),
    occurrenceDateTime: due,
    reasonCode: [{ text: 'Chart 2 chest pain pathway: repeat high-sensitivity troponin 3 hours after the baseline' }],
  };
  return {
    label: cut(`Order repeat hs-troponin for ${when}`, 80),
    uuid: ctx.suggestionUuid ?? ctx.newId(),
    isRecommended: true,
    actions: [{ type: 'create', description: `Order a repeat high-sensitivity troponin (same assay as the baseline) for ${when}.`, resource }],
  };
}

function consoleLink(decision: Decision, ctx: CardContext): CdsLink | null {
  if (ctx.runtime === undefined || ctx.resources === undefined || ctx.caseLinkKey === undefined) return null;
  const url = caseLinkUrl({ publicBaseUrl: ctx.publicBaseUrl, key: ctx.caseLinkKey, resources: ctx.resources, decision, runtime: ctx.runtime, encounterId: ctx.encounterId ?? null });
  return { label: 'Open this evaluation in the pathway console (de-identified)', url, type: 'absolute' };
}

/**
 * The card for a decision: exactly one.
 *
 * @param decision - What the engine decided.
 * @param ctx - Ids, the public base URL (for the console link), the display time zone, the audit
 *   record id, and what makes the card fuller (runtime, resources, patient and encounter in context).
 */
export function cardsFor(decision: Decision, ctx: CardContext): CdsCard[] {
  const rt = ctx.runtime;
  const title = rt?.pathway.file.title;
  const label = ctx.sourceLabel ?? `hs-troponin-cds: ${title ?? decision.pathway.id}`;
  const sourceUrl = rt?.pathway.file.evidence.find((e) => e.url !== undefined)?.url;
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
  };
  const uuid = ctx.cardUuid ?? ctx.newId();
  const suggestion = retestSuggestion(decision, ctx);
  const link = consoleLink(decision, ctx);
  const card: CdsCard = {
    uuid,
    summary: summaryFor(decision, ctx.displayTimeZone),
    indicator: decision.indicator,
    detail: detailFor(decision, ctx),
    source: {
      label,
      ...(sourceUrl === undefined ? {} : { url: sourceUrl }),
      topic: { system: OUTCOME_SYSTEM, code: decision.outcome, display: outcomeLabel(decision.outcome, rt) },
    },
    ...(suggestion === null ? {} : { suggestions: [suggestion], selectionBehavior: 'at-most-one' as const }),
    overrideReasons: OVERRIDE_REASONS,
    ...(link === null ? {} : { links: [link] }),
    extension: { [CARD_EXTENSION_KEY]: extension },
  };
  return [card];
}
