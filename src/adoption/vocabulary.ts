/**
 * What the adoption report needs to know of each pathway, read from the pathway files themselves: the
 * outcome codes (the file's `severity`, most serious first) and their labels, which of them are final,
 * whether the pathway allows a rule-out on a single sample, its episode window and its retest timing.
 * Nothing here names a pathway's outcome list: a new pathway file brings its own.
 *
 * Final outcomes, the one rule (docs/adoption.md "Outcome codes"): an outcome is final unless it is one of
 * the two waiting outcomes every pathway contract shares, `needs-input` (the pathway needs data before it
 * can advise) and `awaiting-retest` (a sample is due). A pathway file may say otherwise for an outcome with
 * `"final": true | false` in its `outcomes` entry.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PATHWAYS_DIR } from '../pathways/load.js';
import type { PathwayFile } from '../engine/pathway.js';
import { compileTemplate, fill } from '../engine/template.js';
import { settingValues } from '../engine/wording.js';
import { isObject } from '../util/guards.js';

/** The waiting outcomes of every pathway contract: the pathway has not decided yet. */
export const WAITING_OUTCOMES: readonly string[] = ['needs-input', 'awaiting-retest'];

export interface OutcomeInfo {
  readonly code: string;
  readonly label: string;
  readonly final: boolean;
}

/** A retest window around a nominal time after the baseline (ESC-style pathways). */
export interface RetestWindow {
  readonly nominalMinutes: number;
  readonly fromMinutes: number;
  readonly toMinutes: number;
}

export interface PathwayVocabulary {
  readonly id: string;
  readonly title: string;
  /** Most serious first. */
  readonly outcomes: readonly OutcomeInfo[];
  /** The least serious outcome: the pathway's rule-out (`rule-out`, Chart 2's `low-risk-pathway`). */
  readonly leastSerious: string | null;
  /** The pathway can rule out on one sample (its settings carry `singleSampleOnsetMinutes`). */
  readonly singleSampleRuleOut: boolean;
  /** Evaluations further apart than this are never one episode (settings `episodeWindowHours`, 24). */
  readonly episodeWindowMinutes: number;
  /** A retest drawn more than this before its due time is early (settings `retestEarlyToleranceMinutes`, 0). */
  readonly retestEarlyToleranceMinutes: number;
  /** The pathway's sample windows, when it has them (settings `windows`). */
  readonly windows: readonly RetestWindow[];
  /** True when no pathway file of that id was found (the codes come from the records). */
  readonly unknown: boolean;
}

const num = (x: unknown, fallback: number): number => (typeof x === 'number' && Number.isFinite(x) ? x : fallback);

/** The vocabulary of one parsed pathway file, or null when the document is not a pathway file. */
export function vocabularyOf(doc: unknown): PathwayVocabulary | null {
  if (!isObject(doc) || typeof doc['id'] !== 'string' || !Array.isArray(doc['severity']) || !isObject(doc['outcomes'])) return null;
  const outcomes = doc['outcomes'];
  const settings = isObject(doc['settings']) ? doc['settings'] : {};
  const codes = (doc['severity'] as unknown[]).filter((c): c is string => typeof c === 'string');
  const windows = Array.isArray(settings['windows'])
    ? (settings['windows'] as unknown[]).filter(isObject).flatMap((w) =>
        typeof w['nominalMinutes'] === 'number' && typeof w['fromMinutes'] === 'number' && typeof w['toMinutes'] === 'number'
          ? [{ nominalMinutes: w['nominalMinutes'], fromMinutes: w['fromMinutes'], toMinutes: w['toMinutes'] }]
          : [],
      )
    : [];
  return {
    id: doc['id'],
    title: typeof doc['title'] === 'string' ? doc['title'] : doc['id'],
    outcomes: codes.map((code) => {
      const meta = isObject(outcomes[code]) ? outcomes[code] : {};
      const final = typeof meta['final'] === 'boolean' ? meta['final'] : !WAITING_OUTCOMES.includes(code);
      return { code, label: typeof meta['label'] === 'string' ? settingsFilled(doc, meta['label']) : code, final };
    }),
    leastSerious: codes[codes.length - 1] ?? null,
    singleSampleRuleOut: typeof settings['singleSampleOnsetMinutes'] === 'number',
    episodeWindowMinutes: num(settings['episodeWindowHours'], 24) * 60,
    retestEarlyToleranceMinutes: num(settings['retestEarlyToleranceMinutes'], 0),
    windows,
    unknown: false,
  };
}

/** A label of the file with its settings' placeholders filled in, as the service shows it ("Retest in 3 hours"). */
function settingsFilled(doc: Record<string, unknown>, text: string): string {
  try {
    const values = settingValues(doc as unknown as PathwayFile);
    return fill(compileTemplate(text, new Set(Object.keys(values)), 'label'), values);
  } catch {
    return text;
  }
}

/** For records naming a pathway no file describes: codes as the records give them, the common defaults. */
export function unknownVocabulary(id: string): PathwayVocabulary {
  return { id, title: id, outcomes: [], leastSerious: null, singleSampleRuleOut: false, episodeWindowMinutes: 24 * 60, retestEarlyToleranceMinutes: 0, windows: [], unknown: true };
}

/** The vocabularies of every pathway file in `dir` (default: the shipped pathways/), by pathway id. */
export function loadVocabularies(dir: string = PATHWAYS_DIR): ReadonlyMap<string, PathwayVocabulary> {
  const out = new Map<string, PathwayVocabulary>();
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.json') || name.endsWith('.schema.json')) continue;
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(join(dir, name), 'utf8')) as unknown;
    } catch {
      continue;
    }
    const v = vocabularyOf(doc);
    if (v !== null) out.set(v.id, v);
  }
  return out;
}

/** Whether `code` is final for this pathway (the rule above also for codes the file does not list). */
export function isFinal(v: PathwayVocabulary, code: string): boolean {
  const o = v.outcomes.find((x) => x.code === code);
  return o === undefined ? !WAITING_OUTCOMES.includes(code) : o.final;
}
