/**
 * Rule 16 for people: the troponin results of an episode summarised (counts, first, last, highest),
 * and the trace step and reason that say the episode has more results than the pathway can weigh.
 * Also the bounded list of assays assumed (section 7: one entry per result, summarised past the bound).
 */
import { LIST_BOUND, count } from './bounds.js';
import { type SummaryInput, describeResult, firstLastHighest } from './episode-size.js';
import type { CompiledPathway } from './pathway.js';
import type { AssayAssumption, TraceStep, TroponinSummary } from './types.js';

interface SummaryContext {
  readonly p: CompiledPathway;
  step(s: TraceStep): void;
  reason(text: string): void;
}

export function summariseEpisode(
  ctx: SummaryContext,
  n: { readonly results: number; readonly usable: readonly SummaryInput[]; readonly uninterpretable: number; readonly duplicates: number },
): TroponinSummary {
  const max = ctx.p.file.settings.maxTroponinResults;
  const overMax = n.results > max;
  const { first, last, highest } = firstLastHighest(n.usable);
  const summary: TroponinSummary = { results: n.results, max, overMax, usable: n.usable.length, uninterpretable: n.uninterpretable, duplicates: n.duplicates, first, last, highest };
  if (overMax) {
    const notice = ctx.p.file.settings.maxTroponinResultsText.replace(/\.$/, '');
    const text = `${count(n.results)} troponin results in the episode, more than the ${max} the pathway weighs: ${notice} (rule 16). Usable ${count(n.usable.length)}, uninterpretable ${count(n.uninterpretable)}${n.duplicates > 0 ? `, exact duplicates counted once ${count(n.duplicates)}` : ''}; first ${describeResult(first)}; last ${describeResult(last)}; highest ${describeResult(highest)}. At least indeterminate.`;
    ctx.step({
      rule: '16',
      text,
      facts: { results: n.results, maxTroponinResults: max, usable: n.usable.length, uninterpretable: n.uninterpretable, duplicates: n.duplicates, first: first?.ref ?? null, last: last?.ref ?? null, highest: highest?.ref ?? null },
      result: 'indeterminate',
    });
    ctx.reason(text);
  }
  return summary;
}

/** The assays assumed: the first {@link LIST_BOUND} results one by one, the rest counted per (assay, source). */
export function boundedAssumptions(all: readonly AssayAssumption[]): AssayAssumption[] {
  if (all.length <= LIST_BOUND) return [...all];
  const out = all.slice(0, LIST_BOUND);
  const rest = new Map<string, AssayAssumption & { count: number }>();
  for (const a of all.slice(LIST_BOUND)) {
    const key = `${a.assay}|${a.source}`;
    const r = rest.get(key);
    if (r === undefined) rest.set(key, { result: '', assay: a.assay, assayName: a.assayName, source: a.source, count: 1 });
    else r.count += 1;
  }
  for (const r of rest.values()) out.push({ ...r, result: `${count(r.count)} more results` });
  return out;
}
