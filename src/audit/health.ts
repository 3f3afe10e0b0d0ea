/**
 * Whether the store can write, for `/healthz` and for the start: a read proves nothing here (a store on
 * a full disk, on a read-only file or behind a user without INSERT reads fine while every record fails).
 *
 * The answer is the freshest durable write: either a group commit the store made anyway (calls under
 * load cost nothing more), or, when none is fresher than `intervalMs`, a heartbeat: one committed,
 * fsync'd upsert of one row in `audit_health`, a table outside the chain (see docs/audit.md). Heartbeats
 * are bounded: at most one at a time (concurrent callers share it) and none while a write is fresher
 * than the interval, however often health is asked.
 */

/** The last connection the store lost outside a caller's query (PostgreSQL), for /healthz. */
export interface ConnectionLoss {
  readonly at: string;
  readonly problem: string;
}

export type WriteCheck =
  | { readonly ok: true; readonly checkedAt: string; readonly connectionLost?: ConnectionLoss }
  | { readonly ok: false; readonly checkedAt: string; readonly problem: string; readonly connectionLost?: ConnectionLoss };

const MAX_PROBLEM = 300;

/**
 * The driver's reason, fit to show on an unauthenticated endpoint: one line, bounded, without the
 * credentials of any URL it quotes, with the driver's code (SQLITE_READONLY, 42501...) when it has one.
 */
export function problemOf(e: unknown): string {
  let text = e instanceof Error ? e.message : String(e);
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && code !== '' && !text.includes(code)) text += ` (${code})`;
  text = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1').replace(/\s+/g, ' ').trim();
  return text.length > MAX_PROBLEM ? `${text.slice(0, MAX_PROBLEM - 3)}...` : text;
}

export class WriteHealth {
  private last: WriteCheck | undefined;
  private lastMs = Number.NEGATIVE_INFINITY;
  private probing: Promise<WriteCheck> | undefined;
  /** Heartbeats written (or tried) since open. */
  probes = 0;
  /** The last connection lost outside a query (see {@link suspect}). */
  lastLoss: ConnectionLoss | undefined;

  /**
   * @param heartbeat - one durable write, outside the chain; rejects when it cannot be committed.
   * @param now - the clock (injected).
   * @param intervalMs - how long a write outcome answers for the store.
   */
  constructor(
    private readonly heartbeat: (atMs: number) => Promise<void>,
    private readonly now: () => Date,
    private readonly intervalMs: number,
  ) {}

  /** The outcome of a write the store made anyway (a group commit). */
  note(ok: boolean, error?: unknown): WriteCheck {
    const at = this.now();
    const check: WriteCheck = ok ? { ok: true, checkedAt: at.toISOString() } : { ok: false, checkedAt: at.toISOString(), problem: problemOf(error) };
    this.last = check;
    this.lastMs = at.getTime();
    return check;
  }

  /**
   * A connection was lost outside any query (the database terminated it, a timeout, a restart): what the
   * last write proved no longer holds, so the next check writes a heartbeat (on a fresh connection)
   * instead of answering from it, and the loss is kept to be named.
   */
  suspect(e: unknown): void {
    this.lastLoss = { at: this.now().toISOString(), problem: `a database connection was lost: ${problemOf(e)}` };
    this.lastMs = Number.NEGATIVE_INFINITY;
  }

  /** The freshest outcome if younger than the interval (unless `fresh`), else a heartbeat's (shared). */
  check(fresh = false): Promise<WriteCheck> {
    if (!fresh && this.last !== undefined && this.now().getTime() - this.lastMs < this.intervalMs) return Promise.resolve(this.last);
    this.probing ??= this.probe().finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  /** Resolves when no heartbeat is running (for close). */
  async settled(): Promise<void> {
    await this.probing;
  }

  private async probe(): Promise<WriteCheck> {
    this.probes += 1;
    try {
      await this.heartbeat(this.now().getTime());
      return this.note(true);
    } catch (e) {
      return this.note(false, e);
    }
  }
}
