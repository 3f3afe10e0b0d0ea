/**
 * `npm run bench:cds`: throughput and latency of the full CDS call against a bare fastify route, in the
 * same run, with autocannon on loopback and 10 connections.
 *
 * Full call: RS384 JWT verification (pre-signed tokens, one unique `jti` each, so the replay guard does
 * real durable work), a prefetch of 6 Observations, the evaluation, the durable audit record (SQLite,
 * WAL, synchronous=FULL, group commit) and the card. Anchor: a bare fastify route that parses the same
 * body and returns a card of the same size. Prints both throughputs, the ratio, p50/p99, and the same
 * for ES384. Runs a fixed number of requests and stops by itself.
 *
 * Goal (issue 3): ratio >= 0.30 and p99 < 50 ms at that load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

const CONNECTIONS = 10;
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 1500);
const AMOUNT = Number(process.env['BENCH_AMOUNT'] ?? 12_000);
// autocannon resolves on a one-second tick, so a run's wall time is quantised to whole seconds: the
// anchor (about ten times faster) gets proportionally more requests so that the error stays small.
const ANCHOR_AMOUNT = Number(process.env['BENCH_ANCHOR_AMOUNT'] ?? AMOUNT * 8);
const PUBLIC_BASE_URL = 'http://bench.hs-troponin-cds.example';
const PATH = '/cds-services/hs-troponin-chest-pain';
const PRODUCT = 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain';
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Client {
  readonly iss: string;
  readonly alg: 'RS384' | 'ES384';
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function client(alg: 'RS384' | 'ES384'): Promise<Client> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { iss: `https://${alg.toLowerCase()}.ehr.example`, alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** Pre-signs `n` tokens, each with its own jti (signing runs on the crypto thread pool, in batches). */
async function tokens(c: Client, n: number): Promise<string[]> {
  const out: string[] = [];
  const iat = Math.floor(Date.now() / 1000);
  for (let i = 0; i < n; i += 256) {
    const batch = Array.from({ length: Math.min(256, n - i) }, () =>
      new SignJWT({ iss: c.iss, aud: `${PUBLIC_BASE_URL}${PATH}`, jti: randomUUID() }).setProtectedHeader({ alg: c.alg, kid: c.kid, typ: 'JWT' }).setIssuedAt(iat).setExpirationTime(iat + 1800).sign(c.privateKey),
    );
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/** The request: a patient-view call with a prefetch of 6 Observations (ECG, TIMI, 4 troponins). */
function requestBody(): string {
  const now = Date.now();
  const at = (minutesAgo: number): string => new Date(now - minutesAgo * 60_000).toISOString();
  const obs = (id: string, extra: Record<string, unknown>): Record<string, unknown> => ({
    resourceType: 'Observation',
    id,
    meta: { versionId: '1', lastUpdated: at(1) },
    status: 'final',
    subject: { reference: 'Patient/bench-patient' },
    encounter: { reference: 'Encounter/bench-encounter' },
    ...extra,
  });
  const trop = (id: string, minutesAgo: number, value: number): Record<string, unknown> =>
    obs(id, {
      identifier: [{ system: 'http://lab.example.org/result-id', value: id }],
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '67151-1', display: 'Troponin T.cardiac [Mass/volume] in Serum or Plasma by High sensitivity method' }] },
      effectiveDateTime: at(minutesAgo),
      issued: at(minutesAgo - 40),
      valueQuantity: { value, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
    });
  const observations = [
    obs('ecg-1', { code: { coding: [{ system: 'http://loinc.org', code: '8601-7' }] }, effectiveDateTime: at(300), valueCodeableConcept: { coding: [{ system: PRODUCT, code: 'no-stemi-or-new-lbbb' }] } }),
    obs('timi-1', { code: { coding: [{ system: PRODUCT, code: 'timi-risk-score' }] }, effectiveDateTime: at(295), valueInteger: 2 }),
    trop('tn-1', 290, 8),
    trop('tn-2', 200, 9),
    trop('tn-3', 100, 9),
    trop('tn-4', 60, 9),
  ];
  return JSON.stringify({
    hook: 'patient-view',
    hookInstance: randomUUID(),
    fhirServer: 'https://ehr.hospital.example/fhir',
    context: { userId: 'Practitioner/bench-user', patientId: 'bench-patient', encounterId: 'bench-encounter' },
    prefetch: { observations: { resourceType: 'Bundle', type: 'searchset', total: observations.length, entry: observations.map((r) => ({ fullUrl: `https://ehr.hospital.example/fhir/Observation/${String(r['id'])}`, resource: r, search: { mode: 'match' } })) } },
  });
}

async function startServer(mode: 'full' | 'bare', env: Record<string, string>): Promise<{ port: number; child: ChildProcess }> {
  // BENCH_SERVER_NODE_ARGS: extra node flags for the server process, e.g. "--cpu-prof --cpu-prof-dir=prof".
  const extra = (process.env['BENCH_SERVER_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', join(ROOT, 'bench', 'cds-server.ts')], { cwd: ROOT, env: { ...process.env, ...env, BENCH_MODE: mode }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = /PORT (\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`bench server (${mode}) exited with ${String(code)}`)));
  });
  return { port, child };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function load(port: number, body: string, pool: string[] | null, amount: number): Promise<Result & { wallSeconds: number }> {
  let next = 0;
  const started = performance.now();
  const headers = { 'content-type': 'application/json' };
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    amount,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: PATH,
        headers,
        body,
        setupRequest: (req) => {
          const token = pool === null ? 'none' : pool[next++];
          if (token === undefined) throw new Error('the token pool is exhausted');
          return { ...req, headers: { ...headers, authorization: `Bearer ${token}` } };
        },
      },
    ],
  });
  const wallSeconds = (performance.now() - started) / 1000;
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`the load run had failures: non2xx=${result.non2xx} errors=${result.errors} timeouts=${result.timeouts} ${JSON.stringify(result.statusCodeStats ?? {})}`);
  }
  return { ...result, wallSeconds };
}

interface Line {
  readonly label: string;
  readonly seconds: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

function line(label: string, r: Result & { wallSeconds: number }): Line {
  // Requests answered per second of wall-clock time (autocannon's own duration is rounded to seconds).
  return { label, seconds: r.wallSeconds, rps: r['2xx'] / r.wallSeconds, p50: r.latency.p50, p99: r.latency.p99 };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tnp-bench-cds-'));
  const rs = await client('RS384');
  const es = await client('ES384');
  const settingsFile = join(dir, 'settings.json');
  writeFileSync(
    settingsFile,
    JSON.stringify({
      publicBaseUrl: PUBLIC_BASE_URL,
      cdsClients: [
        { iss: rs.iss, jwks: { keys: [rs.jwk] } },
        { iss: es.iss, jwks: { keys: [es.jwk] } },
      ],
      storage: { kind: 'sqlite', path: join(dir, 'audit.sqlite') },
      logLevel: 'warn',
    }),
  );
  const body = requestBody();
  process.stdout.write(`hs-troponin-cds bench:cds: ${CONNECTIONS} connections, ${AMOUNT} requests per run (after ${WARMUP} warm-up), body ${body.length} bytes, node ${process.version}\n`);
  process.stdout.write('pre-signing tokens (one jti per request)...\n');
  const rsPool = await tokens(rs, WARMUP + AMOUNT + 1);
  const esPool = await tokens(es, AMOUNT);

  const lines: Line[] = [];
  let stats: unknown = null;
  let cardBytes = 0;
  const full = await startServer('full', { BENCH_SETTINGS: settingsFile });
  try {
    // One call to see the card (its size is the anchor's response size).
    const first = await fetch(`http://127.0.0.1:${full.port}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${rsPool.pop() ?? ''}` }, body });
    const card = await first.text();
    if (first.status !== 200) throw new Error(`the full call answered ${first.status}: ${card.slice(0, 500)}`);
    cardBytes = Buffer.byteLength(card);
    writeFileSync(join(dir, 'card.json'), card);
    const outcome = (JSON.parse(card) as { cards: { extension: Record<string, { outcome: string }> }[] }).cards[0]?.extension['hs-troponin-cds']?.outcome;
    process.stdout.write(`full call answers 200, outcome ${String(outcome)}, response ${cardBytes} bytes\n`);
    await load(full.port, body, rsPool.splice(0, WARMUP), WARMUP);
    lines.push(line('full CDS call, RS384', await load(full.port, body, rsPool, AMOUNT)));
    lines.push(line('full CDS call, ES384', await load(full.port, body, esPool, AMOUNT)));
    stats = await (await fetch(`http://127.0.0.1:${full.port}/_bench/stats`)).json();
  } finally {
    await stopServer(full.child);
  }
  const bare = await startServer('bare', { BENCH_CARD: join(dir, 'card.json') });
  try {
    await load(bare.port, body, null, WARMUP);
    lines.push(line('bare fastify route (anchor)', await load(bare.port, body, null, ANCHOR_AMOUNT)));
  } finally {
    await stopServer(bare.child);
  }
  rmSync(dir, { recursive: true, force: true });

  const anchor = lines.find((l) => l.label.startsWith('bare'));
  process.stdout.write('\n| run | seconds | req/s | p50 ms | p99 ms | ratio to anchor |\n|---|---|---|---|---|---|\n');
  for (const l of lines) process.stdout.write(`| ${l.label} | ${l.seconds.toFixed(1)} | ${l.rps.toFixed(0)} | ${l.p50.toFixed(1)} | ${l.p99.toFixed(1)} | ${anchor === undefined ? '' : (l.rps / anchor.rps).toFixed(2)} |\n`);
  const rsLine = lines[0];
  if (rsLine !== undefined && anchor !== undefined) {
    const ratio = rsLine.rps / anchor.rps;
    process.stdout.write(`\nratio (full RS384 / bare) = ${ratio.toFixed(2)} (goal >= 0.30: ${ratio >= 0.3 ? 'met' : 'NOT met'}); p99 ${rsLine.p99.toFixed(1)} ms (goal < 50 ms: ${rsLine.p99 < 50 ? 'met' : 'NOT met'})\n`);
  }
  process.stdout.write(`audit store (group commit): ${JSON.stringify(stats)}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:cds failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
