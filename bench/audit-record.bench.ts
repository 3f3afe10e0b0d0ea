/**
 * CPU of the audit record part of one CDS call (issue 12), measured with process.cpuUsage, not wall time:
 * the body of a real evaluation record is captured from one in-process call of the bench request
 * (bench/cds-request.ts) through the real app, then, many times over:
 *   - `canonical`: the body's canonical text (canonicalPlainJson, what is stored and hashed);
 *   - `digests`: the input resources' digests (canonical JSON + sha256 of each freshly parsed resource, and
 *     the digest over the list), as a call computes them;
 *   - `append`: appendWithJti into a SQLite store (WAL, synchronous = FULL) in groups of 10, as 10
 *     concurrent calls do: checks, canonical text, chain hash, jti upsert, insert, commit.
 * Usage: npx tsx bench/audit-record.bench.ts [rounds, default 2000]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { buildApp } from '../src/app.js';
import { inputDigests, resourceDigest } from '../src/audit/input-digests.js';
import type { AuditRecordInput } from '../src/audit/record.js';
import { openAuditStore, type AuditStore } from '../src/audit/store.js';
import { createLogger } from '../src/observability/logger.js';
import { loadRuntime } from '../src/pathways/load.js';
import { loadSettings } from '../src/settings.js';
import { canonicalPlainJson } from '../src/util/canonical-json.js';
import { requestBody } from './cds-request.js';

const ROUNDS = Math.max(1, Number(process.argv[2] ?? 2000));
const BASE = 'http://bench.hs-troponin-cds.example';
const PATH = '/cds-services/hs-troponin-chest-pain';

/** One real call through the app; gives the evaluation record's input as the service handed it to the store. */
async function captureInput(dir: string): Promise<{ input: AuditRecordInput; request: string }> {
  const { publicKey, privateKey } = await generateKeyPair('RS384', { extractable: true });
  const kid = 'bench';
  const iss = 'https://rs384.ehr.example';
  const settings = loadSettings({ object: { publicBaseUrl: BASE, cdsClients: [{ iss, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS384', use: 'sig' }] } }], storage: { kind: 'sqlite', path: join(dir, 'capture.sqlite') }, dataDir: join(dir, 'data'), logLevel: 'warn' } });
  const now = (): Date => new Date();
  const store = await openAuditStore(settings.storage, { newId: randomUUID, now });
  let captured: AuditRecordInput | undefined;
  const spy = new Proxy(store, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (prop !== 'appendWithJti' || typeof v !== 'function') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      return (input: AuditRecordInput, ...rest: unknown[]): unknown => {
        if (input.kind === 'evaluation') captured = input;
        return (v as (...a: unknown[]) => unknown).call(target, input, ...rest);
      };
    },
  });
  const app = await buildApp(settings, { runtime: await loadRuntime(settings), store: spy, now, newId: randomUUID, logger: createLogger('warn') });
  const iat = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ iss, aud: `${BASE}${PATH}`, jti: randomUUID() }).setProtectedHeader({ alg: 'RS384', kid, typ: 'JWT' }).setIssuedAt(iat).setExpirationTime(iat + 3600).sign(privateKey);
  const request = requestBody();
  const res = await app.inject({ method: 'POST', url: PATH, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: request });
  await app.close();
  await store.close();
  if (res.statusCode !== 200 || captured === undefined) throw new Error(`the call gave ${res.statusCode}, no evaluation record: ${res.body.slice(0, 300)}`);
  return { input: captured, request };
}

/** CPU microseconds (user + system) per unit of `fn` run `n` times. */
async function cpuPer(n: number, fn: (i: number) => unknown): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn(i);
  const d = process.cpuUsage(start);
  return (d.user + d.system) / n;
}

function resourcesOf(request: string): unknown[] {
  const bundle = (JSON.parse(request) as { prefetch: { observations: { entry: { resource: unknown }[] } } }).prefetch.observations;
  return bundle.entry.map((e) => e.resource);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tnp-bench-audit-'));
  let store: AuditStore | undefined;
  try {
    const { input, request } = await captureInput(dir);
    const text = canonicalPlainJson(input.body);
    console.log(`audit-record bench: ${ROUNDS} rounds; body ${Buffer.byteLength(text)} bytes canonical; node ${process.version}; load ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    for (let i = 0; i < 200; i++) canonicalPlainJson(input.body);
    const canonical = await cpuPer(ROUNDS * 5, () => canonicalPlainJson(input.body));
    const digests = await cpuPer(ROUNDS, () => inputDigests(resourcesOf(request).map(resourceDigest)));
    const parseOnly = await cpuPer(ROUNDS, () => resourcesOf(request));
    store = await openAuditStore({ kind: 'sqlite', path: join(dir, 'bench.sqlite') }, { newId: randomUUID, now: () => new Date() });
    const s = store;
    const group = (): Promise<unknown> => Promise.all(Array.from({ length: 10 }, () => s.appendWithJti(input, 'https://rs384.ehr.example', randomUUID(), new Date(Date.now() + 3_600_000))));
    for (let i = 0; i < 20; i++) await group();
    const append = (await cpuPer(Math.ceil(ROUNDS / 10), group)) / 10;
    console.log(`CPU µs per record: canonical ${canonical.toFixed(1)}; input digests ${(digests - parseOnly).toFixed(1)} (without parsing the request); append (group of 10, commit included) ${append.toFixed(1)}`);
  } finally {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
