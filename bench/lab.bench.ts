/**
 * `npm run bench:lab`: laboratory results accepted per second, durable and re-evaluated, over FHIR
 * (HTTP on loopback) and HL7 v2 (MLLP on loopback), against the same store's raw durable insert rate
 * (AuditStore.append of a small record, group commit, the same concurrency) in the same run, as a ratio,
 * with p50/p99 latency. SQLite by default; `BENCH_STORE=postgres` uses the test PostgreSQL (a fresh
 * schema, dropped after). Runs a fixed number of results and stops by itself.
 *
 * Each FHIR post and each HL7 message is one troponin result for one of 500 patients, so each one
 * re-evaluates a real episode (a few results long) with decideResources and writes its audit record.
 * The load generator runs in the same process (2 cores): the ratio compares like with like.
 *
 * Goal (the issue): ratio >= 0.5.
 *
 * Then one patient's episode grown result by result (`BENCH_ONE_PATIENT`, default 500, one after the
 * other): the mean time of its first 50 results, of the 50 after the read bound (results 101 to 150 for
 * Chart 2) and of its last 50. Past the bound the cost of a result no longer grows with its episode
 * (src/episodes/evaluate.ts), so the last two stay near each other; before it, 500 results took 26 s,
 * then 62 s, as each re-read the whole episode.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hl7Message } from '@medplum/core';
import { Hl7Client, Hl7Connection, type Hl7MessageEvent } from '@medplum/hl7';
import { createServer } from 'node:net';
import Fastify from 'fastify';
import Database from 'better-sqlite3';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { openAuditStore, type AuditStore, type AuditStoreSettings } from '../src/audit/store.js';
import { startHl7Listener } from '../src/intake/hl7-listener.js';
import { createLogger } from '../src/observability/logger.js';
import { loadRuntime } from '../src/pathways/load.js';
import { loadSettings } from '../src/settings.js';

const N = Number(process.env['BENCH_RESULTS'] ?? 3000);
const ONE_PATIENT = Number(process.env['BENCH_ONE_PATIENT'] ?? 500);
const FHIR_CONCURRENCY = 32;
const HL7_CONNECTIONS = 16;
const PATIENTS = 500;
const TOKEN = 'bench-lab-token-0123456789';
const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

interface Line {
  readonly label: string;
  readonly seconds: number;
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  /** CPU of this process (service and load generator) per result, ms: less sensitive to a shared machine's load than the rate. */
  readonly cpuMs: number;
  /** Results per durable commit (the store's group commit), when known. */
  perCommit?: number;
}

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Runs `count` tasks with `concurrency` workers; each task timed. */
async function run(label: string, count: number, concurrency: number, task: (i: number, worker: number) => Promise<void>): Promise<Line> {
  const times: number[] = [];
  let next = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = next++; i < count; i = next++) {
        const t = performance.now();
        await task(i, w);
        times.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);
  return { label, seconds, rate: count / seconds, p50: pct(times, 50), p99: pct(times, 99), cpuMs: (cpu.user + cpu.system) / 1000 / count };
}

const at = (i: number): string => new Date(Date.now() - 3_600_000 + (i % 50) * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
const nhs = (i: number): string => String(9_100_000_000 + (i % PATIENTS));

function observation(i: number): string {
  return JSON.stringify({
    resourceType: 'Observation',
    identifier: [{ system: 'https://lab.bench.example/results', value: `f-${i}` }],
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] },
    subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhs(i) } },
    effectiveDateTime: at(i),
    valueQuantity: { value: 10 + (i % 7), unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
  });
}

function oru(i: number): string {
  const t = at(i).replace(/[-:T]/g, '').replace('Z', '+0000').slice(0, 17);
  return [
    `MSH|^~\\&|LIS|LAB^1.2.3^ISO|TNP|ED|${t}||ORU^R01^ORU_R01|B${i}|P|2.5.1`,
    `PID|1||${nhs(i + 7)}^^^NHS^NH||BENCH^PATIENT`,
    `OBR|1||H-${i}^LIS|67151-1^Troponin T hs^LN|||${t}`,
    `OBX|1|NM|67151-1^Troponin T hs^LN|1|${10 + (i % 7)}|ng/L^^UCUM||N|||F|||${t}`,
  ].join('\r');
}

/** The second anchor: one row per durable transaction (no group commit), the same concurrency. */
async function rowPerCommit(kind: 'sqlite' | 'postgres', dir: string, schema: string): Promise<Line> {
  const label = 'one INSERT per durable COMMIT';
  if (kind === 'sqlite') {
    const db = new Database(join(dir, 'rows.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE r (id TEXT PRIMARY KEY, body TEXT NOT NULL)');
    const ins = db.prepare('INSERT INTO r (id, body) VALUES (?, ?)');
    const line = await run(label, N, FHIR_CONCURRENCY, (i) => {
      ins.run(randomUUID(), JSON.stringify({ i, note: 'raw insert' }));
      return new Promise((r) => setImmediate(r));
    });
    db.close();
    return line;
  }
  const pool = new pg.Pool({ connectionString: PG_URL, max: FHIR_CONCURRENCY });
  await pool.query(`CREATE SCHEMA "${schema}_rows"; CREATE TABLE "${schema}_rows".r (id text PRIMARY KEY, body text NOT NULL)`);
  const line = await run(label, N, FHIR_CONCURRENCY, async (i) => void (await pool.query(`INSERT INTO "${schema}_rows".r (id, body) VALUES ($1, $2)`, [randomUUID(), JSON.stringify({ i, note: 'raw insert' })])));
  await pool.end();
  return line;
}

/** Counts the store's durable commits over a run: results per commit. */
async function counted(store: AuditStore, line: Promise<Line>): Promise<Line> {
  const before = store.stats().commits;
  const l = await line;
  const commits = store.stats().commits - before;
  return { ...l, perCommit: commits === 0 ? 0 : N / commits };
}

/**
 * The floors: the same transports and the same durable append as the anchor, with nothing between them
 * (a fastify route taking the JSON body; an MLLP connection taking the message and answering AA), so the
 * ratio any intake over HTTP or MLLP can reach in this process is measured, not guessed.
 */
async function floors(store: AuditStore): Promise<Line[]> {
  const app = Fastify({ logger: false });
  app.addContentTypeParser('application/fhir+json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  app.post('/fhir/Observation', async (req, reply) => {
    const rec = await store.append({ kind: 'lab-intake', at: new Date().toISOString(), patientId: null, body: req.body });
    return reply.code(201).header('location', `/fhir/Observation/${rec.id}`).send();
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  const http = await counted(
    store,
    run('floor: HTTP POST + durable append', N, FHIR_CONCURRENCY, async (i) => {
      const res = await fetch(`${base}/fhir/Observation`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: observation(i) });
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`floor post answered ${res.status}`);
    }),
  );
  await app.close();
  const server = createServer((socket) => {
    const conn = new Hl7Connection(socket, 'utf-8');
    conn.addEventListener('message', (ev: Hl7MessageEvent) => {
      void store.append({ kind: 'lab-intake', at: new Date().toISOString(), patientId: null, body: { text: ev.message.toString() } }).then(() => conn.send(ev.message.buildAck()));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const clients = Array.from({ length: HL7_CONNECTIONS }, () => new Hl7Client({ host: '127.0.0.1', port }));
  const mllp = await counted(
    store,
    run('floor: MLLP message + durable append + ACK', N, HL7_CONNECTIONS, async (i, w) => {
      const ack = await clients[w]!.sendAndWait(Hl7Message.parse(oru(i)), { timeoutMs: 30_000 });
      if (ack.getSegment('MSA')?.getField(1)?.toString() !== 'AA') throw new Error('floor ACK not AA');
    }),
  );
  for (const c of clients) await c.close();
  await new Promise<void>((r) => server.close(() => r()));
  return [http, mllp];
}

/** One patient's episode grown to ONE_PATIENT results, one post after the other: first and last 50 timed. */
async function growOneEpisode(base: string): Promise<string> {
  const times: number[] = [];
  const t0 = Date.now() - 2 * 3_600_000;
  for (let i = 0; i < ONE_PATIENT; i++) {
    const body = JSON.parse(observation(i)) as Record<string, unknown>;
    body['identifier'] = [{ system: 'https://lab.bench.example/results', value: `one-${i}` }];
    body['subject'] = { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9199999999' } };
    body['effectiveDateTime'] = new Date(t0 + i * 1000).toISOString();
    const t = performance.now();
    const res = await fetch(`${base}/fhir/Observation`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: JSON.stringify(body) });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`one-patient post answered ${res.status}`);
    times.push(performance.now() - t);
  }
  const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const first = mean(times.slice(0, 50));
  const past = mean(times.slice(100, 150));
  const last = mean(times.slice(-50));
  const total = times.reduce((a, b) => a + b, 0) / 1000;
  return `one patient, ${ONE_PATIENT} results one after the other: ${total.toFixed(1)} s; mean ms of results 1-50 ${first.toFixed(1)}, 101-150 ${past.toFixed(1)}, the last 50 ${last.toFixed(1)} (last/101-150 ${(last / past).toFixed(2)}: near 1 when bounded)`;
}

async function main(): Promise<void> {
  const kind = process.env['BENCH_STORE'] === 'postgres' ? 'postgres' : 'sqlite';
  const dir = mkdtempSync(join(tmpdir(), 'tnp-bench-lab-'));
  const schema = `tnp_bench_lab_${process.pid}`;
  const where = (name: string): AuditStoreSettings => (kind === 'sqlite' ? { kind: 'sqlite', path: join(dir, `${name}.sqlite`) } : { kind: 'postgres', url: PG_URL, schema: `${schema}_${name}` });
  process.stdout.write(`hs-troponin-cds bench:lab: ${N} results per run on ${kind}, FHIR ${FHIR_CONCURRENCY} concurrent posts, HL7 ${HL7_CONNECTIONS} MLLP connections, ${PATIENTS} patients, node ${process.version}\n`);
  const lines: Line[] = [];
  let onePatient = '';
  try {
    const raw = await openAuditStore(where('raw'), { newId: randomUUID, now: () => new Date() });
    lines.push(await counted(raw, run('raw durable insert (AuditStore.append)', N, FHIR_CONCURRENCY, async (i) => void (await raw.append({ kind: 'lab-intake', at: new Date().toISOString(), patientId: nhs(i), body: { i, note: 'raw insert' } })))));
    lines.push(await rowPerCommit(kind, dir, schema));
    lines.push(...(await floors(raw)));
    await raw.close();

    const settings = loadSettings({ object: { labClients: [{ name: 'bench-lab', token: TOKEN, hl7Facilities: ['LAB^1.2.3^ISO'] }], logLevel: 'error' } });
    const store = await openAuditStore(where('lab'), { newId: randomUUID, now: () => new Date() });
    const runtime = await loadRuntime(settings);
    const logger = createLogger('error');
    const app = await buildApp(settings, { runtime, store, now: () => new Date(), newId: randomUUID, logger });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    const listener = await startHl7Listener({ host: '127.0.0.1', port: 0, clients: settings.labClients, intake: app.lab.intake, now: () => new Date(), newId: randomUUID, logger });

    lines.push(
      await counted(store, run('FHIR POST /fhir/Observation', N, FHIR_CONCURRENCY, async (i) => {
        const res = await fetch(`${base}/fhir/Observation`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/fhir+json', prefer: 'return=minimal' }, body: observation(i) });
        await res.arrayBuffer();
        if (res.status !== 201) throw new Error(`FHIR post answered ${res.status}`);
      })),
    );
    const clients = Array.from({ length: HL7_CONNECTIONS }, () => new Hl7Client({ host: '127.0.0.1', port: listener.port }));
    lines.push(
      await counted(store, run('HL7 ORU^R01 over MLLP', N, HL7_CONNECTIONS, async (i, w) => {
        const ack = await clients[w]!.sendAndWait(Hl7Message.parse(oru(i)), { timeoutMs: 30_000 });
        const code = ack.getSegment('MSA')?.getField(1)?.toString();
        if (code !== 'AA') throw new Error(`HL7 message answered ${String(code)}: ${ack.toString()}`);
      })),
    );
    for (const c of clients) await c.close();
    onePatient = await growOneEpisode(base);
    const verify = await store.verify();
    const episodes = (await store.lab.episodes({ status: 'all', limit: 1000 })).length;
    await listener.close();
    await app.close();
    await store.close();
    process.stdout.write(`audit chain ${verify.ok ? 'valid' : 'BROKEN'} with ${verify.records} records; ${episodes} episodes\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (kind === 'postgres') {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      for (const n of ['raw', 'lab', 'rows']) await c.query(`DROP SCHEMA IF EXISTS "${schema}_${n}" CASCADE`);
      await c.end();
    }
  }
  const [anchor, perRow] = lines;
  process.stdout.write('\n| run | seconds | results/s | p50 ms | p99 ms | CPU ms/result | results/commit | ratio to AuditStore.append | ratio to one INSERT per COMMIT |\n|---|---|---|---|---|---|---|---|---|\n');
  for (const l of lines) process.stdout.write(`| ${l.label} | ${l.seconds.toFixed(1)} | ${l.rate.toFixed(0)} | ${l.p50.toFixed(1)} | ${l.p99.toFixed(1)} | ${l.cpuMs.toFixed(2)} | ${l.perCommit === undefined ? '' : l.perCommit.toFixed(1)} | ${(l.rate / (anchor?.rate ?? 1)).toFixed(2)} | ${(l.rate / (perRow?.rate ?? 1)).toFixed(2)} |\n`);
  process.stdout.write(`${onePatient}\n`);
  for (const l of lines.slice(2)) {
    const ratio = l.rate / (anchor?.rate ?? 1);
    process.stdout.write(`${l.label}: ratio to the store's durable insert ${ratio.toFixed(2)} (goal >= 0.5: ${ratio >= 0.5 ? 'met' : 'NOT met'}); to one INSERT per COMMIT ${(l.rate / (perRow?.rate ?? 1)).toFixed(2)}; p99 ${l.p99.toFixed(1)} ms\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:lab failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
