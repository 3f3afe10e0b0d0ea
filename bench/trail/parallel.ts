/**
 * The synthetic trail made by worker threads, written in order by the caller: the events are cut into
 * slices of `sliceEvents`, handed to the workers in turn; each worker makes its slice's records (the same
 * records `writeTrail` makes: the ids of a slice start where the events before it leave the seeded
 * generator, see `idsOf`) and the caller appends the slices in event order, so the trail, its ids and its
 * hash chain are those of `writeTrail` whatever the number of workers (tests/integration/trail-bulk.test.ts).
 * Each worker keeps its own cache of decided cases (bench/trail/decisions.ts).
 */
import { Worker } from 'node:worker_threads';
import { randomEpisodes } from './episodes.js';
import { eventsOf, idsOf, type TrailEntry, type TrailWriter } from './records.js';

export interface TrailSpec {
  readonly seed: number;
  readonly episodes: number;
  readonly startMs: number;
  readonly days: number;
  readonly engineVersion: string;
  /** One reused decision in this many is decided again by the engine and compared. */
  readonly checkEvery: number;
}

export interface SliceRequest {
  readonly slice: number;
  readonly from: number;
  readonly to: number;
  readonly firstId: number;
}

export type WorkerReply = { readonly slice: number; readonly entries: TrailEntry[] } | { readonly error: string } | { readonly stats: { decided: number; reused: number; checked: number } };

export async function writeTrailParallel(writer: TrailWriter, spec: TrailSpec, workers: number, sliceEvents = 2000): Promise<{ records: number; decided: number; reused: number; checked: number }> {
  const events = eventsOf(randomEpisodes(spec.seed, spec.episodes, spec.startMs, spec.days));
  const slices: SliceRequest[] = [];
  let firstId = 0;
  for (let from = 0; from < events.length; from += sliceEvents) {
    const to = Math.min(events.length, from + sliceEvents);
    slices.push({ slice: slices.length, from, to, firstId });
    for (let i = from; i < to; i++) firstId += idsOf(events[i] as (typeof events)[number]);
  }
  const pool = Array.from({ length: Math.max(1, workers) }, () => new Worker(new URL('./worker-entry.mjs', import.meta.url), { workerData: spec }));
  const done = new Map<number, TrailEntry[]>();
  const waiting = new Map<number, () => void>();
  const stats = { records: 0, decided: 0, reused: 0, checked: 0 };
  let failure: Error | undefined;
  const finished = pool.map(
    (w) =>
      new Promise<void>((resolve) => {
        w.on('message', (m: WorkerReply) => {
          if ('entries' in m) {
            done.set(m.slice, m.entries);
            waiting.get(m.slice)?.();
          } else if ('error' in m) {
            failure ??= new Error(m.error);
            for (const wake of waiting.values()) wake();
          } else {
            stats.decided += m.stats.decided;
            stats.reused += m.stats.reused;
            stats.checked += m.stats.checked;
            resolve();
          }
        });
        w.on('error', (e) => {
          failure ??= e;
          for (const wake of waiting.values()) wake();
          resolve();
        });
      }),
  );
  // Each worker has at most two slices asked ahead of the one being written.
  const ahead = 2 * pool.length;
  let asked = 0;
  const ask = (): void => {
    const s = slices[asked];
    if (s === undefined) return;
    (pool[asked % pool.length] as Worker).postMessage(s);
    asked += 1;
  };
  try {
    while (asked < Math.min(ahead, slices.length)) ask();
    for (let k = 0; k < slices.length; k++) {
      if (!done.has(k)) await new Promise<void>((r) => waiting.set(k, r));
      waiting.delete(k);
      if (failure !== undefined) throw failure;
      const entries = done.get(k) ?? [];
      done.delete(k);
      ask();
      for (const e of entries) await writer.append(e.input, e.id);
      stats.records += entries.length;
    }
    await writer.flush();
    for (const w of pool) w.postMessage('stats');
    await Promise.all(finished);
    return stats;
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}
