/**
 * The adoption report over a configured audit store: opens the roll-up beside the trail (writable for the
 * service, read-only for the command line), brings it up to the head of the chain, and builds the report.
 * Catch-ups in one process run one at a time; across processes the roll-up's commit condition keeps every
 * record counted once (docs/adoption.md "Roll-up").
 */
import type { AuditStoreSettings } from '../audit/store.js';
import { buildReport, type ReportModel, type ReportQuery } from './report.js';
import { vocabulariesFrom, type Vocabularies } from './rollup.js';
import { periodOf } from './periods.js';
import { catchUp, MemoryTables, type CatchUpResult, type RecordSource, type RollupTables } from './tables.js';
import { loadVocabularies, type PathwayVocabulary } from './vocabulary.js';

export type AdoptionBackend = RollupTables & RecordSource & { readonly readOnly: boolean; readonly hasTables: boolean; close(): Promise<void> };

/** Opens the roll-up of the store in `storage` (the same shape as the settings' `storage`). */
export async function openAdoptionBackend(storage: AuditStoreSettings, opts: { readOnly: boolean; busyTimeoutMs?: number }): Promise<AdoptionBackend> {
  if (storage.kind === 'sqlite') {
    const path = await import('node:path');
    const { SqliteAdoption } = await import('./sqlite-tables.js');
    return new SqliteAdoption(path.resolve(storage.path), opts.readOnly, opts.busyTimeoutMs ?? 5000);
  }
  const { PostgresAdoption } = await import('./postgres-tables.js');
  return PostgresAdoption.open(storage.url, storage.schema, opts.readOnly);
}

export interface AdoptionOptions {
  readonly now: () => Date;
  readonly lateRetestMinutes: number;
  /** Pathway files (default: the shipped pathways/). */
  readonly vocabularies?: ReadonlyMap<string, PathwayVocabulary>;
  /** Records a report request rolls up at most before it answers (the rest waits for the next catch-up). */
  readonly maxCatchUpPerReport?: number;
  readonly batchSize?: number;
}

export class AdoptionReports {
  private readonly vocab: Vocabularies;
  private running: Promise<CatchUpResult> | null = null;

  constructor(
    private readonly backend: AdoptionBackend,
    private readonly opts: AdoptionOptions,
  ) {
    this.vocab = vocabulariesFrom(opts.vocabularies ?? loadVocabularies());
  }

  /** Rolls up what was appended since the last catch-up (one at a time in this process). */
  catchUp(maxRecords?: number): Promise<CatchUpResult> {
    if (this.backend.readOnly) return Promise.resolve({ applied: 0, lastSeq: 0, rebuilt: false });
    if (this.running !== null) return this.running;
    const run = catchUp(this.backend, this.backend, this.vocab, {
      ...(maxRecords === undefined ? {} : { maxRecords }),
      ...(this.opts.batchSize === undefined ? {} : { batchSize: this.opts.batchSize }),
      yieldBetween: () => new Promise((r) => setImmediate(r)),
    }).finally(() => {
      this.running = null;
    });
    this.running = run;
    return run;
  }

  /** The roll-up to read: the store's own, or (read-only) the store's with the unrolled tail added in memory. */
  private async tables(): Promise<{ tables: RollupTables; throughSeq: number }> {
    if (!this.backend.readOnly) {
      const r = await this.catchUp(this.opts.maxCatchUpPerReport);
      return { tables: this.backend, throughSeq: r.lastSeq };
    }
    const head = await this.backend.head();
    const usable = head !== null && head.lastSeq >= 0 && (head.lastSeq === 0 || (await this.backend.hashAt(head.lastSeq)) === head.lastHash);
    const overlay = new MemoryTables(usable ? this.backend : null);
    const r = await catchUp(this.backend, overlay, this.vocab, this.opts.batchSize === undefined ? {} : { batchSize: this.opts.batchSize });
    return { tables: overlay, throughSeq: r.lastSeq };
  }

  async report(query: ReportQuery): Promise<ReportModel> {
    const { tables, throughSeq } = await this.tables();
    const g = query.granularity;
    const rows = await tables.counts({ granularity: g, from: periodOf(Date.parse(`${query.from}T00:00:00Z`), g), to: query.to, pathwayId: query.pathwayId });
    return buildReport(rows, this.vocab, query, { generatedAt: this.opts.now().toISOString(), throughSeq, lateRetestMinutes: this.opts.lateRetestMinutes });
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

export interface RunningAdoption {
  readonly reports: AdoptionReports;
  /** Stops the background catch-up and closes the roll-up's connection. */
  stop(): Promise<void>;
}

/**
 * The service's adoption report: its roll-up opened beside the audit store, and a catch-up every
 * `intervalMs` (default 60 s; timer unref'd) so a report finds little to roll up. A failed catch-up is
 * logged and retried at the next tick; the trail itself is never touched.
 */
export async function startAdoption(
  storage: AuditStoreSettings,
  opts: AdoptionOptions & { readonly intervalMs?: number; readonly busyTimeoutMs?: number; readonly onError?: (e: unknown) => void },
): Promise<RunningAdoption> {
  const backend = await openAdoptionBackend(storage, { readOnly: false, ...(opts.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: opts.busyTimeoutMs }) });
  const reports = new AdoptionReports(backend, { maxCatchUpPerReport: 20_000, ...opts });
  const tick = (): void => {
    reports.catchUp().catch((e: unknown) => opts.onError?.(e));
  };
  const timer = setInterval(tick, opts.intervalMs ?? 60_000);
  timer.unref();
  tick();
  return {
    reports,
    async stop() {
      clearInterval(timer);
      await reports.catchUp(0).catch(() => undefined);
      await reports.close();
    },
  };
}
