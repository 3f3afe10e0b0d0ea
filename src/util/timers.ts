/**
 * One-shot timers as a dependency. The FHIR pull's time bound (`fhirPullTimeoutMs`) is set through this,
 * so that tests fire it when they choose (tests/support/manual-timers.ts) instead of racing the real
 * clock, and so that no test depends on real elapsed time.
 */
export interface Timers {
  /** Calls `fn` once, `ms` milliseconds from now; the function returned cancels it. */
  after(ms: number, fn: () => void): () => void;
}

/** The real clock's timers. */
export const realTimers: Timers = {
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};
