/**
 * A pathway file's `cards` section, compiled once per pathway at load: every template parsed, every
 * placeholder checked against what the decision provides where the template is used, every outcome the
 * pathway can reach given card text, every item it can find missing given words. Nothing here knows a
 * pathway's outcomes or wording: they are all data.
 *
 * Compiled text is kept per compiled pathway (a WeakMap), made at load by src/pathways/load.ts and, for
 * a pathway compiled elsewhere, on first use.
 */
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { LaterResultSummary } from '../engine/types.js';
import { type CardTemplate, TemplateProblem, compileTemplate } from '../engine/template.js';
import { type When, allowedUnder, conditionsOf, holds } from './card-values.js';
import { cardsSectionOf, missingItemsOf, pathwayIdOf, reachableOutcomesOf } from './pathway-access.js';
import type { Decision } from '../engine/types.js';
import { isObject } from '../util/guards.js';

/** CDS Hooks: the summary is "<140 characters". */
export const MAX_SUMMARY_LENGTH = 139;

const FIELDS = ['summary', 'nextStep', 'caveat', 'safetyNet'] as const;
type Field = (typeof FIELDS)[number];
export type OutcomeText = Readonly<Partial<Record<Field, CardTemplate>>>;

interface CompiledOutcome {
  /** The outcome's name on the card, when the card text gives one. */
  readonly label?: CardTemplate;
  readonly base: OutcomeText;
  readonly variants: readonly { readonly when: When; readonly text: OutcomeText }[];
  readonly orderRetest: boolean;
}

/** Roles of a result row: the baseline, the engine's roles of later results, and the rule-16 summary rows. */
export type RowRole = 'baseline' | LaterResultSummary['role'] | 'first' | 'last' | 'highest';
const ROLES: readonly RowRole[] = ['baseline', 'retest', 'early', 'other-assay', 'first', 'last', 'highest'];

export interface CardText {
  readonly locale: string;
  readonly missingWords: ReadonlyMap<string, string>;
  readonly outcomes: ReadonlyMap<string, CompiledOutcome>;
  readonly retestOrder: Readonly<Record<'label' | 'description' | 'test' | 'reason', CardTemplate>>;
  readonly labels: Readonly<Record<'nextStep' | 'caveat' | 'safetyNet' | 'missing' | 'uninterpretable' | 'consoleLink', string>>;
  readonly roles: Readonly<Record<RowRole, string>>;
  readonly resultsColumns: readonly CardTemplate[];
  readonly afterBaseline: CardTemplate;
  readonly reportedAs: CardTemplate;
  readonly assay: CardTemplate;
  readonly overMax: CardTemplate;
  readonly notUsed: CardTemplate;
  readonly more: CardTemplate;
  readonly assayAssumed: CardTemplate;
  readonly evidence: CardTemplate;
}

type Json = Record<string, unknown>;

function objectAt(parent: Json, key: string, field: string): Json {
  const v = parent[key];
  if (!isObject(v)) throw new TemplateProblem(`"${key}" is missing or not an object`, `${field}.${key}`);
  return v;
}

function stringAt(parent: Json, key: string, field: string): string {
  const v = parent[key];
  if (typeof v !== 'string' || v === '') throw new TemplateProblem(`"${key}" is missing or not text`, `${field}.${key}`);
  return v;
}

/** A label: text with no placeholders. */
function label(parent: Json, key: string, field: string): string {
  return compileTemplate(stringAt(parent, key, field), new Set(), `${field}.${key}`).texts[0] ?? '';
}

function outcomeText(o: Json, when: When, file: unknown, field: string): OutcomeText {
  const out: Partial<Record<Field, CardTemplate>> = {};
  for (const k of FIELDS) {
    if (o[k] === undefined) continue;
    // A summary is plain text: it holds no link.
    const allowed = new Set(allowedUnder(when, file));
    if (k === 'summary') allowed.delete('rulesUrl');
    const t = compileTemplate(stringAt(o, k, field), allowed, `${field}.${k}`);
    if (k === 'summary' && t.texts.join('').length > MAX_SUMMARY_LENGTH) {
      throw new TemplateProblem(`the summary is longer than ${MAX_SUMMARY_LENGTH} characters before its placeholders are filled in`, `${field}.${k}`);
    }
    out[k] = t;
  }
  return out;
}

function compileOutcome(o: Json, file: unknown, field: string): CompiledOutcome {
  const base = outcomeText(o, {}, file, field);
  if (base.summary === undefined || base.nextStep === undefined) throw new TemplateProblem('an outcome needs "summary" and "nextStep"', field);
  const raw = o['variants'] === undefined ? [] : o['variants'];
  if (!Array.isArray(raw)) throw new TemplateProblem('"variants" is not a list', `${field}.variants`);
  const variants = raw.map((v: unknown, i) => {
    const vf = `${field}.variants[${i}]`;
    if (!isObject(v) || !isObject(v['when'])) throw new TemplateProblem('a variant needs "when"', vf);
    const when = v['when'] as When;
    return { when, text: outcomeText(v, when, file, vf) };
  });
  const label = o['label'] === undefined ? undefined : compileTemplate(stringAt(o, 'label', field), allowedUnder({}, file), `${field}.label`);
  return { ...(label === undefined ? {} : { label }), base, variants, orderRetest: o['orderRetest'] === true };
}

/**
 * Compile and check a pathway file's `cards` section.
 *
 * @throws TemplateProblem naming the field: no section, an outcome the pathway can reach with no text,
 *   text for an outcome it cannot reach, an item it can find missing with no words, a bad template.
 */
export function compileCardText(file: unknown): CardText {
  const section = cardsSectionOf(file);
  if (!isObject(section)) throw new TemplateProblem(`pathway "${pathwayIdOf(file)}" has no "cards" section: every outcome it can reach needs card text`, 'cards');
  const f = 'cards';
  const outcomesJson = objectAt(section, 'outcomes', f);
  const reachable = reachableOutcomesOf(file);
  for (const code of reachable) {
    if (!isObject(outcomesJson[code])) throw new TemplateProblem(`outcome "${code}" can be reached but has no card text`, `${f}.outcomes.${code}`);
  }
  const outcomes = new Map<string, CompiledOutcome>();
  for (const [code, o] of Object.entries(outcomesJson)) {
    if (!reachable.includes(code)) throw new TemplateProblem(`"${code}" is not an outcome of this pathway (its outcomes: ${reachable.join(', ')})`, `${f}.outcomes.${code}`);
    if (!isObject(o)) throw new TemplateProblem('not an object', `${f}.outcomes.${code}`);
    outcomes.set(code, compileOutcome(o, file, `${f}.outcomes.${code}`));
  }
  const missingJson = objectAt(section, 'missingItems', f);
  const missingWords = new Map<string, string>();
  for (const item of missingItemsOf(file)) missingWords.set(item, label(missingJson, item, `${f}.missingItems`));

  const order = objectAt(section, 'retestOrder', f);
  const due = allowedUnder({ retestDue: true }, file);
  const orderT = (k: 'label' | 'description' | 'test' | 'reason'): CardTemplate => compileTemplate(stringAt(order, k, `${f}.retestOrder`), due, `${f}.retestOrder.${k}`);

  const text = objectAt(section, 'text', f);
  const tf = `${f}.text`;
  const t = (k: string, when: When, extra: readonly string[] = []): CardTemplate => compileTemplate(stringAt(text, k, tf), allowedUnder(when, file, extra), `${tf}.${k}`);
  const rolesJson = objectAt(text, 'roles', tf);
  const columns = text['resultsColumns'];
  if (!Array.isArray(columns) || columns.length !== 3) throw new TemplateProblem('"resultsColumns" needs three column headings', `${tf}.resultsColumns`);
  return {
    locale: stringAt(section, 'locale', f),
    missingWords,
    outcomes,
    retestOrder: { label: orderT('label'), description: orderT('description'), test: orderT('test'), reason: orderT('reason') },
    labels: {
      nextStep: label(text, 'nextStep', tf),
      caveat: label(text, 'caveat', tf),
      safetyNet: label(text, 'safetyNet', tf),
      missing: label(text, 'missing', tf),
      uninterpretable: label(text, 'uninterpretable', tf),
      consoleLink: label(text, 'consoleLink', tf),
    },
    roles: Object.fromEntries(ROLES.map((r) => [r, label(rolesJson, r, `${tf}.roles`)])) as Record<RowRole, string>,
    resultsColumns: columns.map((c: unknown, i) => compileTemplate(typeof c === 'string' ? c : '', allowedUnder({}, file), `${tf}.resultsColumns[${i}]`)),
    afterBaseline: t('afterBaseline', {}, ['minutes']),
    reportedAs: t('reportedAs', {}, ['reported']),
    assay: t('assay', { baseline: true }),
    overMax: t('overMax', { overMax: true }),
    notUsed: t('notUsed', {}, ['count']),
    more: t('more', {}, ['count']),
    assayAssumed: t('assayAssumed', {}, ['assays']),
    evidence: t('evidence', {}),
  };
}

const compiled = new WeakMap<object, CardText>();

/** Compile a pathway's card text and keep it with the pathway (at load; throws TemplateProblem). */
export function prepareCardText(pathway: { readonly file: unknown }): CardText {
  let c = compiled.get(pathway);
  if (c === undefined) {
    c = compileCardText(pathway.file);
    compiled.set(pathway, c);
  }
  return c;
}

/** The compiled card text of the runtime's pathway. */
export function cardTextOf(runtime: PathwayRuntime): CardText {
  return prepareCardText(runtime.pathway);
}

/** The outcome's text for a decision: the base, with each field from the first variant that holds and gives it. */
export function textFor(
  text: CardText,
  decision: Decision,
): { readonly label: CardTemplate | undefined; readonly fields: OutcomeText; readonly summaries: readonly CardTemplate[]; readonly orderRetest: boolean } {
  const o = text.outcomes.get(decision.outcome);
  if (o === undefined) throw new Error(`no card text for outcome ${decision.outcome}`);
  const c = conditionsOf(decision);
  const matching = o.variants.filter((v) => holds(v.when, c)).map((v) => v.text);
  const fields: Partial<Record<Field, CardTemplate>> = { ...o.base };
  for (const k of FIELDS) {
    const v = matching.find((m) => m[k] !== undefined)?.[k];
    if (v !== undefined) fields[k] = v;
  }
  const summaries = [...matching.flatMap((m) => (m.summary === undefined ? [] : [m.summary])), o.base.summary].filter((s): s is CardTemplate => s !== undefined);
  return { label: o.label, fields, summaries, orderRetest: o.orderRetest };
}
