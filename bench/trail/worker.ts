/** A worker of bench/trail/parallel.ts: makes the records of the slices of events it is asked for. */
import { parentPort, workerData } from 'node:worker_threads';
import { loadRuntime } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';
import { canonicalJson } from '../../src/util/canonical-json.js';
import { caseDecisions } from './decisions.js';
import { randomEpisodes } from './episodes.js';
import type { SliceRequest, TrailSpec, WorkerReply } from './parallel.js';
import { eventsOf, SITE_SETTINGS, trailRecords, type TrailEntry } from './records.js';

const spec = workerData as TrailSpec;
const port = parentPort;
if (port === null) throw new Error('bench/trail/worker.ts runs as a worker thread');
const rt = await loadRuntime(loadSettings({ object: SITE_SETTINGS }));
const events = eventsOf(randomEpisodes(spec.seed, spec.episodes, spec.startMs, spec.days));
const decisions = caseDecisions(rt, spec.checkEvery);
const reply = (m: WorkerReply): void => port.postMessage(m);
// Slices are made one at a time, in the order asked.
let queue: Promise<void> = Promise.resolve();
port.on('message', (m: SliceRequest | 'stats') => {
  queue = queue.then(async () => {
    if (m === 'stats') return reply({ stats: decisions.stats });
    try {
      const entries: TrailEntry[] = [];
      for await (const r of trailRecords(events.slice(m.from, m.to), rt, spec.seed, spec.engineVersion, decisions, m.firstId)) {
        // The body with its keys in canonical order (the same content): the writer's canonical pass then finds
        // every object in order and lets JSON.stringify write it, so the sorting is done here, off its thread.
        entries.push({ id: r.id, input: { ...r.input, body: JSON.parse(canonicalJson(r.input.body)) as unknown } });
      }
      reply({ slice: m.slice, entries });
    } catch (e) {
      reply({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    }
  });
});
