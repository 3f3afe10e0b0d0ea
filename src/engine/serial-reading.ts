/**
 * The troponin reading of a sample-window pathway (esc-0h1h-0h2h.md rules 5 to 11; high-steacs.md rules
 * 5 to 10): the 0 h sample alone, each later same-assay sample in or out of the windows, read against the
 * assay's catalogue table through the pathway's reading table; then the reading, the missed timing and
 * the next sample's due time. Pure: the caller gives the usable samples, the onset and `now`.
 *
 * Every comparison is exact (big.js) and a censored value gives every side it allows; each sample's
 * reading is the most serious its cells allow (rule-in > observe > none > rule-out), so a rule-out holds
 * only when it holds for every concentration the values allow.
 */
import type { Big } from 'big.js';
import type { Assay } from './catalogue.js';
import { type CutoffTable, absoluteChange, sexSpecificCutoff, sidesOf, smallestCutoffs } from './cutoffs.js';
import type { Interval } from './ranges.js';
import { type CompiledSerial, type CompiledWindow, type OnsetBand, READING_ORDER, type ReadingEntry, type SampleReading, type SampleTiming, type Side, cellKeyOf } from './serial-pathway.js';
import type { CutoffTableUse, Instant, Sex } from './types.js';

/** A usable troponin as the serial pathways read it: the value as reported (no LoD substitution). */
export interface Sample {
  readonly ref: string;
  readonly drawTime: Instant;
  readonly assay: Assay;
  readonly value: Interval;
}

export interface SerialInput {
  readonly serial: CompiledSerial;
  readonly zero: Sample;
  /** Every usable troponin of the episode (the 0 h sample included). */
  readonly usable: readonly Sample[];
  /** Non-final troponins not read in this evaluation (pending, with or without a value): assay and draw time. */
  readonly pending: readonly { readonly assayId: string | null; readonly drawTime: Instant | null }[];
  /** The onset rule 4 used, or null when it is unknown (read as the 0 h draw). */
  readonly onset: Instant | null;
  readonly sex: Sex | null;
  readonly now: Instant;
}

export interface SampleVerdict {
  readonly sample: Sample;
  readonly timing: SampleTiming;
  readonly window: string | null;
  readonly table: string;
  readonly reading: SampleReading;
  readonly entry: ReadingEntry;
  /** |Δ| as an interval, for the trace. */
  readonly change: Interval | null;
}

export type TroponinReadingCode = 'rule-in' | 'observe' | 'rule-out' | 'awaiting-retest' | 'indeterminate';

export interface SerialResult {
  /** False when the 0 h sample's assay has no table of the pathway (rule 5): the pathway cannot run. */
  readonly supported: boolean;
  readonly reading: TroponinReadingCode;
  /** Which step of the reading rule gave it, for the trace. */
  readonly why: 'no-cutoffs' | 'rule-in' | 'missed-timing' | 'observe' | 'single-sample-rule-out' | 'pair-rule-out' | 'early-presenter-waits' | 'awaiting';
  readonly retestDue: Instant | null;
  readonly onsetBand: OnsetBand;
  readonly zeroAlone: ReadingEntry | null;
  readonly later: readonly SampleVerdict[];
  /** Usable later samples of another assay (C2 rule 9: at least indeterminate, by the caller). */
  readonly otherAssay: readonly Sample[];
  readonly cutoffs: readonly CutoffTableUse[];
  readonly threshold: { readonly url99: Big; readonly basis: 'female' | 'male' | 'sex-unknown' } | null;
}

const rankOf = (r: SampleReading): number => READING_ORDER.indexOf(r);

/** The band of the time since onset (rule 4): strictly more than the single-sample time, strictly under the early-presenter time, or neither. */
export function onsetBandOf(s: CompiledSerial, zeroDraw: Instant, onset: Instant | null): OnsetBand {
  const since = onset === null ? 0n : zeroDraw - onset;
  if (since > s.singleSampleOnset) return 'single-sample-eligible';
  if (s.earlyPresenter !== null && since < s.earlyPresenter) return 'early-presenter';
  return 'intermediate';
}

/** The cut-off a comparison reads in a table: the table's field, or the sex-specific one (rule 6). */
function cutoffIn(s: CompiledSerial, table: CutoffTable, name: string, sex: Sex | null): Big | null {
  const sx = s.section.sexSpecific;
  if (sx !== undefined && sx.cutoff === name) return sexSpecificCutoff(table, sx.female, sx.male, sex)?.value ?? null;
  return table.values.get(name) ?? null;
}

/** The most serious reading over every cell the values allow. */
function readCells(s: CompiledSerial, timing: SampleTiming, band: OnsetBand, sides: readonly (readonly Side[])[]): ReadingEntry {
  let best: ReadingEntry | null = null;
  // Every combination of the sides, the last comparison turning fastest (an odometer): the key of each
  // cell is `cellKeyOf([timing, band, ...sides])`, written without the intermediate arrays.
  const at = sides.map(() => 0);
  const empty = sides.some((side) => side.length === 0);
  for (let more = !empty; more; ) {
    let key = cellKeyOf([timing, band]);
    for (let i = 0; i < sides.length; i++) key += `|${(sides[i] as readonly Side[])[at[i] as number] as Side}`;
    const e = s.table.get(key);
    if (e !== undefined && (best === null || rankOf(e.reading) < rankOf(best.reading))) best = e;
    let i = sides.length - 1;
    for (; i >= 0; i--) {
      at[i] = (at[i] as number) + 1;
      if ((at[i] as number) < (sides[i] as readonly Side[]).length) break;
      at[i] = 0;
    }
    more = i >= 0;
  }
  if (best === null) throw new Error(`the reading table has no cell for ${timing}, ${band}`);
  return best;
}

function sidesFor(s: CompiledSerial, table: CutoffTable, zero: Sample, later: Sample | null, sex: Sex | null): { sides: Side[][]; change: Interval | null } {
  const change = later === null ? null : absoluteChange(zero.value, later.value, zero.assay.lod);
  const sides = s.section.comparisons.map((c): Side[] => {
    const cut = cutoffIn(s, table, c.cutoff, sex);
    if (cut === null) throw new Error(`table ${table.name} has no cut-off "${c.cutoff}"`);
    if (c.value === 'zero-hour') return sidesOf(zero.value, cut);
    // The 0 h sample alone: later and change comparisons do not apply (the table reads none of them).
    if (later === null || change === null) return ['below'];
    return sidesOf(c.value === 'later' ? later.value : change, cut);
  });
  return { sides, change };
}

function usedWindows(s: CompiledSerial, assay: Assay): CompiledWindow[] {
  return s.windows.filter((w) => assay.tables.has(w.table));
}

function tableUse(assay: Assay, t: CutoffTable): CutoffTableUse {
  return { table: t.name, assay: assay.id, values: Object.fromEntries([...t.values].map(([k, v]) => [k, v.toFixed()])), source: t.source };
}

/** Read one 0 h sample and the samples after it (rules 5 to 11). */
export function readSerial(input: SerialInput): SerialResult {
  const s = input.serial;
  const { zero, now, sex } = input;
  const assay = zero.assay;
  const band = onsetBandOf(s, zero.drawTime, input.onset);
  const later = input.usable.filter((u) => u !== zero && u.drawTime > zero.drawTime);
  const same = later.filter((u) => u.assay.id === assay.id);
  const otherAssay = later.filter((u) => u.assay.id !== assay.id);
  const zt = assay.tables.get(s.section.zeroHourTable);
  const base = { onsetBand: band, otherAssay };
  if (zt === undefined) {
    return { ...base, supported: false, reading: 'indeterminate', why: 'no-cutoffs', retestDue: null, zeroAlone: null, later: [], cutoffs: [], threshold: null };
  }
  const windows = usedWindows(s, assay);
  const offTable = smallestCutoffs(assay.tables, s.section.offTableTables) ?? zt;
  const tablesUsed = new Map<string, CutoffTable>([[zt.name, zt]]);

  const zeroAlone = readCells(s, 'zero-hour-only', band, sidesFor(s, zt, zero, null, sex).sides);
  const verdicts: SampleVerdict[] = [];
  for (const u of same) {
    const dt = u.drawTime - zero.drawTime;
    const w = windows.find((x) => dt >= x.from && (x.to === null || dt <= x.to));
    const table = w === undefined ? offTable : (assay.tables.get(w.table) as CutoffTable);
    tablesUsed.set(table.name, table);
    const { sides, change } = sidesFor(s, table, zero, u, sex);
    const timing: SampleTiming = w === undefined ? 'off-table' : 'in-table';
    const entry = readCells(s, timing, band, sides);
    verdicts.push({ sample: u, timing, window: w?.id ?? null, table: table.name, reading: entry.reading, entry, change });
  }
  const inTable = verdicts.filter((v) => v.timing === 'in-table');
  const readings = [zeroAlone.reading, ...verdicts.map((v) => v.reading)];
  const isOpen = (w: CompiledWindow): boolean =>
    w.to === null ||
    now <= zero.drawTime + w.to ||
    input.pending.some((p) => p.assayId === assay.id && p.drawTime !== null && p.drawTime - zero.drawTime >= w.from && p.drawTime - zero.drawTime <= (w.to as bigint));
  const open = windows.filter(isOpen);
  const third = zero.drawTime + s.thirdSample;
  const thirdTaken = same.some((u) => u.drawTime >= third);

  let reading: TroponinReadingCode;
  let why: SerialResult['why'];
  if (readings.includes('rule-in')) [reading, why] = ['rule-in', 'rule-in'];
  else if (inTable.length === 0 && zeroAlone.reading !== 'rule-out' && open.length === 0) [reading, why] = ['indeterminate', 'missed-timing'];
  else if (readings.includes('observe')) [reading, why] = ['observe', 'observe'];
  else if (zeroAlone.reading === 'rule-out') [reading, why] = ['rule-out', 'single-sample-rule-out'];
  else if (inTable.length > 0 && inTable.every((v) => v.reading === 'rule-out')) {
    [reading, why] = band === 'early-presenter' && !thirdTaken ? ['awaiting-retest', 'early-presenter-waits'] : ['rule-out', 'pair-rule-out'];
  } else [reading, why] = ['awaiting-retest', 'awaiting'];

  let retestDue: Instant | null = null;
  if (reading === 'observe' || reading === 'awaiting-retest') {
    const first = open[0];
    if (inTable.length === 0 && first !== undefined) retestDue = zero.drawTime + first.nominal;
    else if (!thirdTaken) retestDue = third;
  }
  const sx = s.section.sexSpecific;
  const thr = sx === undefined ? null : sexSpecificCutoff(zt, sx.female, sx.male, sex);
  return {
    ...base,
    supported: true,
    reading,
    why,
    retestDue,
    zeroAlone,
    later: verdicts,
    cutoffs: [...tablesUsed.values()].map((t) => tableUse(assay, t)),
    threshold: thr === null ? null : { url99: thr.value, basis: thr.basis },
  };
}
