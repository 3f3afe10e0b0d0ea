/**
 * The timers of the worklist, kept as data in the store (each open episode's retest due time and window
 * end), so any process can fire them and none fires twice: a firing is an event planned on the patient's
 * revision, and of two processes firing one timer, one commits and the other's plan is refused, then
 * finds the timer spent. Firing = the episode re-evaluated at now (trigger `retest-overdue`, or
 * `window-passed`, which closes it), audited, with its alerts.
 */
import type { AuditStore } from '../audit/store.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import { EventBuilder } from '../intake/builder.js';
import type { Intake } from '../intake/intake.js';
import type { EpisodeRules } from './rules.js';

export const TIMERS_PER_RUN = 100;

export interface TimerDeps {
  readonly store: AuditStore;
  readonly intake: Intake;
  readonly runtime: PathwayRuntime;
  readonly rules: EpisodeRules;
  readonly now: () => Date;
  readonly newId: () => string;
  readonly engineVersion: string;
}

/** Fires the timers due now (at most TIMERS_PER_RUN); resolves with how many episodes changed. */
export async function fireTimers(deps: TimerDeps): Promise<number> {
  const nowMs = deps.now().getTime();
  const due = await deps.store.lab.dueEpisodes(nowMs, TIMERS_PER_RUN);
  let fired = 0;
  for (const ep of due) {
    const plan = await deps.intake.commit([ep.patientKey], async (snap) => {
      const cur = snap.episodes.find((e) => e.id === ep.id);
      if (cur === undefined || cur.status !== 'open') return null;
      const at = deps.now().getTime();
      const overdue = cur.retestDueMs !== null && at > cur.retestDueMs && cur.overdueFiredMs !== cur.retestDueMs;
      const windowPassed = at >= cur.windowEndsMs;
      if (!overdue && !windowPassed) return null;
      const b = new EventBuilder(snap, { runtime: deps.runtime, rules: deps.rules, nowMs: at, newId: deps.newId, client: 'timer', channel: 'timer', engineVersion: deps.engineVersion, reads: deps.store.lab });
      // Never later than the window's end: past it the results have aged out of the pathway's episode rule.
      b.touch(cur.id, overdue ? 'retest-overdue' : 'window-passed', Math.min(at, cur.windowEndsMs));
      return b.build();
    });
    if (plan !== null) fired += 1;
  }
  return fired;
}
