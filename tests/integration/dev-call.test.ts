/**
 * The one-minute try-it path with real processes, as an integrator runs it: `npx hs-troponin-cds dev`
 * (node bin/hs-troponin-cds.js dev) as a child process on a free PORT in a fresh directory, then
 * `npx hs-troponin-cds call <fixture>` with the same HOST and PORT: a signed token, discovery read, the
 * prefetch filled, the card printed for the fixture's own `now`, with its audit id. And the clear
 * failures: no service, no key, a service started as `npm start` (401, with the likely causes).
 * The local key refused from another address: tests/security/dev-client.test.ts (I-01).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverProcess } from '../support/server-process.js';
import { FIXTURES_DIR, loadFixture } from '../support/fixtures.js';

const BIN = fileURLToPath(new URL('../../bin/hs-troponin-cds.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tnp-dev-'));
const kit = serverProcess(dir);

/** A port free now (the system picks it; PORT=0 itself would not tell `call` where to go). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function envWith(port: number): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env, HOST: '127.0.0.1', PORT: String(port) };
  delete env['HS_TROPONIN_CDS_SETTINGS'];
  return env;
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], port: number, cwd = dir): Promise<Run> {
  const p = spawn(process.execPath, [BIN, ...args], { cwd, env: envWith(port), stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  return new Promise((resolve) => p.once('close', (code) => resolve({ code, stdout, stderr })));
}

let port = 0;
let dev: ChildProcessWithoutNullStreams;
let devOut = '';
let devExit: Promise<number | null>;

beforeAll(async () => {
  port = await freePort();
  dev = spawn(process.execPath, [BIN, 'dev'], { cwd: dir, env: envWith(port), stdio: 'pipe' });
  dev.stdout.on('data', (d: Buffer) => (devOut += d.toString('utf8')));
  dev.stderr.on('data', (d: Buffer) => (devOut += d.toString('utf8')));
  devExit = new Promise((resolve) => dev.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev wrote no start line in 30 s:\n${devOut}`)), 30_000);
    const poll = setInterval(() => {
      if (/^Discovery: /m.test(devOut)) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve();
      }
    }, 20);
    void devExit.then((code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`dev exited (${String(code)}):\n${devOut}`));
    });
  });
}, 40_000);

afterAll(async () => {
  if (dev.exitCode === null) {
    dev.kill('SIGKILL');
    await devExit;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('npx hs-troponin-cds dev, then call', () => {
  it('dev says where it listens, that the local client is trusted from this machine only, and the call to make', () => {
    const url = `http://127.0.0.1:${port}`;
    expect(devOut).toContain(`hs-troponin-cds ready on ${url} (console: ${url}/console)`);
    expect(devOut).toContain('urn:hs-troponin-cds:local-dev-client');
    expect(devOut).toMatch(/trusted for calls from this machine only/);
    expect(devOut).toContain(`PORT=${port} npx hs-troponin-cds call fhir-fixtures/below-url-rise-above-url-consistent.json`);
    // The key is the owner's alone.
    expect(statSync(join(dir, 'data', 'dev-client-key.json')).mode & 0o777).toBe(0o600);
    // No "no CDS client" warning: the local client is one.
    expect(devOut).not.toContain('no-cds-clients');
  });

  it.each([
    ['below-url-rise-above-url-consistent', 'CRITICAL', 'consistent with myocardial infarction'],
    ['timi-zero-low-risk', 'INFO', ''],
  ])('call %s prints its card for the fixture\'s now, with the audit id (exit 0)', async (name, indicator, words) => {
    const f = loadFixture(name);
    const r = await cli(['call', join(FIXTURES_DIR, `${name}.json`)], port);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`evaluated as at ${f.expected.now} (the fixture's now)`);
    expect(r.stdout).toMatch(new RegExp(`^Card 1 of 1 \\[${indicator}\\] .*${words}`, 'm'));
    expect(r.stdout).toMatch(/^ {2}\*\*Next step:\*\*/m);
    expect(r.stdout).toMatch(/^ {2}Audit id: [0-9a-f-]{36}$/m);
    expect(r.stdout).toContain(`The fixture expects ${f.expected.outcome}; the card's outcome is ${f.expected.outcome}.`);
  });

  it('a fixture written for another pathway: the card, and a note that the service runs another one (never a false match)', async () => {
    const r = await cli(['call', join(FIXTURES_DIR, 'esc-0h1h', 'esc1-1h-window-closed.json')], port);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Note: this fixture is for the pathway "esc-0h1h", the service runs "chart2"');
    expect(r.stdout).not.toContain('The fixture expects');
  });

  it('--now wins over the fixture\'s now', async () => {
    const r = await cli(['call', join(FIXTURES_DIR, 'below-url-rise-above-url-consistent.json'), '--now', '2026-03-06T12:00:00Z'], port);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('evaluated as at 2026-03-06T12:00:00Z (--now)');
    // At noon the 14:30 retest is still to be drawn: the card is not the fixture's.
    expect(r.stdout).toMatch(/the card's outcome is (?!consistent-with-mi)/);
  });

  it('a bad argument or file: exit 2 with what is wrong', async () => {
    expect((await cli(['call'], port)).code).toBe(2);
    const bad = await cli(['call', join(FIXTURES_DIR, 'timi-zero-low-risk.json'), '--now', 'yesterday'], port);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--now');
    // Bound: a file that would make a body over the service's 5 MiB is refused before it is sent.
    const huge = join(dir, 'huge.json');
    const f = loadFixture('below-url-rise-above-url-consistent').doc as { entry: unknown[] };
    writeFileSync(huge, JSON.stringify({ ...f, entry: Array.from({ length: 2500 }, () => f.entry).flat() }));
    const tooBig = await cli(['call', huge], port);
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr).toMatch(/over the 5 MiB the service takes/);
    const missing = await cli(['call', join(dir, 'no-such.json')], port);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read');
  });

  it('no service at HOST and PORT: exit 1, and how to start it', async () => {
    const r = await cli(['call', join(FIXTURES_DIR, 'timi-zero-low-risk.json')], await freePort());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no service answers at http://127.0.0.1:');
    expect(r.stderr).toContain('npx hs-troponin-cds dev');
    expect(r.stderr).toContain('TNP_ERR_SERVICE_UNREACHABLE');
  });

  it('no local key (another directory): exit 1, and where the key comes from', async () => {
    const other = mkdtempSync(join(dir, 'elsewhere-'));
    const r = await cli(['call', join(FIXTURES_DIR, 'timi-zero-low-risk.json')], port, other);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no local client key at data/dev-client-key.json');
    expect(r.stderr).toContain('TNP_ERR_DEV_CLIENT_KEY');
  });

  it('a service started as `npm start` (same directory and key, not trusted): exit 1, 401 with the likely causes', async () => {
    const s = await kit.start(kit.settingsFile({}), dir);
    try {
      const p = Number(new URL(s.url).port);
      const r = await cli(['call', join(FIXTURES_DIR, 'timi-zero-low-risk.json')], p);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('401: the service refused the local client');
      expect(r.stderr).toContain('started with `npm start`');
    } finally {
      await kit.stop(s);
    }
  }, 30_000);

  it('SIGTERM stops dev gracefully (exit 0)', async () => {
    dev.kill('SIGTERM');
    expect(await devExit).toBe(0);
  });
});
