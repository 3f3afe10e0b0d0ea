/**
 * A separate process using the audit store, for the crash and multi-process tests
 * (tests/integration/audit-crash.test.ts). Run with `node --import tsx tests/support/audit-child.ts`
 * and its job in the AUDIT_CHILD environment variable (JSON, {@link ChildJob}).
 *
 * It prints one line per acknowledged operation, only after the store resolved it:
 *   `ACK <record id>`  an append resolved (so it is durable),
 *   `JTI <jti> <true|false>`  a replay-guard answer,
 *   `DONE`  the job is finished and the store closed.
 * Writes to a pipe are synchronous on Linux, so a printed line survives a kill -9 that follows it.
 *
 * It always stops by itself: at `deadlineMs`, or when its stdin closes (the test runner went away).
 */
import { randomUUID } from 'node:crypto';
import { openAuditStore, type AuditStoreSettings } from '../../src/audit/store.js';

export interface ChildJob {
  readonly settings: AuditStoreSettings;
  /** `load`: append without end (until killed or the deadline); `count`: append `count` records, then exit. */
  readonly mode: 'load' | 'count';
  readonly count?: number;
  /** Appends in flight at once. */
  readonly concurrency: number;
  /** Replay-guard entries to try (iss "child-test"), interleaved with the appends. */
  readonly jtis?: readonly string[];
  readonly deadlineMs: number;
  readonly tag: string;
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.AUDIT_CHILD ?? '') as ChildJob;
  const deadline = setTimeout(() => {
    process.stderr.write('audit-child: deadline reached, exiting\n');
    process.exit(3);
  }, job.deadlineMs);
  process.stdin.on('end', () => process.exit(4));
  process.stdin.resume();

  const store = await openAuditStore(job.settings, { newId: randomUUID, now: () => new Date() });
  out('READY');
  let started = 0;
  const limit = job.mode === 'count' ? (job.count ?? 0) : Number.POSITIVE_INFINITY;
  const jtis = [...(job.jtis ?? [])];

  const worker = async (): Promise<void> => {
    while (started < limit) {
      const i = started++;
      const r = await store.append({ kind: 'evaluation', at: new Date().toISOString(), patientId: `p-${job.tag}-${i % 7}`, body: { tag: job.tag, i, pad: 'x'.repeat(200) } });
      out(`ACK ${r.id}`);
      const jti = jtis.shift();
      if (jti !== undefined) out(`JTI ${jti} ${String(await store.rememberJti('child-test', jti, new Date(Date.now() + 600_000)))}`);
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  for (const jti of jtis) out(`JTI ${jti} ${String(await store.rememberJti('child-test', jti, new Date(Date.now() + 600_000)))}`);
  await store.close();
  clearTimeout(deadline);
  out('DONE');
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`audit-child failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
