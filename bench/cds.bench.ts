/**
 * `npm run bench:cds`: the full CDS call against a bare fastify route, single process and cluster, in
 * interleaved rounds on loopback (127.0.0.1 only; a fixed number of requests per run, so it stops by itself).
 *
 * Full call: RS384 JWT verification (pre-signed tokens, one unique `jti` each, so the replay guard does real
 * durable work), a prefetch of 6 Observations, the evaluation, the durable audit record (SQLite, WAL,
 * synchronous=FULL, group commit, committed before the answer) and the card. Anchor: a bare fastify route
 * that parses the same body and returns a card of the same size, run the same way (one process, and a
 * cluster of the same number of workers).
 *
 * Each round runs every target once at 10 connections (autocannon: answers per second of wall time, p50,
 * p99) and once at concurrency 1 (one keep-alive connection, each request timed with performance.now(),
 * for a p50 finer than autocannon's millisecond). The CPU per call is each server's own counters
 * (`process.cpuUsage()` of every worker and of the cluster's primary, through the bench-only route
 * `GET /_bench/cpu`) over the 10-connection run, divided by the calls answered, with its kernel (system) part
 * shown apart. Figures are medians over the rounds; ratios are taken within a round (so load from elsewhere
 * on the machine hits both sides).
 *
 * BENCH_ROUNDS, BENCH_AMOUNT (full calls per 10-connection run), BENCH_ANCHOR_AMOUNT, BENCH_C1 (requests
 * per concurrency-1 run), BENCH_WORKERS (cluster size, default the number of cores), BENCH_BEFORE_SRC (a
 * source tree of an earlier version, measured as one more single-process target) and
 * BENCH_SERVER_NODE_ARGS (more node flags for the servers) adjust it. BENCH_PROFILE_DIR writes a CPU profile
 * of every server process, a folder per target; `npx tsx bench/profile-summary.ts <folder>` sums one by module.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import { Client } from 'undici';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { requestBody } from './cds-request.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const AMOUNT = Number(process.env['BENCH_AMOUNT'] ?? 3000);
const ANCHOR_AMOUNT = Number(process.env['BENCH_ANCHOR_AMOUNT'] ?? AMOUNT * 10);
const C1 = Number(process.env['BENCH_C1'] ?? 400);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 500);
const WORKERS = Number(process.env['BENCH_WORKERS'] ?? availableParallelism());
const BEFORE_SRC = process.env['BENCH_BEFORE_SRC'];
const PUBLIC_BASE_URL = 'http://bench.hs-troponin-cds.example';
const PATH = '/cds-services/hs-troponin-chest-pain';
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Signer {
  readonly iss: string;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function signer(): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair('RS384', { extractable: true });
  const kid = randomUUID();
  return { iss: 'https://rs384.ehr.example', kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS384', use: 'sig' } };
}

/** Pre-signs `n` tokens, each with its own jti (signing runs on the crypto thread pool, in batches). */
async function tokens(c: Signer, n: number): Promise<string[]> {
  const out: string[] = [];
  const iat = Math.floor(Date.now() / 1000);
  for (let i = 0; i < n; i += 256) {
    const batch = Array.from({ length: Math.min(256, n - i) }, () =>
      new SignJWT({ iss: c.iss, aud: `${PUBLIC_BASE_URL}${PATH}`, jti: randomUUID() }).setProtectedHeader({ alg: 'RS384', kid: c.kid, typ: 'JWT' }).setIssuedAt(iat).setExpirationTime(iat + 3600).sign(c.privateKey),
    );
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

interface Target {
  readonly label: string;
  readonly kind: 'full' | 'bare';
  readonly workers: number;
  readonly port: number;
  readonly child: ChildProcess;
}

async function startServer(label: string, kind: 'full' | 'bare', workers: number, env: Record<string, string>): Promise<Target> {
  const extra = (process.env['BENCH_SERVER_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  // BENCH_PROFILE_DIR: a CPU profile of each server process (every worker), one folder per target.
  const profiles = process.env['BENCH_PROFILE_DIR'];
  if (profiles !== undefined) extra.push('--cpu-prof', `--cpu-prof-dir=${join(profiles, label.replace(/[^a-z0-9]+/gi, '-'))}`);
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', join(ROOT, 'bench', 'cds-server.ts')], { cwd: ROOT, env: { ...process.env, ...env, BENCH_MODE: kind, BENCH_WORKERS: String(workers) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = /PORT (\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`bench server ${label} exited with ${String(code)}`)));
  });
  // Whatever the server logs after that (warnings and errors: logLevel warn) goes to stderr, named.
  child.stdout?.on('data', (d: Buffer) => {
    for (const l of d.toString('utf8').split('\n')) if (l !== '' && !l.startsWith('PORT ')) process.stderr.write(`[${label}] ${l.slice(0, 600)}\n`);
  });
  return { label, kind, workers, port, child };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** One GET on a new connection (so a cluster hands it to its workers in turn). */
function getJson(port: number, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let t = '';
      res.on('data', (d: Buffer) => (t += d.toString('utf8')));
      res.on('end', () => resolve(JSON.parse(t) as unknown));
    })
      .on('error', reject)
      .end();
  });
}

interface CpuReading {
  readonly pid: number;
  readonly cpu: NodeJS.CpuUsage;
  readonly calls: number;
  readonly primary: NodeJS.CpuUsage | null;
}

/** Every process's counters: asked on new connections until each of the target's workers has answered. */
async function cpuOf(t: Target): Promise<{ us: number; sysUs: number; calls: number }> {
  const seen = new Map<number, CpuReading>();
  let primary: NodeJS.CpuUsage | null = null;
  for (let i = 0; i < 200 && seen.size < t.workers; i++) {
    const r = (await getJson(t.port, '/_bench/cpu')) as CpuReading;
    if (!seen.has(r.pid)) seen.set(r.pid, r);
    primary = r.primary ?? primary;
  }
  if (seen.size < t.workers) throw new Error(`${t.label}: only ${seen.size} of ${t.workers} workers answered /_bench/cpu`);
  let us = primary === null ? 0 : primary.user + primary.system;
  let sysUs = primary === null ? 0 : primary.system;
  let calls = 0;
  for (const r of seen.values()) {
    us += r.cpu.user + r.cpu.system;
    sysUs += r.cpu.system;
    calls += r.calls;
  }
  return { us, sysUs, calls };
}

async function load(port: number, body: string, pool: string[] | null, amount: number): Promise<Result & { wallSeconds: number }> {
  const started = performance.now();
  const headers = { 'content-type': 'application/json' };
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 10,
    amount,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: PATH,
        headers,
        body,
        setupRequest: (req) => {
          const token = pool === null ? 'none' : pool.pop();
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

/** `n` requests one after another on one keep-alive connection; each latency in ms. */
async function sequential(port: number, body: string, pool: string[] | null, n: number): Promise<number[]> {
  const client = new Client(`http://127.0.0.1:${port}`);
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const token = pool === null ? 'none' : pool.pop();
      if (token === undefined) throw new Error('the token pool is exhausted');
      const t0 = performance.now();
      const res = await client.request({ method: 'POST', path: PATH, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
      await res.body.text();
      out.push(performance.now() - t0);
      if (res.statusCode !== 200) throw new Error(`concurrency-1 call answered ${res.statusCode}`);
    }
  } finally {
    await client.close();
  }
  return out;
}

const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};
const median = (xs: readonly number[]): number => quantile(xs, 0.5);

interface Row {
  rps: number[];
  p50: number[];
  p99: number[];
  c1p50: number[];
  c1p99: number[];
  cpuUs: number[];
  sysUs: number[];
  ratio: number[];
  ratioOwn: number[];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tnp-bench-cds-'));
  const rs = await signer();
  const settings = (name: string): string => {
    const file = join(dir, `settings-${name}.json`);
    writeFileSync(file, JSON.stringify({ publicBaseUrl: PUBLIC_BASE_URL, cdsClients: [{ iss: rs.iss, jwks: { keys: [rs.jwk] } }], storage: { kind: 'sqlite', path: join(dir, `audit-${name}.sqlite`) }, dataDir: join(dir, `data-${name}`), logLevel: 'warn' }));
    return file;
  };
  const body = requestBody();
  const fullSpecs: { label: string; workers: number; src?: string }[] = [
    ...(BEFORE_SRC === undefined ? [] : [{ label: 'before: full call, 1 process', workers: 1, src: BEFORE_SRC }]),
    { label: 'full call, 1 process', workers: 1 },
    { label: `full call, cluster of ${WORKERS}`, workers: WORKERS },
  ];
  process.stdout.write(`hs-troponin-cds bench:cds: ${ROUNDS} interleaved rounds; per round and target ${AMOUNT} full calls (bare: ${ANCHOR_AMOUNT}) at 10 connections and ${C1} at concurrency 1; body ${body.length} bytes; node ${process.version}; ${availableParallelism()} cores\n`);
  process.stdout.write('pre-signing tokens (one jti per request)...\n');
  const perTarget = WARMUP + ROUNDS * (AMOUNT + C1) + 1;
  const pools = new Map<string, string[]>();
  for (const f of fullSpecs) pools.set(f.label, await tokens(rs, perTarget));

  const targets: Target[] = [];
  let cardBytes = 0;
  try {
    for (const f of fullSpecs) targets.push(await startServer(f.label, 'full', f.workers, { BENCH_SETTINGS: settings(String(targets.length)), ...(f.src === undefined ? {} : { BENCH_SRC: f.src }) }));
    // One call to see the card (its size is the anchor's response size).
    const first = targets[targets.length - 2] as Target;
    const res = await fetch(`http://127.0.0.1:${first.port}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${pools.get(first.label)?.pop() ?? ''}` }, body });
    const card = await res.text();
    if (res.status !== 200) throw new Error(`the full call answered ${res.status}: ${card.slice(0, 500)}`);
    cardBytes = Buffer.byteLength(card);
    writeFileSync(join(dir, 'card.json'), card);
    targets.push(await startServer('bare route, 1 process', 'bare', 1, { BENCH_CARD: join(dir, 'card.json') }));
    targets.push(await startServer(`bare route, cluster of ${WORKERS}`, 'bare', WORKERS, { BENCH_CARD: join(dir, 'card.json') }));
    process.stdout.write(`full call answers 200, response ${cardBytes} bytes; warming up\n`);
    for (const t of targets) await load(t.port, body, pools.get(t.label) ?? null, t.kind === 'full' ? WARMUP : WARMUP * 10);

    const rows = new Map<string, Row>(targets.map((t) => [t.label, { rps: [], p50: [], p99: [], c1p50: [], c1p99: [], cpuUs: [], sysUs: [], ratio: [], ratioOwn: [] }]));
    for (let round = 1; round <= ROUNDS; round++) {
      const rps = new Map<string, number>();
      for (const t of targets) {
        const before = await cpuOf(t);
        const r = await load(t.port, body, pools.get(t.label) ?? null, t.kind === 'full' ? AMOUNT : ANCHOR_AMOUNT);
        const after = await cpuOf(t);
        const row = rows.get(t.label) as Row;
        rps.set(t.label, r['2xx'] / r.wallSeconds);
        row.rps.push(r['2xx'] / r.wallSeconds);
        row.p50.push(r.latency.p50);
        row.p99.push(r.latency.p99);
        row.cpuUs.push((after.us - before.us) / Math.max(1, after.calls - before.calls));
        row.sysUs.push((after.sysUs - before.sysUs) / Math.max(1, after.calls - before.calls));
      }
      for (const t of targets) {
        const lat = await sequential(t.port, body, pools.get(t.label) ?? null, C1);
        const row = rows.get(t.label) as Row;
        row.c1p50.push(quantile(lat, 0.5));
        row.c1p99.push(quantile(lat, 0.99));
      }
      const bareOne = rps.get('bare route, 1 process') ?? Number.NaN;
      const bareCluster = rps.get(`bare route, cluster of ${WORKERS}`) ?? Number.NaN;
      for (const t of targets) {
        const row = rows.get(t.label) as Row;
        row.ratio.push((rps.get(t.label) ?? Number.NaN) / bareOne);
        row.ratioOwn.push((rps.get(t.label) ?? Number.NaN) / (t.workers > 1 ? bareCluster : bareOne));
      }
      process.stdout.write(`round ${round}: ${targets.map((t) => `${t.label} ${(rps.get(t.label) ?? 0).toFixed(0)}/s`).join('; ')}\n`);
    }

    process.stdout.write('\nMedians over the rounds (ratios taken within each round):\n\n');
    process.stdout.write('| target | req/s (10 conn.) | ratio to bare, 1 process | ratio to bare of same shape | p50 ms | p99 ms | p50 ms (conc. 1) | p99 ms (conc. 1) | CPU per call | of which kernel |\n|---|---|---|---|---|---|---|---|---|---|\n');
    for (const t of targets) {
      const r = rows.get(t.label) as Row;
      process.stdout.write(`| ${t.label} | ${median(r.rps).toFixed(0)} | ${median(r.ratio).toFixed(3)} | ${median(r.ratioOwn).toFixed(3)} | ${median(r.p50).toFixed(0)} | ${median(r.p99).toFixed(0)} | ${median(r.c1p50).toFixed(2)} | ${median(r.c1p99).toFixed(2)} | ${(median(r.cpuUs) / 1000).toFixed(3)} ms | ${(median(r.sysUs) / 1000).toFixed(3)} ms |\n`);
    }
    const single = rows.get('full call, 1 process') as Row;
    const clustered = rows.get(`full call, cluster of ${WORKERS}`) as Row;
    process.stdout.write(
      `\ngoals: single-process ratio ${median(single.ratio).toFixed(3)} (>= 0.10), CPU per call ${(median(single.cpuUs) / 1000).toFixed(3)} ms (<= 0.85), cluster ratio ${median(clustered.ratio).toFixed(3)} (>= 0.15), p99 at 10 connections ${median(single.p99).toFixed(0)} / ${median(clustered.p99).toFixed(0)} ms (< 50), p50 at concurrency 1 ${median(single.c1p50).toFixed(2)} ms (< 2)\n`,
    );
    for (const t of targets.filter((x) => x.kind === 'full')) process.stdout.write(`audit store of ${t.label} (this process or one worker): ${JSON.stringify(await getJson(t.port, '/_bench/stats'))}\n`);
  } finally {
    for (const t of targets) await stopServer(t.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:cds failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
