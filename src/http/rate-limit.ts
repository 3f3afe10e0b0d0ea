/**
 * Per-client rate limits of the endpoints anyone can call (settings `rateLimit`, README "Settings"),
 * with @fastify/rate-limit. Each group of routes is an encapsulated Fastify context with its own
 * budget per client; a client is its address (`req.ip`: behind `trustedProxies`, the address
 * X-Forwarded-For gives). Past the budget the answer is 429 with `Retry-After` and an
 * OperationOutcome (`TNP_ERR_RATE_LIMITED`), before the body is read.
 *
 * The windows follow the app's injected clock (the plugin's own store reads `Date.now()`): the store
 * below keeps the plugin's fixed window per client, in an LRU of bounded size.
 */
import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { LRUCache } from 'lru-cache';
import { TnpError } from '../errors.js';
import type { RateLimitRule, RateLimitSettings } from '../settings.js';

/** Clients remembered per group; the least recently seen is forgotten first. */
const MAX_CLIENTS = 10_000;

type StoreCallback = (error: Error | null, result?: { current: number; ttl: number }) => void;

/** A fixed-window counter per client, on the injected clock. */
function clockedStore(now: () => Date): new () => FastifyRateLimitStore {
  return class ClockedStore implements FastifyRateLimitStore {
    private readonly windows = new LRUCache<string, { count: number; startMs: number }>({ max: MAX_CLIENTS });

    incr(key: string, callback: StoreCallback, timeWindow: number): void {
      const t = now().getTime();
      let w = this.windows.get(key);
      if (w === undefined || w.startMs + timeWindow <= t) w = { count: 0, startMs: t };
      w.count += 1;
      this.windows.set(key, w);
      callback(null, { current: w.count, ttl: w.startMs + timeWindow - t });
    }

    read(key: string, callback: StoreCallback, timeWindow: number): void {
      const t = now().getTime();
      const w = this.windows.get(key);
      callback(null, w === undefined || w.startMs + timeWindow <= t ? { current: 0, ttl: 0 } : { current: w.count, ttl: w.startMs + timeWindow - t });
    }

    child(): FastifyRateLimitStore {
      return new ClockedStore();
    }
  };
}

function describeWindow(ms: number): string {
  if (ms % 3_600_000 === 0) return ms === 3_600_000 ? 'hour' : `${ms / 3_600_000} hours`;
  if (ms % 60_000 === 0) return ms === 60_000 ? 'minute' : `${ms / 60_000} minutes`;
  return `${Math.round(ms / 1000)} seconds`;
}

export interface RateLimitOptions {
  readonly now: () => Date;
  /** Called once per refused request (metrics). */
  readonly onLimited?: (group: keyof RateLimitSettings) => void;
}

/**
 * Limits every route registered in `scope` (an encapsulated context) after this call, with the budget
 * of `group`.
 */
export async function limitRoutes(scope: FastifyInstance, group: keyof RateLimitSettings, rule: RateLimitRule, opts: RateLimitOptions): Promise<void> {
  const window = describeWindow(rule.timeWindowMs);
  await scope.register(rateLimit, {
    global: true,
    max: rule.max,
    timeWindow: rule.timeWindowMs,
    store: clockedStore(opts.now),
    onExceeded: () => opts.onLimited?.(group),
    errorResponseBuilder: (_req, ctx) =>
      new TnpError('TNP_ERR_RATE_LIMITED', `too many requests from this client (${group}: at most ${ctx.max} per ${window}); retry in ${Math.max(1, Math.ceil(ctx.ttl / 1000))} s`),
  });
}
