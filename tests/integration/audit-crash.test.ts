/**
 * The audit store across real processes:
 * - crash: a child appends under load and prints each acknowledged id; we kill -9 it mid-load, reopen
 *   the store and check that every acknowledged record is there and the chain verifies;
 * - several processes appending to one store keep one valid chain, and a jti is accepted by exactly one.
 * Children only touch the local store (a temp file, or PostgreSQL on 127.0.0.1) and stop by themselves
 * (deadline, or when their stdin closes).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openAuditStore, type AuditStoreSettings } from '../../src/audit/store.js';
import { postgresHarness, sqliteHarness, type AuditHarness } from '../support/audit-harness.js';
import type { ChildJob } from '../support/audit-child.js';
import { pgAvailable, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432 (database test, user postgres)', await pgAvailable(), 'pg_ctlcluster 15 main start');
const harnesses: AuditHarness[] = [sqliteHarness(), ...(runPg ? [postgresHarness()] : [])];
afterAll(async () => {
  for (const h of harnesses) await h.cleanup();
});

const CHILD = fileURLToPath(new URL('../support/audit-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Child {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Complete lines printed so far. */
  readonly lines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

const children: Child[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
});

function startChild(job: ChildJob): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], { cwd: ROOT, env: { ...process.env, AUDIT_CHILD: JSON.stringify(job) }, stdio: 'pipe' });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  const child = { proc, lines, exited, stderr: () => err };
  children.push(child);
  return child;
}

async function waitFor(what: string, cond: () => boolean, child: Child, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (child.proc.exitCode !== null) throw new Error(`child exited (${child.proc.exitCode}) before ${what}: ${child.stderr()}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${child.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const acks = (c: Child): string[] => c.lines.filter((l) => l.startsWith('ACK ')).map((l) => l.slice(4));

async function reopen(settings: AuditStoreSettings): ReturnType<typeof openAuditStore> {
  return openAuditStore(settings, { newId: randomUUID, now: () => new Date() });
}

for (const h of harnesses) {
  describe(`audit store across processes: ${h.name}`, () => {
    it('kill -9 mid-load: every acknowledged record survives and the chain verifies', async () => {
      const settings = h.fresh();
      const child = startChild({ settings, mode: 'load', concurrency: 32, deadlineMs: 45_000, tag: 'crash' });
      await waitFor('READY', () => child.lines.includes('READY'), child, 30_000);
      const target = acks(child).length + 400;
      await waitFor('400 acknowledged appends', () => acks(child).length >= target, child, 30_000);
      child.proc.kill('SIGKILL');
      const exit = await child.exited;
      expect(exit.signal).toBe('SIGKILL');
      const acknowledged = acks(child);
      expect(acknowledged.length).toBeGreaterThanOrEqual(400);

      const store = await reopen(settings);
      try {
        const v = await store.verify();
        expect(v).toMatchObject({ ok: true });
        expect(v.records).toBeGreaterThanOrEqual(acknowledged.length);
        const missing: string[] = [];
        for (const id of acknowledged) if ((await store.get(id)) === null) missing.push(id);
        expect(missing).toEqual([]);
        // The store stays usable after the crash: the chain continues from the head.
        const next = await store.append({ kind: 'evaluation', at: new Date().toISOString(), patientId: 'after-crash', body: {} });
        expect(next).toMatchObject({ seq: v.records + 1, prevHash: v.head });
      } finally {
        await store.close();
      }
    });

    it('three processes appending to one store keep one valid chain; each jti is accepted by exactly one', async () => {
      const settings = h.fresh();
      // Create the store first so the children race on appends, not on creating tables.
      await (await reopen(settings)).close();
      const jtis = Array.from({ length: 30 }, (_, i) => `shared-jti-${i}`);
      const kids = ['a', 'b', 'c'].map((tag) => startChild({ settings, mode: 'count', count: 150, concurrency: 8, jtis, deadlineMs: 45_000, tag }));
      const exits = await Promise.all(kids.map((k) => k.exited));
      expect(exits.map((e) => e.code), kids.map((k) => k.stderr()).join('\n')).toEqual([0, 0, 0]);
      for (const k of kids) expect(k.lines.at(-1)).toBe('DONE');

      const accepted = new Map<string, number>();
      for (const k of kids) {
        for (const l of k.lines.filter((x) => x.startsWith('JTI '))) {
          const [, jti, answer] = l.split(' ');
          if (answer === 'true') accepted.set(jti!, (accepted.get(jti!) ?? 0) + 1);
        }
      }
      expect(jtis.map((j) => accepted.get(j) ?? 0)).toEqual(jtis.map(() => 1));

      const store = await reopen(settings);
      try {
        expect(await store.verify()).toMatchObject({ ok: true, records: 450 });
        const all = kids.flatMap(acks);
        expect(new Set(all).size).toBe(450);
        for (const id of all.slice(0, 30)) expect(await store.get(id)).not.toBeNull();
      } finally {
        await store.close();
      }
    });
  });
}
