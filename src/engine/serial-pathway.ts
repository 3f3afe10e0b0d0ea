/**
 * The `serial` section of a pathway file, compiled: pathways that read a 0 h sample and later samples in
 * timing windows against an assay's catalogue cut-off table (esc-0h1h-0h2h.md rules 4 to 11,
 * high-steacs.md rules 4 to 10). The reading table (which reading each combination of the cell facts
 * gives) is checked for totality and turned into a lookup table once, at load. Pure: no IO.
 */
import { Engine, type RuleProperties, type TopLevelCondition } from 'json-rules-engine';
import { type PathwayFile, PathwayProblem, type Scalar, factsOf } from './pathway.js';
import { NS_PER_MINUTE } from './time.js';
import type { OutcomeCode } from './types.js';

/** A timing window of a later sample, in minutes after the 0 h draw, both ends inclusive; `toMinutes` null: no end. */
export interface SampleWindowSetting {
  readonly id: string;
  readonly fromMinutes: number;
  readonly toMinutes: number | null;
  readonly nominalMinutes: number;
  /** The catalogue table read for a sample in this window. */
  readonly table: string;
}

/** What one sample (or the 0 h sample alone) reads as; `none` sits between observe and rule-out. */
export type SampleReading = 'rule-in' | 'observe' | 'none' | 'rule-out';
export const READING_ORDER: readonly SampleReading[] = ['rule-in', 'observe', 'none', 'rule-out'];

/** Which value a comparison reads: the 0 h sample, the later sample, or |Δ| between them. */
export type ComparedValue = 'zero-hour' | 'later' | 'change';
/** The fixed cell facts (every other cell fact is a comparison the pathway declares). */
export const SAMPLE_TIMINGS = ['zero-hour-only', 'in-table', 'off-table'] as const;
export type SampleTiming = (typeof SAMPLE_TIMINGS)[number];
export const ONSET_BANDS = ['single-sample-eligible', 'intermediate', 'early-presenter'] as const;
export type OnsetBand = (typeof ONSET_BANDS)[number];
export type Side = 'below' | 'at-or-above';

export interface SerialSection {
  /** The contract's rule numbers, for the trace: onset, assay, readings, the troponin reading, timing. */
  readonly rules: { readonly onset: string; readonly assay: string; readonly readings: string; readonly reading: string; readonly timing: string; readonly sex?: string };
  readonly description: string;
  /** The table the 0 h sample alone is read with, and the one an assay must carry for the pathway to run. */
  readonly zeroHourTable: string;
  /** Off-table samples are read against the smallest cut-offs among these tables the assay has. */
  readonly offTableTables: readonly string[];
  /** A cut-off chosen by the patient's sex (sex unknown: the lower). */
  readonly sexSpecific?: { readonly cutoff: string; readonly female: string; readonly male: string };
  readonly comparisons: readonly { readonly fact: string; readonly value: ComparedValue; readonly cutoff: string; readonly text: string }[];
  readonly readings: readonly { readonly id: string; readonly reading: SampleReading; readonly text: string; readonly conditions: TopLevelCondition }[];
  readonly otherwise: { readonly id: string; readonly reading: SampleReading; readonly text: string };
  /** What a person reads in the trace and the reasons; `{assay}` and `{table}` are filled in. */
  readonly text: {
    readonly noCutoffs: string;
    readonly missedTiming: string;
    readonly onsetUnknown: string;
    readonly onsetWouldMatter: string;
  };
}

export interface ReadingEntry {
  readonly reading: SampleReading;
  readonly id: string;
  readonly text: string;
}

export interface CompiledWindow {
  readonly id: string;
  readonly from: bigint;
  readonly to: bigint | null;
  readonly nominal: bigint;
  readonly table: string;
}

export interface CompiledSerial {
  readonly section: SerialSection;
  readonly windows: readonly CompiledWindow[];
  readonly thirdSample: bigint;
  readonly singleSampleOnset: bigint;
  readonly earlyPresenter: bigint | null;
  /** Cell facts in key order: sampleTiming, onsetBand, then the comparisons as declared. */
  readonly cellFacts: readonly string[];
  /** Every combination of the cell facts -> its reading. */
  readonly table: ReadonlyMap<string, ReadingEntry>;
}

export function cellKeyOf(values: readonly string[]): string {
  return values.join('|');
}

function* combos(domains: readonly (readonly string[])[]): Generator<string[]> {
  if (domains.length === 0) {
    yield [];
    return;
  }
  const [first, ...rest] = domains as [readonly string[], ...(readonly string[])[]];
  for (const v of first) for (const tail of combos(rest)) yield [v, ...tail];
}

const REQUIRED_OUTCOMES: readonly OutcomeCode[] = ['rule-in', 'observe', 'rule-out', 'awaiting-retest', 'indeterminate'];

/** Compile a schema-valid file's `serial` section; throws PathwayProblem naming the field. */
export async function compileSerial(file: PathwayFile, severityRank: ReadonlyMap<OutcomeCode, number>): Promise<CompiledSerial> {
  const sec = file.serial as SerialSection;
  const s = file.settings;
  if (s.windows === undefined || s.thirdSampleMinutes === undefined || s.singleSampleOnsetMinutes === undefined) {
    throw new PathwayProblem('a pathway with "serial" needs the settings windows, thirdSampleMinutes and singleSampleOnsetMinutes', 'settings');
  }
  for (const o of REQUIRED_OUTCOMES) if (!severityRank.has(o)) throw new PathwayProblem(`a pathway with "serial" must rank "${o}" in "severity"`, 'severity');
  const ids = new Set<string>();
  s.windows.forEach((w, i) => {
    if (ids.has(w.id)) throw new PathwayProblem(`duplicate window id "${w.id}"`, `settings.windows[${i}].id`);
    ids.add(w.id);
    if (w.toMinutes !== null && w.toMinutes < w.fromMinutes) throw new PathwayProblem(`window "${w.id}" ends before it begins`, `settings.windows[${i}]`);
    if (w.nominalMinutes < w.fromMinutes || (w.toMinutes !== null && w.nominalMinutes > w.toMinutes)) throw new PathwayProblem(`window "${w.id}": its nominal time is outside it`, `settings.windows[${i}].nominalMinutes`);
    const prev = s.windows?.[i - 1];
    if (prev !== undefined && (prev.toMinutes === null || prev.toMinutes >= w.fromMinutes)) throw new PathwayProblem(`window "${w.id}" overlaps or precedes "${prev.id}": windows are in time order and disjoint`, `settings.windows[${i}]`);
  });
  if (s.earlyPresenterMinutes !== undefined && s.earlyPresenterMinutes > s.singleSampleOnsetMinutes) {
    throw new PathwayProblem('earlyPresenterMinutes is above singleSampleOnsetMinutes', 'settings.earlyPresenterMinutes');
  }
  const facts = new Set<string>();
  sec.comparisons.forEach((c, i) => {
    if (facts.has(c.fact) || c.fact === 'sampleTiming' || c.fact === 'onsetBand') throw new PathwayProblem(`comparison fact "${c.fact}" is declared twice or shadows a cell fact`, `serial.comparisons[${i}].fact`);
    facts.add(c.fact);
  });
  const cellFacts = ['sampleTiming', 'onsetBand', ...sec.comparisons.map((c) => c.fact)];
  sec.readings.forEach((r, i) => {
    for (const f of factsOf(r.conditions, new Set())) {
      if (!cellFacts.includes(f)) throw new PathwayProblem(`reading rule "${r.id}" uses fact "${f}"; the cell facts are ${cellFacts.join(', ')}`, `serial.readings[${i}].conditions`);
    }
  });
  const rules: RuleProperties[] = sec.readings.map((r) => ({ name: r.id, conditions: r.conditions, event: { type: r.id } }));
  const byId = new Map(sec.readings.map((r) => [r.id, r]));
  const domains: (readonly string[])[] = [SAMPLE_TIMINGS, s.earlyPresenterMinutes === undefined ? ONSET_BANDS.slice(0, 2) : ONSET_BANDS, ...sec.comparisons.map(() => ['below', 'at-or-above'])];
  const table = new Map<string, ReadingEntry>();
  // One engine, run once per cell in turn (a run resets its almanac): hundreds of cells at load.
  const engine = new Engine([...rules], { allowUndefinedFacts: false });
  for (const values of combos(domains)) {
    const facts: Record<string, Scalar> = {};
    cellFacts.forEach((f, i) => (facts[f] = values[i] ?? null));
    const fired = (await engine.run(facts)).events.map((e) => e.type).sort();
    if (fired.length > 1) throw new PathwayProblem(`the cell ${JSON.stringify(facts)} matches several reading rules (${fired.join(', ')}): every cell must match at most one`, 'serial.readings');
    const r = fired[0] === undefined ? undefined : byId.get(fired[0]);
    table.set(cellKeyOf(values), r === undefined ? { reading: sec.otherwise.reading, id: sec.otherwise.id, text: sec.otherwise.text } : { reading: r.reading, id: r.id, text: r.text });
  }
  const minutes = (m: number): bigint => BigInt(m) * NS_PER_MINUTE;
  return {
    section: sec,
    windows: s.windows.map((w) => ({ id: w.id, from: minutes(w.fromMinutes), to: w.toMinutes === null ? null : minutes(w.toMinutes), nominal: minutes(w.nominalMinutes), table: w.table })),
    thirdSample: minutes(s.thirdSampleMinutes),
    singleSampleOnset: minutes(s.singleSampleOnsetMinutes),
    earlyPresenter: s.earlyPresenterMinutes === undefined ? null : minutes(s.earlyPresenterMinutes),
    cellFacts,
    table,
  };
}
