/**
 * The trace, the inputs list and the reasons of one evaluation, kept as a log per part.
 *
 * Each part of an evaluation (episode, troponin series, ECG, TIMI, walk) writes to a log of its own
 * and returns it; nothing is shared between parts. `assemble` then replays the logs in the order the
 * parts ran into the bounded lists (bounds.ts: rule 16), so the result is the same as one list
 * written in that order: clipped, listed up to the bound, counted after it.
 */
import { BoundedInputs, LIST_BOUND, TEXT_BOUND, boundedReasons, boundedTrace, clip, clipStep } from './bounds.js';
import type { InputUse, TraceStep } from './types.js';

/** A group of repeated entries: listed for the first few of the group and counted after (bounds.ts). */
export interface Group {
  readonly key: string;
  readonly ref?: string;
}

interface Entry<T> {
  readonly item: T;
  readonly group: Group | undefined;
}

/** What one part records, in order. Written only by the part that owns it. */
export class Log {
  readonly steps: Entry<TraceStep>[] = [];
  readonly uses: { readonly ref: string; readonly kind: InputUse['kind']; readonly use: InputUse['use']; readonly reason: string }[] = [];
  readonly reasons: Entry<string>[] = [];

  /** A trace step; one given a group is listed for the first few of its group and counted after. */
  step(s: TraceStep, group?: Group): void {
    this.steps.push({ item: s, group });
  }

  /** What happened to a resource: one entry per resource, the first recorded stands (rule 16 bounds the list). */
  use(ref: string, kind: InputUse['kind'], use: InputUse['use'], reason: string): void {
    this.uses.push({ ref, kind, use, reason });
  }

  reason(text: string, group?: Group): void {
    this.reasons.push({ item: text, group });
  }
}

/** A log as the parts hand it back: read only. */
export type LogView = Pick<Log, 'steps' | 'uses' | 'reasons'>;

export interface Assembled {
  readonly trace: TraceStep[];
  readonly inputs: InputUse[];
  readonly reasons: string[];
}

/**
 * The logs in order, bounded: listed one by one up to the larger of the list bound and rule 16's
 * bound (so an episode within rule 16's bound lists every result), then counted.
 */
export function assemble(maxTroponinResults: number, logs: readonly LogView[]): Assembled {
  const limit = Math.max(LIST_BOUND, maxTroponinResults);
  const trace = boundedTrace(limit);
  const inputs = new BoundedInputs(limit);
  const reasons = boundedReasons(limit);
  for (const log of logs) {
    for (const s of log.steps) trace.add(clipStep(s.item), s.group);
    for (const u of log.uses) inputs.add(u.ref, u.kind, u.use, u.reason);
    for (const r of log.reasons) reasons.add(clip(r.item, 2 * TEXT_BOUND), r.group);
  }
  return { trace: trace.list(), inputs: inputs.list(), reasons: reasons.list() };
}
