/**
 * Timers the test fires by hand (the `timers` dependency of buildApp and of the FHIR pull), so that no
 * test waits on, or races against, the real clock: a timeout happens exactly when the test says so,
 * and never under load by accident.
 *
 * ```ts
 * const timers = manualTimers();
 * const app = await startApp({ ..., timers });
 * const answer = call(app, ...);          // the FHIR server never answers
 * await fhir.until(() => fhir.requests.length === 1);
 * timers.fireAll();                       // fhirPullTimeoutMs has "passed"
 * expect((await answer).status).toBe(412);
 * ```
 */
import type { Timers } from '../../src/util/timers.js';

export interface ManualTimers extends Timers {
  /** Timers set and neither fired nor cancelled. */
  readonly pending: number;
  /** The delays asked for, in order (fired, cancelled or pending). */
  readonly delays: readonly number[];
  /** Fires every pending timer now, whatever its delay; returns how many fired. */
  fireAll(): number;
}

export function manualTimers(): ManualTimers {
  const pending = new Set<() => void>();
  const delays: number[] = [];
  return {
    get pending() {
      return pending.size;
    },
    delays,
    after(ms, fn) {
      delays.push(ms);
      const entry = (): void => fn();
      pending.add(entry);
      return () => {
        pending.delete(entry);
      };
    },
    fireAll() {
      const due = [...pending];
      pending.clear();
      for (const f of due) f();
      return due.length;
    },
  };
}
