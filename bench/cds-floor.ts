/**
 * `npm run bench:floor`: what a CDS call cannot cost less than. Each step a call must take, done alone with
 * the libraries the service uses and nothing of ours around it, measured by this process's own CPU
 * counters (`process.cpuUsage()`, user and kernel) over a fixed number of repetitions:
 *
 * - RS384 verification of a signed JWT with its key already imported (jose), a new `jti` each time;
 * - sha256 of a 10 kB text (the audit record's body) and of six 1 kB texts (one per input resource);
 * - a durable SQLite append: a 10 kB row in a table with the audit trail's unique and secondary indexes,
 *   plus a replay-guard row, in WAL with `synchronous = FULL`, 3 calls per transaction (the group commit
 *   the service reaches at 10 connections);
 * - `JSON.stringify` of the 10 kB body and the 4 kB card, `JSON.parse` of the 4.9 kB request;
 * - raw DEFLATE of a 1.5 kB case and its HMAC (the console link).
 *
 * The bare fastify route (HTTP, parsing and sending) and the bare json-rules-engine run are measured by
 * `npm run bench:cds` and `npm run bench`; docs/performance.md adds them up. Stops by itself.
 */
import { createHash, createHmac, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { SignJWT, jwtVerify } from 'jose';
import { requestBody } from './cds-request.js';

const N = Number(process.env['BENCH_FLOOR_N'] ?? 4000);

interface Step {
  readonly name: string;
  readonly userUs: number;
  readonly sysUs: number;
}

async function measure(name: string, n: number, run: (i: number) => unknown): Promise<Step> {
  for (let i = 0; i < Math.min(500, n); i++) await run(i); // warm-up
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await run(i);
  const t = process.cpuUsage(t0);
  return { name, userUs: t.user / n, sysUs: t.system / n };
}

/** A text of `bytes` characters shaped like JSON members, so hashing and writing see realistic input. */
function textOf(bytes: number, seed: string): string {
  let s = `{"seed":"${seed}"`;
  for (let i = 0; s.length < bytes - 2; i++) s += `,"k${i}":"value of member ${i} ${seed}"`;
  return `${s}}`;
}

async function jwtStep(): Promise<Step> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const tokens: string[] = [];
  for (let i = 0; i < N + 500; i++) {
    tokens.push(await new SignJWT({}).setProtectedHeader({ alg: 'RS384', kid: 'k1' }).setIssuer('https://ehr.example').setAudience('https://cds.example/cds-services/x').setIssuedAt().setExpirationTime('5m').setJti(randomUUID()).sign(privateKey));
  }
  const key = publicKey;
  return measure('RS384 JWT verification (jose, key imported)', N, (i) => jwtVerify(tokens[i % tokens.length] as string, key, { issuer: 'https://ehr.example', audience: 'https://cds.example/cds-services/x', algorithms: ['RS384'] }));
}

function sqliteStep(dir: string): Promise<Step> {
  const db = new Database(join(dir, 'floor.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`CREATE TABLE records (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, at TEXT NOT NULL, patient_id TEXT, idempotency_key TEXT UNIQUE, body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
    CREATE INDEX records_patient ON records (patient_id, seq);
    CREATE TABLE jti (iss TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (iss, jti));
    CREATE INDEX jti_expires ON jti (expires_at);`);
  const insert = db.prepare('INSERT INTO records (seq, id, at, patient_id, idempotency_key, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const jti = db.prepare('INSERT INTO jti (iss, jti, expires_at) VALUES (?, ?, ?)');
  const body = textOf(10_000, 'body');
  const hash = 'a'.repeat(64);
  let seq = 0;
  const append = (): void => {
    seq += 1;
    insert.run(seq, randomUUID(), new Date().toISOString(), 'bench-patient', randomUUID(), body, hash, hash);
    jti.run('https://ehr.example', randomUUID(), Date.now() + 300_000);
  };
  const batch = db.transaction(() => {
    append();
    append();
    append();
  });
  // Per call: one third of a transaction of three calls.
  return measure('durable SQLite append (10 kB row + replay-guard row, WAL, synchronous = FULL, 3 per commit)', Math.ceil(N / 3), () => batch()).then((s) => {
    db.close();
    return { name: s.name, userUs: s.userUs / 3, sysUs: s.sysUs / 3 };
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tnp-bench-floor-'));
  try {
    const body10k = textOf(10_000, 'record');
    const resources = Array.from({ length: 6 }, (_, i) => textOf(1_000, `resource-${i}`));
    const bodyObject: unknown = JSON.parse(body10k);
    const card = textOf(4_000, 'card');
    const cardObject: unknown = JSON.parse(card);
    const request = requestBody();
    const caseText = textOf(1_500, 'case');
    const linkKey = Buffer.alloc(32, 7);
    const steps: Step[] = [];
    steps.push(await jwtStep());
    steps.push(await measure('sha256 of the 10 kB body and of 6 resources of 1 kB', N, () => {
      createHash('sha256').update(body10k).digest('hex');
      for (const r of resources) createHash('sha256').update(r).digest('hex');
    }));
    steps.push(await sqliteStep(dir));
    steps.push(await measure('JSON: parse the 4.9 kB request; stringify the 10 kB body and the 4 kB card', N, () => {
      JSON.parse(request);
      JSON.stringify(bodyObject);
      JSON.stringify(cardObject);
    }));
    steps.push(await measure('case link: raw DEFLATE (default level) of 1.5 kB and its HMAC-SHA256', N, () => {
      const packed = deflateRawSync(caseText);
      createHmac('sha256', linkKey).update(packed).digest('base64url');
    }));
    process.stdout.write(`hs-troponin-cds bench:floor: ${N} repetitions per step; node ${process.version}\n\n| step | user ms | kernel ms | total ms |\n|---|---|---|---|\n`);
    let user = 0;
    let sys = 0;
    for (const s of steps) {
      user += s.userUs;
      sys += s.sysUs;
      process.stdout.write(`| ${s.name} | ${(s.userUs / 1000).toFixed(3)} | ${(s.sysUs / 1000).toFixed(3)} | ${((s.userUs + s.sysUs) / 1000).toFixed(3)} |\n`);
    }
    process.stdout.write(`| **sum of the steps** | ${(user / 1000).toFixed(3)} | ${(sys / 1000).toFixed(3)} | ${((user + sys) / 1000).toFixed(3)} |\n`);
    process.stdout.write('\nAdd the bare route\'s CPU per call (npm run bench:cds) and the bare json-rules-engine run (npm run bench) for the floor of a call.\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:floor failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
