/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * Two real service processes (`node dist/server.js`) on one store (PostgreSQL, and one SQLite file on
 * one machine), results for one patient posted to
 * both at once (distinct results, the same result twice, the rule-in retest to both): one episode, every
 * result stored once with one version, no lost update (the last evaluation saw every result), one alert
 * for the rule-in (one outbox row, one delivery id), and a valid audit chain.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresHarness } from '../support/audit-harness.js';
import { serverProcess, type Server } from '../support/server-process.js';
import { PG_URL, pgAvailable, requireService } from '../support/services.js';
import { ecg, http, LAB_TOKEN, timi, troponin, webhookReceiver, WORKLIST_TOKEN, type Receiver } from '../support/lab.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const ADMIN = 'admin-token-0123456789abcdef';

function suite(kind: 'sqlite' | 'postgres'): void {
describe(`two service processes on one ${kind === 'postgres' ? 'PostgreSQL' : 'SQLite file'}`, () => {
  const harness = postgresHarness();
  const dir = mkdtempSync(join(tmpdir(), 'tnp-lab-2p-'));
  const sqlitePath = join(dir, 'shared.sqlite');
  const alertRows = async (episodeId: string): Promise<number> => {
    if (kind === 'sqlite') {
      const db = new Database(sqlitePath, { readonly: true });
      try {
        return (db.prepare(`SELECT count(*) AS n FROM lab_alerts WHERE episode_id = ? AND event = 'outcome-changed'`).get(episodeId) as { n: number }).n;
      } finally {
        db.close();
      }
    }
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      return (await c.query(`SELECT count(*)::int AS n FROM "${schema}".lab_alerts WHERE episode_id = $1 AND event = 'outcome-changed'`, [episodeId])).rows[0].n as number;
    } finally {
      await c.end();
    }
  };
  const kit = serverProcess(dir);
  let a: Server;
  let b: Server;
  let receiver: Receiver;
  let schema: string;
  beforeAll(async () => {
    receiver = await webhookReceiver();
    if (kind === 'postgres') {
      const s = harness.fresh();
      if (s.kind !== 'postgres' || s.schema === undefined) throw new Error('postgres harness');
      schema = s.schema;
    }
    const file = kit.settingsFile({
      storage: kind === 'postgres' ? { kind: 'postgres', url: `${PG_URL}?schema=${schema}` } : { kind: 'sqlite', path: sqlitePath },
      adminTokens: [ADMIN],
      labClients: [{ name: 'main-lab', token: LAB_TOKEN }],
      worklistTokens: [WORKLIST_TOKEN],
      notifications: [{ url: receiver.url, secret: 'webhook-secret-0123456789', outcomes: ['consistent-with-mi'] }],
      logLevel: 'info',
    });
    a = await kit.start(file);
    b = await kit.start(file);
  });
  afterAll(async () => {
    if (a !== undefined) await kit.stop(a);
    if (b !== undefined) await kit.stop(b);
    await receiver.close();
    await harness.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('concurrent posts for one patient: one episode, nothing lost or doubled, one rule-in alert', async () => {
    const nhs = '9000000301';
    const now = Date.now();
    const at = (minAgo: number): string => new Date(now - minAgo * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    // As a laboratory system does, a 503 (the store's writer lock not had within its wait, on a loaded
    // machine) is retried: the answer promises nothing was stored, so the retry must not double anything.
    const post = async (s: Server, r: unknown) => {
      for (let attempt = 1; ; attempt++) {
        const res = await http(s.url, 'POST', '/fhir/Observation', LAB_TOKEN, r);
        if (res.status !== 503 || attempt === 5) return res;
      }
    };
    // Everything at once, each result to both processes: the ECG, the TIMI score, early results (before
    // the 3-hour retest time) and the rule-in retest. A lost update would leave the episode evaluated
    // without some result; a race on creation would give two episodes.
    const results = [
      ecg(nhs, at(200)),
      timi(nhs, at(199)),
      ...Array.from({ length: 12 }, (_, i) => troponin({ nhs, at: at(190 - i * 5), value: 10, id: `p2-${i}` })),
      troponin({ nhs, at: at(5), value: 30, id: 'p2-retest' }),
    ];
    // A takes them in order, B in reverse order: at any moment the two work on different results.
    const [toA, toB] = await Promise.all([Promise.all(results.map((r) => post(a, r))), Promise.all([...results].reverse().map((r) => post(b, r)))]);
    for (let i = 0; i < results.length; i++) {
      const pair = [toA[i]!, toB[results.length - 1 - i]!];
      expect(pair.map((r) => r.status).sort()).toEqual([200, 201]);
      expect(pair[0]!.json.id).toBe(pair[1]!.json.id);
    }

    const list = (await http(a.url, 'GET', '/episodes?status=all', WORKLIST_TOKEN)).json.episodes.filter((e: any) => e.patient.value === nhs);
    expect(list).toHaveLength(1);
    expect(list[0].outcome).toBe('consistent-with-mi');
    const detail = (await http(b.url, 'GET', `/episodes/${list[0].id}`, WORKLIST_TOKEN)).json;
    expect(detail.results).toHaveLength(15);
    expect(detail.results.every((r: any) => r.versions.length === 1)).toBe(true);
    // No lost update: each committed evaluation saw every result an earlier one saw (in commit order),
    // and the last saw all 15. An event planned on a stale snapshot would forget a result.
    const seen: Set<string>[] = [];
    for (const ev of [...detail.evaluations].reverse()) {
      const rec = (await http(a.url, 'GET', `/audit/${ev.auditId}`, ADMIN)).json;
      seen.push(new Set(rec.body.inputResources.map((r: any) => r.ref)));
    }
    for (let i = 1; i < seen.length; i++) expect([...seen[i - 1]!].filter((ref) => !seen[i]!.has(ref)), `evaluation ${i + 1} forgot results`).toEqual([]);
    expect(seen[seen.length - 1]!.size).toBe(15);
    expect((await http(b.url, 'GET', '/audit/verify', ADMIN)).json.ok).toBe(true);

    expect(await alertRows(list[0].id)).toBe(1);
    // Delivered by whichever process claims it first (each runs its alert worker every 2 s): one delivery id.
    for (let i = 0; i < 300 && receiver.received.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(new Set(receiver.received.map((r) => r.headers['x-hs-troponin-delivery'])).size).toBe(1);
  });
});
}

suite('sqlite');
if (runPg) suite('postgres');
else describe.skip('two service processes on one PostgreSQL', () => undefined);
