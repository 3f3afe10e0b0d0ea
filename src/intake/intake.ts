/**
 * The one intake path both channels use (FHIR routes and the HL7 listener map to the same items):
 * snapshot -> plan (results, episode, decide, audit record, alerts) -> one durable commit -> answer.
 *
 * Within a process, events of one patient run one after the other (a keyed queue), so they never
 * conflict with each other; across processes, a plan whose snapshot went stale is refused by the store
 * and planned again (a few times; then 503 TNP_ERR_LAB_BUSY, with nothing stored).
 */
import type { Logger } from 'pino';
import type { AuditStore, LabEvent, LabSnapshot } from '../audit/store.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { EpisodeRules } from '../episodes/rules.js';
import { TnpError } from '../errors.js';
import { EventBuilder, type ItemOutcome, type Plan } from './builder.js';
import type { IntakeItem } from './item.js';

/** Attempts at one event when other processes keep changing its patients. */
const MAX_ATTEMPTS = 8;

export interface IntakeDeps {
  readonly store: AuditStore;
  readonly runtime: PathwayRuntime;
  readonly rules: EpisodeRules;
  readonly now: () => Date;
  readonly newId: () => string;
  readonly engineVersion: string;
  readonly logger: Logger;
}

export interface SubmitContext {
  readonly client: string;
  readonly channel: 'fhir' | 'hl7';
  readonly message?: LabEvent['message'];
}

/** Runs tasks one after the other per key; different keys run side by side. */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const before = sorted.map((k) => this.tails.get(k) ?? Promise.resolve());
    const done = Promise.allSettled(before).then(task);
    const tail = done.catch(() => undefined);
    for (const k of sorted) this.tails.set(k, tail);
    void tail.then(() => {
      for (const k of sorted) if (this.tails.get(k) === tail) this.tails.delete(k);
    });
    return done;
  }
}

export interface Intake {
  /** Stores the items as ONE event (all or nothing) and answers each item's outcome once durable. */
  submit(items: readonly IntakeItem[], ctx: SubmitContext): Promise<ItemOutcome[]>;
  /** Plans and commits an event touching known patients (the timers), with the same queue and retries. */
  commit(patientKeys: readonly string[], plan: (snap: LabSnapshot) => Promise<Plan | null>): Promise<Plan | null>;
  readonly queue: KeyedQueue;
}

export function createIntake(deps: IntakeDeps): Intake {
  const queue = new KeyedQueue();

  const commit = async (patientKeys: readonly string[], keys: readonly string[], plan: (snap: LabSnapshot) => Promise<Plan | null>): Promise<Plan | null> => {
    let last = '';
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let snap = await deps.store.lab.snapshot({ keys, patientKeys });
      // Results found by their keys may belong to patients the items do not name: their episodes too.
      const more = [...snap.results.values()].map((r) => r.row.patientKey).filter((k): k is string => k !== null && !patientKeys.includes(k));
      if (more.length > 0) snap = await deps.store.lab.snapshot({ keys, patientKeys: [...patientKeys, ...more] });
      const p = await plan(snap);
      if (p === null) return null;
      if (p.event.versions.length === 0 && p.event.episodes.length === 0) return p;
      const out = await deps.store.commitEvent(p.event, p.records);
      if (out.ok) return p;
      last = out.conflict;
      deps.logger.debug({ event: 'lab-event-conflict', attempt, conflict: last }, 'lab event planned on a stale snapshot: planning again');
    }
    throw new TnpError('TNP_ERR_LAB_BUSY', `the result could not be stored: its patient kept changing under concurrent posts (${MAX_ATTEMPTS} attempts; last: ${last})`);
  };

  return {
    queue,
    async submit(items, ctx) {
      const patientKeys = [...new Set(items.map((i) => i.patient?.key).filter((k): k is string => k !== undefined))];
      const keys = [...new Set(items.flatMap((i) => [...i.identityKeys, ...(i.ownLookupKeys ?? []), ...(i.ifNoneExist === undefined ? [] : [i.ifNoneExist])]))];
      // Results without a patient are serialised by their keys (no patient revision guards them).
      const lockKeys = patientKeys.length > 0 ? patientKeys.map((k) => `p:${k}`) : keys.map((k) => `k:${k}`);
      const plan = await queue.run(lockKeys, () =>
        commit(patientKeys, keys, async (snap) => {
          const b = new EventBuilder(snap, { runtime: deps.runtime, rules: deps.rules, nowMs: deps.now().getTime(), newId: deps.newId, client: ctx.client, channel: ctx.channel, engineVersion: deps.engineVersion, reads: deps.store.lab });
          for (const item of items) b.add(item);
          return b.build(ctx.message);
        }),
      );
      if (plan === null) throw new TnpError('TNP_ERR_INTERNAL', 'an intake plan came back empty');
      for (const d of plan.decisions) deps.logger.info({ event: 'lab-episode-evaluated', episodeId: d.episodeId, outcome: d.outcome, client: ctx.client, channel: ctx.channel }, 'episode re-evaluated on a laboratory result');
      return plan.outcomes;
    },
    commit: (patientKeys, plan) => queue.run(patientKeys.map((k) => `p:${k}`), () => commit(patientKeys, [], plan)),
  };
}
