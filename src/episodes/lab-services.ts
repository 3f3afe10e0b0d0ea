/**
 * The laboratory side of one service process: the intake (both channels use it), the worklist stream,
 * and the background work (timers, alert delivery, stream polls, pruning), driven by an injected ticker
 * so tests run each step when they choose (`runOnce`) and never wait on real time.
 */
import type { Logger } from 'pino';
import type { AuditStore } from '../audit/store.js';
import { AlertDelivery, DEFAULT_DELIVERY, type Poster, httpPost } from '../alerts/deliver.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import { createIntake, type Intake } from '../intake/intake.js';
import type { Settings } from '../settings.js';
import { episodeRules, type EpisodeRules } from './rules.js';
import { EpisodeStream } from './stream.js';
import { fireTimers } from './timers.js';

/** Runs `fn` every `ms` (never two runs at once); returns a function that stops it. */
export interface Ticker {
  every(ms: number, fn: () => Promise<unknown>): () => void;
}

export const realTicker: Ticker = {
  every(ms, fn) {
    let running = false;
    const t = setInterval(() => {
      if (running) return;
      running = true;
      fn()
        .catch(() => undefined)
        .finally(() => (running = false));
    }, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

/** How long the change feed is kept for streams to resume from. */
export const CHANGE_FEED_KEEP_MS = 24 * 3_600_000;

export interface LabServices {
  readonly intake: Intake;
  readonly rules: EpisodeRules;
  readonly stream: EpisodeStream;
  readonly delivery: AlertDelivery;
  /** One round of background work: timers, alert delivery, stream poll. */
  runOnce(): Promise<{ timers: number; alerts: number }>;
  /** Starts the background work on the ticker; the returned function stops it. */
  start(ticker?: Ticker): () => void;
}

export interface LabDeps {
  readonly store: AuditStore;
  readonly runtime: PathwayRuntime;
  readonly now: () => Date;
  readonly newId: () => string;
  readonly logger: Logger;
  readonly engineVersion: string;
  /** How alerts are POSTed (default: fetch with a timeout). */
  readonly post?: Poster;
}

export function createLabServices(settings: Settings, deps: LabDeps): LabServices {
  const rules = episodeRules(deps.runtime, settings.notifications);
  const intake = createIntake({ ...deps, rules });
  const stream = new EpisodeStream(deps.store.lab);
  const secrets = new Map(settings.notifications.map((n) => [n.url, n.secret]));
  const delivery = new AlertDelivery(deps.store.lab, secrets, deps.now, deps.logger, deps.post ?? httpPost, DEFAULT_DELIVERY);
  const timerDeps = { store: deps.store, intake, runtime: deps.runtime, rules, now: deps.now, newId: deps.newId, engineVersion: deps.engineVersion };

  const timers = async (): Promise<number> => {
    try {
      return await fireTimers(timerDeps);
    } catch (e) {
      deps.logger.error({ event: 'lab-timers-failed', err: e }, 'worklist timers could not run; retrying on the next tick');
      return 0;
    }
  };

  const runOnce = async (): Promise<{ timers: number; alerts: number }> => {
    const t = await timers();
    const alerts = await delivery.runOnce();
    await stream.poll();
    return { timers: t, alerts };
  };

  return {
    intake,
    rules,
    stream,
    delivery,
    runOnce,
    start(ticker = realTicker) {
      const stops = [
        ticker.every(5_000, timers),
        ticker.every(2_000, () => delivery.runOnce()),
        ticker.every(1_000, () => stream.poll()),
        ticker.every(15_000, () => Promise.resolve(stream.heartbeat())),
        ticker.every(3_600_000, () => delivery.prune(deps.now().getTime() - CHANGE_FEED_KEEP_MS).catch(() => undefined)),
      ];
      return () => {
        for (const s of stops) s();
        stream.close();
      };
    },
  };
}
