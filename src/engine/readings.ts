/**
 * Rule 12 (contract 1.1): which data count, as one or more readings of the same input.
 *
 * - Results sharing an identifier and a draw time are versions of one result: the latest version by
 *   `meta.lastUpdated` (else `issued`) stands. Sharing an identifier with different draw times, they are
 *   distinct results, and the trace notes the shared identifier.
 * - Non-final results (`preliminary`, `registered` with a value) can only escalate: the data are read
 *   without them and with them (each read as if final), and a non-final version never supersedes a used one.
 * - Troponin versions that cannot be ordered are each a reading. ECG and TIMI versions that cannot be
 *   ordered are all read at once (the most serious ECG meaning and the highest TIMI count).
 *
 * The caller evaluates every reading and keeps the most serious outcome (the governing rule). Readings
 * are bounded ({@link MAX_READINGS}); past the bound the unordered versions are read at once and the
 * result is also marked ambiguous, so the outcome is at least `indeterminate` and every pair any reading
 * holds is still weighed. Pure; O(n log n) in the number of observations.
 */
import { count, listText, listTextOf } from './bounds.js';
import { canonicalOrder, describeTime } from './order.js';
import type { InputUse, Instant, ObservationFact, TraceStep } from './types.js';

/** At most this many readings are evaluated one by one. */
export const MAX_READINGS = 16;

export interface Use {
  readonly ref: string;
  readonly kind: InputUse['kind'];
  readonly use: InputUse['use'];
  readonly reason: string;
}

export interface Reading {
  /** The observations that count in this reading, in canonical order (rule 15). */
  readonly observations: readonly ObservationFact[];
  /** Troponin results whose versions are ambiguous past the readings bound: uninterpretable (rule 13). */
  readonly conflicted: ReadonlySet<ObservationFact>;
  /** Versions superseded or copied, for the inputs list. */
  readonly uses: readonly Use[];
  /** Rule 12 notes for the trace. */
  readonly steps: readonly TraceStep[];
  /** For people: what this reading takes ("without the non-final results", "Observation/x1 for R3"). */
  readonly label: string;
  /** Whether this reading reads the non-final results as if final (rule 12: they can only escalate). */
  readonly withNonFinal: boolean;
}

function isNonFinalWithValue(o: ObservationFact): boolean {
  if (o.status !== 'listed') return false;
  return o.kind !== 'troponin' || o.value.kind !== 'absent';
}

interface Dedupe {
  readonly kept: ObservationFact[];
  /** Troponin versions that cannot be ordered: one list of versions per result. */
  readonly choices: ObservationFact[][];
  readonly uses: Use[];
  readonly steps: TraceStep[];
}

/**
 * Versions grouped over every observation (so versions linked through a non-final one stay one result),
 * then chosen among those that count in this reading (`counts`).
 */
function dedupe(observations: readonly ObservationFact[], counts: (o: ObservationFact) => boolean): Dedupe {
  const parent = observations.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i] ?? i] ?? i;
    return i;
  };
  // Results of one kind sharing an identity and a draw time are versions of one. An identity is keyed with
  // its draw time only once a second observation has it: most identities are held by one observation.
  const byKey = new Map<string, number>();
  // An identity held a second time, with the draw times of those holding it.
  type Shared = { readonly first: number; readonly at: number; readonly identifier: string | null; readonly times: Set<string> };
  // Per kind, by the identity text the mapping made (its hash is kept by the string): the first holder's index.
  const seenByKind = new Map<ObservationFact['kind'], Map<string, number | Shared>>();
  const held: Shared[] = [];
  const drawOf = (o: ObservationFact): string => (o.drawTime === null ? 'none' : o.drawTime.toString());
  let merged = false;
  const register = (identity: string, i: number, draw: string): void => {
    const key = `${identity}|${draw}`;
    const j = byKey.get(key);
    if (j === undefined) byKey.set(key, i);
    else {
      parent[find(i)] = find(j);
      merged = true;
    }
  };
  observations.forEach((o, i) => {
    let seen = seenByKind.get(o.kind);
    if (seen === undefined) {
      seen = new Map();
      seenByKind.set(o.kind, seen);
    }
    for (const k of o.identities) {
      let s = seen.get(k);
      if (s === undefined) {
        seen.set(k, i);
        continue;
      }
      const identity = `${o.kind}|${k}`;
      if (typeof s === 'number') {
        const first = observations[s] as ObservationFact;
        const firstDraw = drawOf(first);
        register(identity, s, firstDraw);
        s = { first: s, at: first.identities.indexOf(k), identifier: k.startsWith('identifier|') ? k.slice('identifier|'.length) : null, times: new Set([firstDraw]) };
        seen.set(k, s);
        held.push(s);
      }
      const draw = drawOf(o);
      register(identity, i, draw);
      s.times.add(draw);
    }
  });
  const steps: TraceStep[] = [];
  // In the order the identifiers first appear.
  const shared = held
    .filter((s) => s.identifier !== null && s.times.size > 1)
    .sort((a, b) => a.first - b.first || a.at - b.at)
    .map((s) => s.identifier as string);
  if (shared.length > 0) {
    steps.push({ rule: '12', text: `Results share an identifier (${listText(shared)}) but have different draw times: they are distinct results, not versions of one.` });
  }
  if (!merged) {
    // No two observations share an identity: each is its own result (the usual case), in canonical order.
    return { kept: [...observations].sort(canonicalOrder).filter(counts), choices: [], uses: [], steps };
  }
  const groups = new Map<number, ObservationFact[]>();
  observations.forEach((o, i) => {
    const g = groups.get(find(i)) ?? [];
    g.push(o);
    groups.set(find(i), g);
  });
  const kept: ObservationFact[] = [];
  const choices: ObservationFact[][] = [];
  const uses: Use[] = [];
  for (const group of [...groups.values()].sort((a, b) => canonicalOrder(a[0] as ObservationFact, b[0] as ObservationFact))) {
    const counted = group.filter(counts);
    if (counted.length === 0) continue;
    const first = counted[0] as ObservationFact;
    if (counted.length === 1) {
      // One version: nothing to compare, so its content is not hashed (most results are alone in their group).
      kept.push(first);
      continue;
    }
    const distinct = new Map<string, ObservationFact>();
    for (const o of counted) if (!distinct.has(o.contentKey())) distinct.set(o.contentKey(), o);
    const versions = [...distinct.values()];
    const read = new Set(versions);
    for (const o of counted) if (!read.has(o)) uses.push({ ref: o.ref, kind: o.kind, use: 'superseded', reason: `an identical copy of ${first.ref}` });
    if (versions.length === 1) {
      kept.push(first);
      continue;
    }
    const refs = listText(versions.map((v) => v.ref));
    const allTimed = versions.every((v) => v.versionTime !== null);
    const latestTime = versions.reduce<Instant | null>((m, v) => (v.versionTime !== null && (m === null || v.versionTime > m) ? v.versionTime : m), null);
    const latest = allTimed ? versions.filter((v) => v.versionTime === latestTime) : versions;
    for (const o of versions) {
      if (!latest.includes(o)) uses.push({ ref: o.ref, kind: o.kind, use: 'superseded', reason: `an earlier version of the same result, updated ${describeTime(o.versionTime)}` });
    }
    if (latest.length === 1) {
      const winner = latest[0] as ObservationFact;
      kept.push(winner);
      steps.push({ rule: '12', text: `Results ${refs} share an identifier and a draw time: they are one result, and the latest version (${winner.ref}, updated ${describeTime(winner.versionTime)}) stands.` });
    } else if (first.kind !== 'troponin') {
      kept.push(...latest);
      steps.push({ rule: '12', text: `Results ${listText(latest.map((v) => v.ref))} share an identifier but their versions cannot be ordered (no or equal meta.lastUpdated and issued): each version is read and the most serious counts.` });
    } else {
      choices.push(latest);
      steps.push({ rule: '12', text: `Results ${listText(latest.map((v) => v.ref))} share an identifier but their versions cannot be ordered (no or equal meta.lastUpdated and issued): each version is one of the readings, and the most serious counts.` });
    }
  }
  return { kept, choices, uses, steps };
}

/** Every reading of the data (rule 12), the first being the reading without non-final results. */
export function readingsOf(sorted: readonly ObservationFact[]): Reading[] {
  const nonFinal = sorted.filter(isNonFinalWithValue);
  const bases: { observations: readonly ObservationFact[]; counts: (o: ObservationFact) => boolean; listed: ObservationFact[]; label: string; withNonFinal: boolean }[] = [
    { observations: sorted, counts: (o) => !isNonFinalWithValue(o), listed: nonFinal, label: 'without the non-final results', withNonFinal: false },
  ];
  if (nonFinal.length > 0) {
    const promoted = sorted.map((o) => (isNonFinalWithValue(o) ? { ...o, status: 'used' as const, readAsFinal: o.statusText ?? '' } : o));
    bases.push({ observations: promoted, counts: () => true, listed: [], label: 'with the non-final results read as if final', withNonFinal: true });
  }
  const out: Reading[] = [];
  const notes: TraceStep[] = [];
  if (nonFinal.length > 0) {
    notes.push({
      rule: '12',
      text: `Non-final result${nonFinal.length > 1 ? 's' : ''} (${listTextOf(nonFinal, (o) => `${o.ref}, ${o.statusText ?? ''}`, 5, '; ')}) can only escalate: the data are read without them and with them as if final, and the most serious reading counts.`,
    });
  }
  for (const base of bases) {
    const d = dedupe(base.observations, base.counts);
    // The non-final results of the reading without them are listed (rule 12), never versions of a used result.
    const withListed = [...d.kept, ...base.listed].sort(canonicalOrder);
    const combos = d.choices.reduce((n, c) => n * c.length, 1);
    if (combos * bases.length > MAX_READINGS) {
      // Past the bound: every unordered version is read at once, and each such result is also ambiguous.
      const conflicted = new Set<ObservationFact>();
      const all = [...withListed];
      for (const c of d.choices) {
        const [rep, ...rest] = c as [ObservationFact, ...ObservationFact[]];
        const copy = { ...rep, identities: [] };
        conflicted.add(copy);
        all.push(rep, copy, ...rest);
      }
      const step = { rule: '12', text: `${count(d.choices.length)} results have versions that cannot be ordered, more readings than the pathway weighs one by one: every version is read at once, and each such result is also ambiguous (at least indeterminate).` };
      out.push({ observations: all.sort(canonicalOrder), conflicted, uses: d.uses, steps: [...notes, ...d.steps, step], label: base.label, withNonFinal: base.withNonFinal });
      continue;
    }
    let partial: { picks: ObservationFact[]; label: string }[] = [{ picks: [], label: base.label }];
    for (const c of d.choices) {
      partial = partial.flatMap((p) => c.map((v) => ({ picks: [...p.picks, v], label: `${p.label}; ${v.ref}` })));
    }
    for (const p of partial) {
      const chosen = new Set(p.picks);
      const uses = [...d.uses];
      for (const c of d.choices) for (const v of c) if (!chosen.has(v)) uses.push({ ref: v.ref, kind: v.kind, use: 'superseded', reason: 'another version of the same result is read in this reading (rule 12)' });
      out.push({ observations: [...withListed, ...p.picks].sort(canonicalOrder), conflicted: new Set(), uses, steps: [...notes, ...d.steps], label: p.label, withNonFinal: base.withNonFinal });
    }
  }
  return out;
}
