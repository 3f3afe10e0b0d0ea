/**
 * Hazard S-70: a cluster on SQLite whose host CPU is starved. The workers take the one writer lock in turn;
 * a worker descheduled while it holds the lock made the others' writes give up after 5 s, and their calls
 * were answered 503 (no record, no card). With several workers the store now waits `busyTimeoutMs`
 * (default 15 000 ms; 5 000 ms in one process) for the lock, through the same options the service and the
 * cluster's primary open the store with (`storeOptionsOf`).
 *
 * The lock is held by another process (better-sqlite3 waits for a lock inside the waiting process, so the
 * holder cannot be this one) for 7 s: longer than one process waits, well within what a worker waits.
 * No assertion is on elapsed time: a late holder only makes the single process's refusal more certain.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openAuditStore, storeOptionsOf, type AuditStore } from '../../src/audit/store.js';
import { isTnpError } from '../../src/errors.js';
import { loadSettings } from '../../src/settings.js';

const dir = mkdtempSync(join(tmpdir(), 'tnp-busy-'));
const stores: AuditStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Another process takes the writer lock of every file, says LOCKED, and holds it for `ms`. */
function holdWriteLocks(files: readonly string[], ms: number): Promise<{ exited: Promise<number | null> }> {
  const script = `
    const Database = require('better-sqlite3');
    const dbs = ${JSON.stringify(files)}.map((f) => new Database(f, { timeout: 5000 }));
    for (const db of dbs) db.exec('BEGIN IMMEDIATE');
    process.stdout.write('LOCKED\\n');
    setTimeout(() => { for (const db of dbs) { db.exec('ROLLBACK'); db.close(); } process.exit(0); }, ${ms});`;
  const child = spawn(process.execPath, ['-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      if (b.toString().includes('LOCKED')) resolve({ exited });
    });
    child.on('exit', (code) => reject(new Error(`the lock holder exited (${String(code)}) before it held the locks`)));
  });
}

const record = { kind: 'evaluation' as const, at: '2026-03-01T10:00:00.000Z', patientId: 'p', body: { outcome: 'rule-out' } };

describe('busyTimeoutMs (hazard S-70)', () => {
  it('defaults to 15 000 ms with several workers and 5 000 ms in one process; a value given wins; out of range is refused', () => {
    expect(loadSettings({ object: { workers: 2 } }).busyTimeoutMs).toBe(15000);
    expect(loadSettings({ object: { workers: 1 } }).busyTimeoutMs).toBe(5000);
    expect(loadSettings({ object: { workers: 4, busyTimeoutMs: 30000 } }).busyTimeoutMs).toBe(30000);
    expect(loadSettings({ object: { workers: 1, busyTimeoutMs: 250 } }).busyTimeoutMs).toBe(250);
    expect(storeOptionsOf(loadSettings({ object: { workers: 2, healthCheckIntervalMs: 700 } }))).toEqual({ healthCheckIntervalMs: 700, busyTimeoutMs: 15000 });
    for (const bad of [50, 120001, 1.5, '15000']) {
      expect(() => loadSettings({ object: { busyTimeoutMs: bad } })).toThrow(/busyTimeoutMs/);
    }
  });

  it("a cluster's write waits out a writer lock held 7 s by another process; one process's write is refused 503 and writes nothing", async () => {
    const single = loadSettings({ object: { workers: 1, storage: { kind: 'sqlite', path: join(dir, 'single.sqlite') } } });
    const cluster = loadSettings({ object: { workers: 2, storage: { kind: 'sqlite', path: join(dir, 'cluster.sqlite') } } });
    const deps = { newId: randomUUID, now: () => new Date('2026-03-01T10:00:00.000Z') };
    const one = await openAuditStore(single.storage, deps, storeOptionsOf(single));
    const many = await openAuditStore(cluster.storage, deps, storeOptionsOf(cluster));
    stores.push(one, many);
    const paths = [single.storage, cluster.storage].map((s) => (s.kind === 'sqlite' ? s.path : ''));
    const holder = await holdWriteLocks(paths, 7000);

    // One process gives up after its 5 s: the safe answer (503, nothing written).
    const refused: unknown = await one.append(record).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isTnpError(refused) ? { code: refused.code, status: refused.status } : refused).toEqual({ code: 'TNP_ERR_AUDIT_UNAVAILABLE', status: 503 });
    // The cluster's worker waits for the lock and writes its record.
    const written = await many.append(record);
    expect(written.seq).toBe(1);
    expect(await holder.exited).toBe(0);
    expect(await one.verify()).toMatchObject({ ok: true, records: 0 });
    expect(await many.verify()).toMatchObject({ ok: true, records: 1 });
  }, 60_000);
});
