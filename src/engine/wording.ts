/**
 * The words of a decision that the pathway file gives and its settings or the decision complete. Pure;
 * the templates are template.ts's (the card text uses the same).
 *
 * - At load, `withSettingsText`: the file's labels and texts (title, description, outcome labels and
 *   advice, node and edge labels and silences, classification texts) with the settings' placeholders
 *   filled in, so a changed retest interval or change threshold changes every label that states it.
 * - At load, `compileWording`: each outcome's variants compiled (`outcomes.<code>.variants`).
 * - Per decision, `outcomeWords`: the outcome's indicator and summary, each from the first variant whose
 *   `when` holds and gives it (else the outcome's `indicator` and `advice`), the summary filled with the
 *   retest due time and what is missing; `missingName`: the pathway's name of a missing item.
 */
import { PathwayDefect } from './defect.js';
import type { OutcomeVariant, PathwayFile, WordingCondition } from './pathway-file.js';
import { type CardTemplate, compileTemplate, fill } from './template.js';
import type { Indicator, MissingItem, OutcomeCode } from './types.js';

/** The settings' placeholders a file can fill, with their values (the retest interval in hours, in minutes, and as "N h" or "N min"; the change threshold). */
export function settingValues(file: PathwayFile): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  const m = file.settings.retestIntervalMinutes;
  if (m !== undefined) {
    out['retestIntervalMinutes'] = String(m);
    out['retestIntervalHours'] = String(Math.round((m / 60) * 100) / 100);
    out['retestInterval'] = m % 60 === 0 ? `${m / 60} h` : `${m} min`;
  }
  if (file.settings.changeThresholdPercent !== undefined) out['changeThreshold'] = file.settings.changeThresholdPercent;
  return out;
}

/** The file with the settings' placeholders of its labels and texts filled in; a bad placeholder throws TemplateProblem naming the field. */
export function withSettingsText(file: PathwayFile): PathwayFile {
  const values = settingValues(file);
  const allowed = new Set(Object.keys(values));
  const t = (text: string, field: string): string => fill(compileTemplate(text, allowed, field), values);
  const silent = (x: { readonly silent?: string }, field: string): { silent?: string } => (x.silent === undefined ? {} : { silent: t(x.silent, `${field}.silent`) });
  const c = file.classification;
  return {
    ...file,
    title: t(file.title, 'title'),
    description: t(file.description, 'description'),
    settings: { ...file.settings, maxTroponinResultsText: t(file.settings.maxTroponinResultsText, 'settings.maxTroponinResultsText') },
    outcomes: Object.fromEntries(
      Object.entries(file.outcomes).flatMap(([code, o]) => (o === undefined ? [] : [[code, { ...o, label: t(o.label, `outcomes.${code}.label`), advice: t(o.advice, `outcomes.${code}.advice`) }]])),
    ),
    graph: {
      ...file.graph,
      nodes: file.graph.nodes.map((n, i) => ({ ...n, label: t(n.label, `graph.nodes[${i}].label`), ...silent(n, `graph.nodes[${i}]`) })),
      edges: file.graph.edges.map((e, i) => ({ ...e, label: t(e.label, `graph.edges[${i}].label`), ...silent(e, `graph.edges[${i}]`) })),
    },
    assembly: { ...file.assembly, independentReadings: file.assembly.independentReadings.map((r, i) => ({ ...r, text: t(r.text, `assembly.independentReadings[${i}].text`) })) },
    ...(c === undefined
      ? {}
      : {
          classification: {
            ...c,
            description: t(c.description, 'classification.description'),
            rules: c.rules.map((r, i) => ({ ...r, text: t(r.text, `classification.rules[${i}].text`) })),
            otherwise: { ...c.otherwise, text: t(c.otherwise.text, 'classification.otherwise.text') },
          },
        }),
  };
}

type Conditions = Readonly<Record<WordingCondition, boolean>>;

interface CompiledVariant {
  readonly when: OutcomeVariant['when'];
  readonly indicator?: Indicator;
  readonly summary?: CardTemplate;
}

export interface Wording {
  readonly values: Readonly<Record<string, string>>;
  readonly outcomes: ReadonlyMap<OutcomeCode, { readonly indicator: Indicator; readonly advice: string; readonly variants: readonly CompiledVariant[] }>;
  readonly missing: ReadonlyMap<MissingItem, string>;
}

/** The placeholders a variant's summary may use: the settings', and the decision's that its `when` guarantees. */
function allowedUnder(when: OutcomeVariant['when'], values: Readonly<Record<string, string>>): ReadonlySet<string> {
  const out = new Set(Object.keys(values));
  if (when.retestDue === true || when.retestOverdue === true) out.add('retestDue');
  if (when.missing === true) out.add('missing');
  return out;
}

/** Compile the outcomes' variants of a file whose settings text is filled in (withSettingsText). */
export function compileWording(file: PathwayFile): Wording {
  const values = settingValues(file);
  const outcomes = new Map<OutcomeCode, { indicator: Indicator; advice: string; variants: CompiledVariant[] }>();
  for (const [code, o] of Object.entries(file.outcomes)) {
    if (o === undefined) continue;
    const variants = (o.variants ?? []).map((v, i): CompiledVariant => {
      const field = `outcomes.${code}.variants[${i}]`;
      return {
        when: v.when,
        ...(v.indicator === undefined ? {} : { indicator: v.indicator }),
        ...(v.summary === undefined ? {} : { summary: compileTemplate(v.summary, allowedUnder(v.when, values), `${field}.summary`) }),
      };
    });
    outcomes.set(code as OutcomeCode, { indicator: o.indicator, advice: o.advice, variants });
  }
  const missing = new Map<MissingItem, string>();
  for (const [item, name] of Object.entries(file.missingItems)) if (name !== undefined) missing.set(item as MissingItem, name);
  return { values, outcomes, missing };
}

/** The pathway's name of a missing item (checked at load for every item its graph can find missing). */
export function missingName(w: Wording, item: MissingItem): string {
  const name = w.missing.get(item);
  if (name === undefined) throw new PathwayDefect(`the pathway has no name for the missing item "${item}"`);
  return name;
}

/** What the decision's wording depends on. */
export interface WordingFacts {
  /** The retest due time, as the decision states it (UTC), when there is one. */
  readonly retestDue: string | undefined;
  readonly retestOverdue: boolean;
  readonly missing: readonly MissingItem[];
  readonly baselineAboveLimit: boolean;
}

/** The outcome's indicator and summary for this decision. */
export function outcomeWords(w: Wording, outcome: OutcomeCode, f: WordingFacts): { readonly indicator: Indicator; readonly summary: string } {
  const o = w.outcomes.get(outcome);
  if (o === undefined) throw new PathwayDefect(`the pathway gave "${outcome}", which it has no text for`);
  const c: Conditions = { retestDue: f.retestDue !== undefined, retestOverdue: f.retestDue !== undefined && f.retestOverdue, missing: f.missing.length > 0, baselineAboveLimit: f.baselineAboveLimit };
  const holding = o.variants.filter((v) => Object.entries(v.when).every(([k, want]) => c[k as WordingCondition] === want));
  const indicator = holding.find((v) => v.indicator !== undefined)?.indicator ?? o.indicator;
  const template = holding.find((v) => v.summary !== undefined)?.summary;
  if (template === undefined) return { indicator, summary: o.advice };
  const values: Record<string, string | undefined> = { ...w.values, retestDue: f.retestDue, missing: f.missing.map((m) => missingName(w, m)).join(', ') };
  return { indicator, summary: fill(template, values) };
}
