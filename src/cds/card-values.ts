/**
 * The placeholders a card template may use, what each needs from the decision, and their values for
 * one decision. The vocabulary is generic (any troponin pathway): times, the retest interval, the change
 * threshold, the assay and its URL, the baseline and retest values, what is missing, the rule-16 counts.
 * Times are local (the site's display time zone); numbers are formatted in the pathway's card locale.
 */
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Decision } from '../engine/types.js';
import { changeThresholdPercentOf, fileOf, retestIntervalMinutesOf } from './pathway-access.js';

/** The conditions a card variant can test (`when`), all read from the decision. */
export type Condition = 'retestDue' | 'retestOverdue' | 'baseline' | 'retest' | 'missing' | 'overMax';
export type Indicator = Decision['indicator'];
export type When = Readonly<Partial<Record<Condition, boolean>> & { indicator?: Indicator }>;

interface Placeholder {
  /** The condition that must hold for the decision to provide it (none: always provided). */
  readonly needs?: Condition;
  readonly description: string;
}

/** Placeholders of the outcome text and the retest order (docs/cards.md lists the same). */
export const PLACEHOLDERS: Readonly<Record<string, Placeholder>> = {
  timeZone: { description: 'the display time zone, as "Europe/London"' },
  evaluatedAt: { description: 'the evaluation time, local' },
  rulesUrl: { description: "the console's rules page (absolute URL)" },
  retestIntervalHours: { description: "the pathway's retest interval in hours (\"3\", \"1.5\")" },
  retestIntervalMinutes: { description: "the pathway's retest interval in minutes (\"180\")" },
  changeThreshold: { description: "the pathway's relative change threshold in percent (\"20\")" },
  retestDue: { needs: 'retestDue', description: 'the retest due time, local ("12:05", or "15 Mar 00:30" on another day)' },
  assay: { needs: 'baseline', description: "the baseline's assay" },
  url: { needs: 'baseline', description: 'the 99th percentile URL used for the baseline, in ng/L' },
  baselineValue: { needs: 'baseline', description: 'the baseline value in ng/L' },
  baselineDrawn: { needs: 'baseline', description: 'the baseline draw time, local' },
  retestValue: { needs: 'retest', description: 'the first retest value in ng/L' },
  retestDrawn: { needs: 'retest', description: 'the first retest draw time, local' },
  missing: { needs: 'missing', description: 'what is missing, as a list in words ("an ECG and a TIMI score")' },
  resultCount: { needs: 'overMax', description: 'the troponin results in the episode (rule 16)' },
  maxResults: { needs: 'overMax', description: 'the most results the pathway weighs (rule 16)' },
};

/** Whether a template used under `when` can rely on a placeholder that needs `needs`. */
export function satisfied(needs: Condition | undefined, when: When): boolean {
  if (needs === undefined) return true;
  if (needs === 'retestDue' && when.retestOverdue === true) return true;
  return when[needs] === true;
}

/** The placeholders a pathway file cannot fill at all: the retest interval or threshold it does not have. */
export function unavailableIn(file: unknown): ReadonlySet<string> {
  const out = new Set<string>();
  if (retestIntervalMinutesOf(file) === undefined) out.add('retestIntervalHours').add('retestIntervalMinutes');
  if (changeThresholdPercentOf(file) === undefined) out.add('changeThreshold');
  return out;
}

/** The placeholder names available under `when` in a file, plus `extra` names a template slot provides itself. */
export function allowedUnder(when: When, file: unknown, extra: readonly string[] = []): ReadonlySet<string> {
  const unavailable = unavailableIn(file);
  return new Set([...Object.entries(PLACEHOLDERS).filter(([n, p]) => satisfied(p.needs, when) && !unavailable.has(n)).map(([n]) => n), ...extra]);
}

/** The conditions as they hold for a decision. */
export function conditionsOf(decision: Decision): Readonly<Record<Condition, boolean>> & { readonly indicator: Indicator } {
  return {
    retestDue: decision.retestDue !== undefined,
    retestOverdue: decision.retestDue !== undefined && decision.retestOverdue === true,
    baseline: decision.troponin.baseline !== null,
    retest: decision.troponin.later.some((l) => l.role === 'retest'),
    missing: decision.missing.length > 0,
    overMax: decision.troponin.summary?.overMax === true,
    indicator: decision.indicator,
  };
}

/** Whether a variant's `when` holds for these conditions. */
export function holds(when: When, c: ReturnType<typeof conditionsOf>): boolean {
  return Object.entries(when).every(([k, v]) => c[k as keyof typeof c] === v);
}

interface Formatters {
  readonly time: Intl.DateTimeFormat;
  readonly day: Intl.DateTimeFormat;
  readonly number: Intl.NumberFormat;
  readonly list: Intl.ListFormat;
}
const formatters = new Map<string, Formatters>();

/** Formatters per locale and time zone, made once. */
export function formattersFor(locale: string, timeZone: string): Formatters {
  const key = `${locale}|${timeZone}`;
  let f = formatters.get(key);
  if (f === undefined) {
    f = {
      time: new Intl.DateTimeFormat(locale, { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
      day: new Intl.DateTimeFormat(locale, { timeZone, day: 'numeric', month: 'short' }),
      number: new Intl.NumberFormat(locale, { maximumFractionDigits: 2, useGrouping: true }),
      list: new Intl.ListFormat(locale, { style: 'long', type: 'conjunction' }),
    };
    formatters.set(key, f);
  }
  return f;
}

/**
 * The local times of one evaluation (one card): its day as `f.day` writes it (null: not a time), and each
 * time already written, since a card shows the same draw time in several places. Kept for the last
 * evaluation time and formatters asked, and bounded.
 */
interface EvaluationTimes {
  readonly f: Formatters;
  readonly iso: string;
  readonly day: string | null;
  readonly times: Map<string, string>;
}
const MAX_REMEMBERED_TIMES = 64;
let evaluationTimes: EvaluationTimes | null = null;
function timesOf(evaluatedAt: string, f: Formatters): EvaluationTimes {
  if (evaluationTimes === null || evaluationTimes.f !== f || evaluationTimes.iso !== evaluatedAt) {
    const e = new Date(evaluatedAt);
    evaluationTimes = { f, iso: evaluatedAt, day: Number.isNaN(e.getTime()) ? null : f.day.format(e), times: new Map() };
  }
  return evaluationTimes;
}

/** "12:05", or "15 Mar 00:30" when the day differs from the evaluation's, in the display time zone. */
export function localTime(iso: string, evaluatedAt: string, f: Formatters): string {
  const memo = timesOf(evaluatedAt, f);
  const known = memo.times.get(iso);
  if (known !== undefined) return known;
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const evaluated = memo.day;
  const day = evaluated === null ? null : f.day.format(t);
  const text = day !== null && day === evaluated ? f.time.format(t) : `${day ?? f.day.format(t)} ${f.time.format(t)}`;
  if (memo.times.size < MAX_REMEMBERED_TIMES) memo.times.set(iso, text);
  return text;
}

export interface ValueContext {
  readonly runtime: PathwayRuntime;
  readonly displayTimeZone: string;
  readonly locale: string;
  readonly rulesUrl: string;
  /** The words for each missing item (the cards section's `missingItems`). */
  readonly missingWords: ReadonlyMap<string, string>;
}

/** The placeholder values for one decision: a value for every placeholder whose condition holds. */
export function valuesFor(decision: Decision, ctx: ValueContext): Record<string, string | undefined> {
  const f = formattersFor(ctx.locale, ctx.displayTimeZone);
  const when = (iso: string): string => localTime(iso, decision.evaluatedAt, f);
  const interval = retestIntervalMinutesOf(fileOf(ctx.runtime));
  const threshold = changeThresholdPercentOf(fileOf(ctx.runtime));
  const { baseline, later, summary } = decision.troponin;
  const retest = later.find((l) => l.role === 'retest');
  const assayName = (id: string): string => decision.assays.find((a) => a.assay === id)?.assayName ?? ctx.runtime.assays.get(id)?.name ?? id;
  const missing = decision.missing.map((m) => ctx.missingWords.get(m) ?? decision.missingDetails.find((d) => d.item === m)?.text ?? m);
  return {
    timeZone: ctx.displayTimeZone,
    evaluatedAt: when(decision.evaluatedAt),
    rulesUrl: ctx.rulesUrl,
    retestIntervalHours: interval === undefined ? undefined : f.number.format(interval / 60),
    retestIntervalMinutes: interval === undefined ? undefined : f.number.format(interval),
    changeThreshold: threshold,
    retestDue: decision.retestDue === undefined ? undefined : when(decision.retestDue),
    assay: baseline === null ? undefined : assayName(baseline.assay),
    url: baseline?.url,
    baselineValue: baseline?.valueNgL,
    baselineDrawn: baseline === null ? undefined : when(baseline.drawTime),
    retestValue: retest?.valueNgL,
    retestDrawn: retest === undefined ? undefined : when(retest.drawTime),
    missing: missing.length === 0 ? undefined : f.list.format(missing),
    resultCount: summary?.overMax === true ? f.number.format(summary.results) : undefined,
    maxResults: summary?.overMax === true ? f.number.format(summary.max) : undefined,
  };
}
