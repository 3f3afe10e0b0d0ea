/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * PostgreSQL connections that die outside a request (an administrator's pg_terminate_backend, an
 * `idle_in_transaction_session_timeout`, a restart, a dropped network) never take the process down, and
 * the store recovers on its next use: the real service process (`node dist/server.js`) on the test
 * PostgreSQL, its connections found by an application_name of its own and terminated from another
 * connection, while idle and while in a transaction (waiting for the chain's writer lock). The call that
 * was in the transaction gets 503 (nothing stored, retry); /healthz answers and says what was lost; the
 * next call succeeds. Never a crash, never a 500.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockKey } from '../../src/audit/postgres-schema.js';
import { serverProcess, type Server } from '../support/server-process.js';
import { PG_URL, pgAvailable, requireService } from '../support/services.js';
import { http, LAB_TOKEN, troponin, WORKLIST_TOKEN } from '../support/lab.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());

describe.runIf(runPg)('PostgreSQL connections lost outside a request', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tnp-pg-loss-'));
  const kit = serverProcess(dir);
  const tag = randomUUID().slice(0, 8);
  const schema = `tnp_loss_${tag}`;
  const appName = `tnp-loss-${tag}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  let server: Server;

  const backends = async (where = '', args: readonly unknown[] = []): Promise<number[]> =>
    (await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 ${where}`, [appName, ...args])).rows.map((r) => r.pid);
  const terminate = async (pids: readonly number[]): Promise<void> => {
    for (const pid of pids) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    // Terminated backends leave pg_stat_activity once gone: wait for that (state, not time).
    for (let i = 0; i < 500 && (await backends('AND pid = ANY($2::int[])', [pids])).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  };
  const post = (nhs: string, id: string) => http(server.url, 'POST', '/fhir/Observation', LAB_TOKEN, troponin({ nhs, at: new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z'), value: 10, id }));
  const alive = (): boolean => server.proc.exitCode === null && server.proc.signalCode === null;

  beforeAll(async () => {
    await admin.connect();
    const file = kit.settingsFile({
      storage: { kind: 'postgres', url: `${PG_URL}?application_name=${appName}&schema=${schema}` },
      labClients: [{ name: 'main-lab', token: LAB_TOKEN }],
      worklistTokens: [WORKLIST_TOKEN],
      healthCheckIntervalMs: 3_600_000,
    });
    server = await kit.start(file);
    expect((await post('9200000001', `first-${tag}`)).status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    if (server !== undefined) await kit.stop(server);
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('idle connections terminated: the process stays up, /healthz answers and names the loss, the next result is stored', async () => {
    const idle = await backends(`AND state = 'idle'`);
    expect(idle.length).toBeGreaterThan(0);
    await terminate(idle);
    expect(alive()).toBe(true);
    const health = await http(server.url, 'GET', '/healthz', null);
    expect([200, 503]).toContain(health.status);
    expect(health.json.storeConnectionLost).toMatchObject({ at: expect.any(String), problem: expect.stringMatching(/terminat/i) });
    const next = await post('9200000002', `after-idle-${tag}`);
    expect(next.status).toBe(201);
    expect(alive()).toBe(true);
    expect((await http(server.url, 'GET', '/healthz', null)).status).toBe(200);
  }, 60_000);

  it('a connection terminated in a transaction (waiting for the writer lock): that call gets 503, the process stays up, the next call succeeds', async () => {
    // Hold the chain's writer lock so that the service's commit waits inside its transaction.
    const holder = new pg.Client({ connectionString: PG_URL });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [lockKey('append', schema)]);
    try {
      const pending = post('9200000003', `in-tx-${tag}`);
      let waiting: number[] = [];
      for (let i = 0; i < 1000 && waiting.length === 0; i++) {
        waiting = await backends(`AND state = 'active' AND wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%'`);
        if (waiting.length === 0) await new Promise((r) => setTimeout(r, 10));
      }
      expect(waiting.length).toBe(1);
      await terminate(waiting);
      const res = await pending;
      expect(res.status).toBe(503);
      expect(res.json.issue[0].details.coding[0].code).toBe('TNP_ERR_AUDIT_UNAVAILABLE');
    } finally {
      await holder.query('SELECT pg_advisory_unlock($1)', [lockKey('append', schema)]);
      await holder.end();
    }
    expect(alive()).toBe(true);
    const health = await http(server.url, 'GET', '/healthz', null);
    expect([200, 503]).toContain(health.status);
    expect(health.json.storeConnectionLost.problem).toMatch(/terminat/i);
    // Nothing of the refused call was stored; sent again, it is.
    const again = await post('9200000003', `in-tx-${tag}`);
    expect(again.status).toBe(201);
    expect(alive()).toBe(true);
    const list = await http(server.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN);
    expect(list.json.episodes.filter((e: any) => e.patient.value === '9200000003')).toHaveLength(1);
    expect(server.output()).not.toMatch(/Unhandled 'error' event|uncaught/i);
  }, 60_000);

  it('a connection terminated in the read an intake plans on: 503 (never a 500), the process stays up, the next call succeeds', async () => {
    // Lock the patients' table so that the intake's snapshot (a REPEATABLE READ transaction) waits in it.
    const holder = new pg.Client({ connectionString: PG_URL });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE "${schema}".lab_patients IN ACCESS EXCLUSIVE MODE`);
    try {
      const pending = post('9200000004', `in-read-${tag}`);
      let waiting: number[] = [];
      for (let i = 0; i < 1000 && waiting.length === 0; i++) {
        waiting = await backends(`AND wait_event_type = 'Lock' AND query LIKE '%lab_patients%'`);
        if (waiting.length === 0) await new Promise((r) => setTimeout(r, 10));
      }
      expect(waiting.length).toBe(1);
      await terminate(waiting);
      const res = await pending;
      expect(res.status).toBe(503);
      expect(res.json.issue[0].details.coding[0].code).toBe('TNP_ERR_AUDIT_UNAVAILABLE');
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    expect(alive()).toBe(true);
    expect((await post('9200000004', `in-read-${tag}`)).status).toBe(201);
  }, 60_000);
});
