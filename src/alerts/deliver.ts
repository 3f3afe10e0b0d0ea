/**
 * Delivery of the alert outbox to the notification webhooks: each alert is a POST of its stored JSON
 * body with `X-Hs-Troponin-Signature: sha256=<hex HMAC-SHA256 of the body with the notification's
 * secret>`, `X-Hs-Troponin-Delivery` (the alert id: a receiver that saw it already may ignore it) and
 * `X-Hs-Troponin-Event`. A 2xx answer delivers it; anything else (or no answer within the timeout) is
 * retried with exponential back-off, and after `maxAttempts` it becomes a dead letter that admins read
 * (GET /notifications/dead-letters). Alerts are claimed with a lease, so two processes never deliver one
 * at the same time. Nothing here runs in the intake path: an alert failure never blocks a result.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { AlertRow, LabOutbox } from '../audit/store.js';

export const SIGNATURE_HEADER = 'x-hs-troponin-signature';

export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

export interface DeliveryOptions {
  /** Most alerts delivered per run (side by side). */
  readonly batch: number;
  readonly leaseMs: number;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  /** Back-off after attempt n: min(capMs, baseMs * 2^(n-1)). */
  readonly baseMs: number;
  readonly capMs: number;
  /** Dead letters kept (the oldest beyond it are removed at each prune). */
  readonly keepDead: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = { batch: 20, leaseMs: 60_000, timeoutMs: 5_000, maxAttempts: 8, baseMs: 10_000, capMs: 900_000, keepDead: 10_000 };

export type Poster = (url: string, body: string, headers: Record<string, string>, timeoutMs: number) => Promise<number>;

/** POST with a timeout; redirects are not followed (a 3xx is a failure). Resolves with the status. */
export const httpPost: Poster = async (url, body, headers, timeoutMs) => {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const res = await fetch(url, { method: 'POST', body, headers, redirect: 'manual', signal: controller.signal });
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  } finally {
    clearTimeout(timer);
  }
};

export class AlertDelivery {
  constructor(
    private readonly outbox: LabOutbox,
    private readonly secrets: ReadonlyMap<string, string>,
    private readonly now: () => Date,
    private readonly logger: Logger,
    private readonly post: Poster = httpPost,
    private readonly opts: DeliveryOptions = DEFAULT_DELIVERY,
  ) {}

  /** Delivers the alerts due now (one batch). Never rejects: a store failure is logged and retried next run. */
  async runOnce(): Promise<number> {
    let claimed: AlertRow[];
    try {
      claimed = await this.outbox.claimAlerts(this.now().getTime(), this.opts.leaseMs, this.opts.batch);
    } catch (e) {
      this.logger.error({ event: 'alert-claim-failed', err: e }, 'alerts could not be claimed; retrying on the next run');
      return 0;
    }
    await Promise.all(claimed.map((a) => this.deliver(a)));
    return claimed.length;
  }

  private async deliver(a: AlertRow): Promise<void> {
    const secret = this.secrets.get(a.url);
    let error: string | null = null;
    if (secret === undefined) error = 'the notification is no longer in the settings';
    else {
      try {
        const status = await this.post(a.url, a.body, { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature(secret, a.body), 'x-hs-troponin-delivery': a.id, 'x-hs-troponin-event': a.event }, this.opts.timeoutMs);
        if (status < 200 || status >= 300) error = `HTTP ${status}`;
      } catch (e) {
        error = e instanceof Error ? `${e.name}: ${e.message}`.slice(0, 300) : 'the request failed';
      }
    }
    const nowMs = this.now().getTime();
    const at = new Date(nowMs).toISOString();
    const dead = error !== null && (secret === undefined || a.attempts >= this.opts.maxAttempts);
    const outcome = error === null ? { status: 'delivered' as const, nextAttemptMs: nowMs, error: null, at } : { status: dead ? ('dead' as const) : ('pending' as const), nextAttemptMs: nowMs + Math.min(this.opts.capMs, this.opts.baseMs * 2 ** Math.max(0, a.attempts - 1)), error, at };
    if (error === null) this.logger.info({ event: 'alert-delivered', alertId: a.id, episodeId: a.episodeId, kind: a.event, attempts: a.attempts }, 'alert delivered');
    else this.logger.warn({ event: dead ? 'alert-dead-letter' : 'alert-retry', alertId: a.id, episodeId: a.episodeId, attempts: a.attempts, error }, dead ? 'alert moved to the dead letters' : 'alert delivery failed; retrying with back-off');
    try {
      await this.outbox.finishAlert(a.id, outcome);
    } catch (e) {
      // The lease runs out and the alert is tried again: at least once, never lost.
      this.logger.error({ event: 'alert-finish-failed', alertId: a.id, err: e }, 'alert outcome could not be recorded');
    }
  }

  prune(changesBeforeMs: number): Promise<void> {
    return this.outbox.prune(this.opts.keepDead, changesBeforeMs);
  }
}
