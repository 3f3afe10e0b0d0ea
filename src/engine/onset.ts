/**
 * The chest-pain onset (esc-0h1h-0h2h.md rule 4; high-steacs.md rule 3): which recorded onsets are usable,
 * and which one counts. Pure.
 *
 * A usable onset has a used status, is timed by its draw time (else `issued`) within the episode and not
 * more than the clock allowance after the evaluation time, and its value is a time with a zone (a
 * `valuePeriod` counts as its end) not more than the allowance after the evaluation time. Of several, the
 * latest counts (the least time since onset). Non-final onsets are read by the readings of rule 12 (they
 * can only escalate: a later onset only shortens the time since onset). None usable: the onset is unknown.
 */
import type { Instant, OnsetFact } from './types.js';
import { formatInstant } from './time.js';

export interface OnsetUse {
  readonly ref: string;
  readonly use: 'used' | 'not-used' | 'outside-episode';
  readonly reason: string;
}

export interface OnsetReading {
  /** The onset that counts, or null when it is unknown. */
  readonly time: Instant | null;
  readonly basis: 'recorded' | 'period-end' | 'unknown';
  readonly ref: string | null;
  readonly uses: readonly OnsetUse[];
  /** Why each unusable onset is unusable, for the trace. */
  readonly problems: readonly string[];
}

export function readOnset(onsets: readonly OnsetFact[], episodeStart: Instant, now: Instant, allowance: bigint): OnsetReading {
  const uses: OnsetUse[] = [];
  const problems: string[] = [];
  let best: { fact: OnsetFact; time: Instant; basis: 'recorded' | 'period-end' } | null = null;
  const latest = now + allowance;
  for (const o of onsets) {
    const recorded = o.drawTime ?? o.issued;
    if (recorded !== null && recorded < episodeStart) {
      uses.push({ ref: o.ref, use: 'outside-episode', reason: `recorded ${formatInstant(recorded)}, before the episode began (rule 3)` });
      continue;
    }
    let why: string | null = null;
    if (o.status !== 'used') why = o.statusText === null ? 'no status' : `status ${o.statusText}`;
    else if (recorded === null) why = 'no recorded or issued time';
    else if (recorded > latest) why = `recorded ${formatInstant(recorded)}, after the evaluation time`;
    else if (o.value.kind === 'unusable') why = o.value.reason;
    else if (o.value.time > latest) why = `the onset ${formatInstant(o.value.time)} is after the evaluation time, impossible`;
    if (why !== null || o.value.kind !== 'time') {
      problems.push(`${o.ref}: ${why ?? 'unusable'}`);
      uses.push({ ref: o.ref, use: 'not-used', reason: `chest-pain onset unusable: ${why ?? ''}` });
      continue;
    }
    if (best === null || o.value.time > best.time) best = { fact: o, time: o.value.time, basis: o.value.basis };
  }
  for (const o of onsets) {
    if (best !== null && o === best.fact) uses.push({ ref: o.ref, use: 'used', reason: `chest-pain onset ${formatInstant(best.time)}${best.basis === 'period-end' ? ' (the end of the recorded period)' : ''}` });
    else if (o.value.kind === 'time' && !uses.some((u) => u.ref === o.ref)) uses.push({ ref: o.ref, use: 'not-used', reason: 'a later chest-pain onset counts (rule 4)' });
  }
  return best === null
    ? { time: null, basis: 'unknown', ref: null, uses, problems }
    : { time: best.time, basis: best.basis, ref: best.fact.ref, uses, problems };
}
