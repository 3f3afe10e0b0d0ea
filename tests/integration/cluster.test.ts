/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON and log lines in tests, asserted by shape */
/**
 * Cluster mode with real processes (`node dist/server.js`, settings `workers: 2`), on one SQLite file and
 * on one PostgreSQL schema: concurrent CDS calls spread over both workers keep one intact hash chain
 * (GET /audit/verify ok, every call one record, no fork); a token used once is refused by the other
 * worker, and two workers given one token at once answer it once; a worker killed with SIGKILL is
 * replaced and the service goes on; SIGTERM stops every worker gracefully (exit 0, no worker left, every
 * answered call recorded, the chain intact).
 *
 * Every request goes on a new connection (no keep-alive), so node:cluster hands them to the workers in turn.
 */
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresHarness, sqliteHarness } from '../support/audit-harness.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { hookBody, searchset } from '../support/cds-app.js';
import { PG_URL, pgAvailable, requireService } from '../support/services.js';
import { serverProcess, type Server } from '../support/server-process.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const PUBLIC_BASE_URL = 'https://cds.hospital.example/tnp';
const PATH = '/cds-services/hs-troponin-chest-pain';
const ADMIN = 'admin-token-0123456789abcdef';
const ISS = 'https://ehr.cluster.example';

interface Answer {
  readonly status: number;
  readonly json: any;
}

/** One request on its own connection. */
function send(url: string, method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, agent: false, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: (res.headers['content-type'] ?? '').includes('json') ? JSON.parse(text) : text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const cdsCall = (s: Server, token: string): Promise<Answer> => send(s.url, 'POST', PATH, { authorization: `Bearer ${token}` }, JSON.stringify(hookBody('cluster-patient', { prefetch: { observations: searchset([]) } })));
const verify = async (s: Server): Promise<any> => (await send(s.url, 'GET', '/audit/verify', { authorization: `Bearer ${ADMIN}` })).json;

/** The service's log lines (JSON), from the primary and every worker. */
function logLines(s: Server): any[] {
  return s.output()
    .split('\n')
    .flatMap((l) => {
      try {
        return l.startsWith('{') ? [JSON.parse(l) as unknown] : [];
      } catch {
        return []; // a line still being written
      }
    });
}

async function until(what: string, test: () => boolean, limitMs = 60_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!test()) {
    if (Date.now() > end) throw new Error(`waited ${limitMs / 1000} s for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.each([
  { kind: 'sqlite' as const, run: true },
  { kind: 'postgres' as const, run: runPg },
])('cluster mode, two workers on one $kind store', ({ kind, run }) => {
  const harness = kind === 'sqlite' ? sqliteHarness() : postgresHarness();
  const dir = mkdtempSync(join(tmpdir(), 'tnp-cluster-'));
  const kit = serverProcess(dir);
  let ehr: CdsTestClient;
  let server: Server | undefined;
  let settingsFile = '';
  afterAll(async () => {
    if (server !== undefined) await kit.stop(server);
    await harness.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const sign = (jti?: string): Promise<string> => ehr.sign({ aud: `${PUBLIC_BASE_URL}${PATH}`, ...(jti === undefined ? {} : { jti }) });

  it.runIf(run)('starts two workers on one port', async () => {
    ehr = await createCdsClient({ iss: ISS, alg: 'ES384' });
    const storage = harness.fresh();
    settingsFile = kit.settingsFile({
      workers: 2,
      publicBaseUrl: PUBLIC_BASE_URL,
      cdsClients: [{ iss: ehr.iss, jwks: ehr.jwks }],
      adminTokens: [ADMIN],
      storage: storage.kind === 'sqlite' ? storage : { kind: 'postgres', url: `${PG_URL}?schema=${storage.schema ?? ''}` },
      dataDir: join(dir, `data-${kind}`),
      rateLimit: { consolePages: { max: 4, timeWindowMs: 3_600_000 } },
      logLevel: 'info',
    });
    server = await kit.start(settingsFile);
    const s = server;
    await until('both workers ready', () => logLines(s).filter((l) => l.event === 'worker-ready').length === 2);
    const ports = new Set(logLines(s).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at')).map((l) => l.msg as string));
    expect(ports.size).toBe(1);
  }, 90_000);

  it.runIf(run)('concurrent calls over both workers: one intact chain, one record per call', async () => {
    const s = server as Server;
    const tokens = await Promise.all(Array.from({ length: 40 }, () => sign()));
    const answers: Answer[] = [];
    for (let i = 0; i < tokens.length; i += 10) answers.push(...(await Promise.all(tokens.slice(i, i + 10).map((t) => cdsCall(s, t)))));
    expect(answers.map((a) => a.status)).toEqual(tokens.map(() => 200));
    const ids = answers.map((a) => a.json.cards[0].uuid as string);
    expect(new Set(ids).size).toBe(40);
    const workers = (): Set<number> => new Set(logLines(s).filter((l) => l.event === 'evaluation').map((l) => l.worker as number));
    await until('both workers log an evaluation', () => workers().size === 2, 20_000);
    expect(workers().size).toBe(2);
    expect(await verify(s)).toMatchObject({ ok: true, records: 40 });
  }, 90_000);

  it.runIf(run)('a token used once is refused by the other worker; one token at two workers at once is answered once', async () => {
    const s = server as Server;
    const token = await sign();
    expect((await cdsCall(s, token)).status).toBe(200);
    // On new connections the next calls go to the other worker and back: each refuses the token.
    const again = await Promise.all([cdsCall(s, token), cdsCall(s, token), cdsCall(s, token), cdsCall(s, token)]);
    expect(again.map((a) => a.status)).toEqual([401, 401, 401, 401]);
    // The log lines are written after the answers (asynchronously, through the primary): wait for both.
    const refusedBy = (): Set<number> => new Set(logLines(s).filter((l) => l.event === 'jwt-refused' && String(l.reason).includes('replayed')).map((l) => l.worker as number));
    await until('both workers log a refusal', () => refusedBy().size === 2, 20_000);
    expect(refusedBy().size).toBe(2);
    for (let round = 0; round < 5; round++) {
      const shared = await sign();
      const both = await Promise.all([cdsCall(s, shared), cdsCall(s, shared)]);
      expect(both.map((a) => a.status).sort()).toEqual([200, 401]);
    }
    expect(await verify(s)).toMatchObject({ ok: true, records: 46 });
  }, 90_000);

  it.runIf(run)('a client\'s rate limit is the configured budget across the workers, not one budget per worker', async () => {
    const s = server as Server;
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await send(s.url, 'GET', '/console', {})).status);
    // Budget 4 per hour, two workers: 2 each, so the client gets 4 pages in all (8 without the division).
    expect(statuses.filter((c) => c === 200)).toHaveLength(4);
    expect(statuses.filter((c) => c === 429)).toHaveLength(6);
  }, 60_000);

  it.runIf(run)('a worker that dies is replaced, and the service goes on', async () => {
    const s = server as Server;
    const ready = (): any[] => logLines(s).filter((l) => l.event === 'worker-ready');
    const victim = ready()[0].pid as number;
    process.kill(victim, 'SIGKILL');
    await until('the death noticed', () => logLines(s).some((l) => l.event === 'worker-died' && l.pid === victim));
    await until('a replacement ready', () => ready().length === 3);
    const answers = await Promise.all(Array.from({ length: 6 }, async () => cdsCall(s, await sign())));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(await verify(s)).toMatchObject({ ok: true, records: 52 });
  }, 90_000);

  it.runIf(run)('SIGTERM stops every worker gracefully: exit 0, calls in flight answered and recorded', async () => {
    const s = server as Server;
    const workerPids = logLines(s).filter((l) => l.event === 'worker-ready').map((l) => l.pid as number).filter(alive);
    expect(workerPids).toHaveLength(2);
    const tokens = await Promise.all(Array.from({ length: 10 }, () => sign()));
    const inFlight = Promise.all(tokens.map((t) => cdsCall(s, t).catch(() => null)));
    await new Promise((r) => setTimeout(r, 20));
    const code = await kit.stop(s);
    server = undefined;
    expect(code).toBe(0);
    expect(workerPids.filter(alive)).toEqual([]);
    const answered = (await inFlight).filter((a): a is Answer => a !== null);
    expect(answered.every((a) => a.status === 200 || a.status === 503)).toBe(true);
    // Every call answered 200 has its record: restart on the same store and count.
    const okCalls = answered.filter((a) => a.status === 200).length;
    server = await kit.start(settingsFile);
    const again = server;
    await until('both workers ready', () => logLines(again).filter((l) => l.event === 'worker-ready').length === 2);
    expect(await verify(again)).toMatchObject({ ok: true, records: 52 + okCalls });
  }, 90_000);
});
