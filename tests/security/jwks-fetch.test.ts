/**
 * Fetching a client's JWKS from its `jwksUrl` is bounded: the body is streamed and reading stops (the
 * connection is closed) past JWKS_MAX_BYTES (64 kB), the whole fetch is bounded by
 * JWKS_FETCH_TIMEOUT_MS, and while no key is held a failed fetch is retried after a short back-off
 * (1 s, 2 s, 4 s ... capped) instead of a 30 s lock-out. A 400 MB JWKS used to be read whole (1.3 GB).
 *
 * Real app, real loopback servers; the clock and the fetch timer are injected: no test waits for real
 * time to pass. Memory is bounded by the cap: what is asserted is how many bytes the server got to hand
 * to the socket before the service closed it (loopback socket buffers included), never RSS or timing.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJwksFetcher, JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES, JWKS_RETRY_MAX_MS, type JwksTimers } from '../../src/cds/jwks-fetch.js';
import { JWKS_REFETCH_MIN_INTERVAL_MS } from '../../src/cds/jwt.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { call, DISCOVERY_PATH, PUBLIC_BASE_URL, startApp, type RunningApp } from '../support/cds-app.js';

const ISS = 'https://jwks-ehr.example';
const T0 = Date.parse('2026-01-15T10:00:00.000Z');
/** What loopback socket buffers may hold beyond what the service read (a few MB on Linux). */
const SOCKET_SLACK = 16 * 1024 * 1024;

type Handler = (req: IncomingMessage, res: ServerResponse, state: JwksHost) => void;

interface JwksHost {
  readonly url: string;
  hits: number;
  /** Bytes of body the server handed to the socket, per request, until the connection closed. */
  sent: number[];
  /** Resolves when the connection of request `i` is closed (by either side). */
  closed: Promise<void>[];
  handler: Handler;
  server: Server;
}

async function jwksHost(handler: Handler): Promise<JwksHost> {
  const state = { url: '', hits: 0, sent: [] as number[], closed: [] as Promise<void>[], handler, server: createServer() };
  state.server.on('request', (req, res) => {
    const i = state.hits++;
    state.sent[i] = 0;
    state.closed[i] = new Promise<void>((resolve) => res.on('close', () => resolve()));
    state.handler(req, res, state);
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/jwks.json`;
  return state;
}

async function stop(h: JwksHost): Promise<void> {
  h.server.closeAllConnections();
  await new Promise<void>((resolve) => h.server.close(() => resolve()));
}

/** Writes `total` bytes of JSON whitespace (Infinity: until the peer goes), honouring backpressure. */
function stream(res: ServerResponse, state: JwksHost, total: number, opts: { declareLength?: boolean } = {}): void {
  const i = state.hits - 1;
  const head = '{"keys":[';
  res.writeHead(200, { 'content-type': 'application/json', ...(opts.declareLength === true ? { 'content-length': String(total) } : {}) });
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let left = total;
  let gone = false;
  res.on('close', () => (gone = true));
  const pump = (): void => {
    if (state.sent[i] === 0) {
      res.write(head);
      state.sent[i] = head.length;
      left -= head.length;
    }
    while (!gone && left > 0) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      state.sent[i] = (state.sent[i] ?? 0) + piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!gone) res.end();
  };
  pump();
}

/** Timers the test fires by hand. */
function manualTimers(): JwksTimers & { pending: { fn: () => void; ms: number; cleared: boolean }[] } {
  const pending: { fn: () => void; ms: number; cleared: boolean }[] = [];
  return {
    pending,
    setTimeout(fn, ms) {
      const t = { fn, ms, cleared: false };
      pending.push(t);
      return t;
    },
    clearTimeout(handle) {
      (handle as { cleared: boolean }).cleared = true;
    },
  };
}

let ehr: CdsTestClient;
const clock = { ms: T0 };
const now = (): Date => new Date(clock.ms);

beforeAll(async () => {
  ehr = await createCdsClient({ iss: ISS, alg: 'ES384', now });
});

async function discovery(app: RunningApp): Promise<number> {
  const token = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${DISCOVERY_PATH}` });
  return (await call(app, null, 'GET', DISCOVERY_PATH, undefined, { token })).status;
}

function refusals(app: RunningApp): string[] {
  return app.logs.filter((l) => l['event'] === 'jwt-refused').map((l) => String(l['reason']));
}

describe('the JWKS body is capped at 64 kB', () => {
  let host: JwksHost;
  let app: RunningApp;

  beforeAll(async () => {
    host = await jwksHost(() => undefined);
    app = await startApp({ now, settings: { cdsClients: [{ iss: ISS, jwksUrl: host.url }] } });
  });

  afterAll(async () => {
    await app?.close();
    await stop(host);
  });

  afterEach(() => {
    // Every case starts with no key held and its retry due.
    clock.ms += JWKS_REFETCH_MIN_INTERVAL_MS + JWKS_RETRY_MAX_MS;
  });

  it('an endless body: refused, and the connection is closed once the cap is passed', async () => {
    host.handler = (_req, res, s) => stream(res, s, Number.POSITIVE_INFINITY);
    expect(await discovery(app)).toBe(401);
    const i = host.hits - 1;
    await host.closed[i];
    expect(host.sent[i]).toBeGreaterThan(JWKS_MAX_BYTES);
    expect(host.sent[i]).toBeLessThan(JWKS_MAX_BYTES + SOCKET_SLACK);
    expect(refusals(app).at(-1)).toMatch(/no JWKS .*larger than 65536 bytes/);
  });

  for (const [label, size] of [
    ['10x the cap', 10 * JWKS_MAX_BYTES],
    ['1,000x the cap (64 MB)', 1000 * JWKS_MAX_BYTES],
  ] as const) {
    it(`a body of ${label}, streamed: refused, read no further than the cap`, async () => {
      host.handler = (_req, res, s) => stream(res, s, size);
      expect(await discovery(app)).toBe(401);
      const i = host.hits - 1;
      await host.closed[i];
      expect(host.sent[i]).toBeLessThanOrEqual(Math.min(size, JWKS_MAX_BYTES + SOCKET_SLACK));
      expect(refusals(app).at(-1)).toMatch(/larger than 65536 bytes/);
    });

    it(`a body of ${label} with its Content-Length: refused before reading it`, async () => {
      host.handler = (_req, res, s) => stream(res, s, size, { declareLength: true });
      expect(await discovery(app)).toBe(401);
      const i = host.hits - 1;
      await host.closed[i];
      expect(host.sent[i]).toBeLessThanOrEqual(Math.min(size, JWKS_MAX_BYTES + SOCKET_SLACK));
      expect(refusals(app).at(-1)).toMatch(/larger than 65536 bytes/);
    });
  }

  it('a JWKS of exactly the cap is accepted; one byte more is refused', async () => {
    const doc = JSON.stringify(ehr.jwks);
    const padded = (extra: number): string => `${doc.slice(0, -1)}${' '.repeat(JWKS_MAX_BYTES - doc.length + extra)}}`;
    expect(Buffer.byteLength(padded(0))).toBe(JWKS_MAX_BYTES);
    host.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(padded(1));
    expect(await discovery(app)).toBe(401);
    expect(refusals(app).at(-1)).toMatch(/larger than 65536 bytes/);
    clock.ms += JWKS_RETRY_MAX_MS;
    host.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(padded(0));
    expect(await discovery(app)).toBe(200);
  });
});

describe('the JWKS fetch is bounded in time (injected timer)', () => {
  let host: JwksHost;
  let app: RunningApp;
  const timers = manualTimers();

  beforeAll(async () => {
    host = await jwksHost(() => undefined);
    app = await startApp({ now, fetchJwks: createJwksFetcher({ timers }), settings: { cdsClients: [{ iss: ISS, jwksUrl: host.url }] } });
  });

  afterAll(async () => {
    await app?.close();
    await stop(host);
  });

  it('a body that stalls: when the time bound fires, the fetch is abandoned, the connection closed, the call refused', async () => {
    const requested = new Promise<void>((resolve) => {
      host.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys":['); // ... and nothing more
        resolve();
      };
    });
    const answer = discovery(app);
    await requested;
    const timer = timers.pending.at(-1);
    expect(timer?.ms).toBe(JWKS_FETCH_TIMEOUT_MS);
    expect(timer?.cleared).toBe(false);
    timer?.fn();
    expect(await answer).toBe(401);
    await host.closed[host.hits - 1];
    expect(refusals(app).at(-1)).toMatch(/within 3000 ms/);
  });

  it('a server that never answers the headers: the same', async () => {
    clock.ms += JWKS_RETRY_MAX_MS;
    const requested = new Promise<void>((resolve) => {
      host.handler = () => resolve();
    });
    const answer = discovery(app);
    await requested;
    timers.pending.at(-1)?.fn();
    expect(await answer).toBe(401);
    await host.closed[host.hits - 1];
  });

  it('a fetch that completes clears its timer', async () => {
    clock.ms += JWKS_RETRY_MAX_MS;
    host.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(ehr.jwks));
    expect(await discovery(app)).toBe(200);
    expect(timers.pending.at(-1)?.cleared).toBe(true);
  });
});

describe('recovery: while no key is held, a failed fetch is retried after a short back-off', () => {
  let host: JwksHost;
  let app: RunningApp;
  let healthy = false;

  beforeAll(async () => {
    clock.ms = T0;
    host = await jwksHost((_req, res) => {
      if (healthy) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(ehr.jwks));
      else res.writeHead(503).end();
    });
    app = await startApp({ now, settings: { cdsClients: [{ iss: ISS, jwksUrl: host.url }] } });
  });

  afterAll(async () => {
    await app?.close();
    await stop(host);
  });

  it('1 s, 2 s, 4 s ... between attempts (capped), then the keys are used as soon as the URL answers', async () => {
    const at = async (offsetMs: number): Promise<number> => {
      clock.ms = T0 + offsetMs;
      return discovery(app);
    };
    expect(await at(0)).toBe(401);
    expect(host.hits).toBe(1);
    expect(await at(500)).toBe(401); // within the first back-off: not fetched again
    expect(host.hits).toBe(1);
    expect(await at(1_000)).toBe(401); // 1 s after the first failure
    expect(host.hits).toBe(2);
    expect(await at(2_500)).toBe(401);
    expect(host.hits).toBe(2);
    expect(await at(3_000)).toBe(401); // 2 s after the second
    expect(host.hits).toBe(3);
    expect(await at(7_000)).toBe(401); // 4 s after the third
    expect(host.hits).toBe(4);
    // The back-off never exceeds JWKS_RETRY_MAX_MS, however long the URL fails.
    let t = 7_000;
    for (let k = 0; k < 10; k++) {
      t += JWKS_RETRY_MAX_MS;
      await at(t);
    }
    expect(host.hits).toBe(14);
    expect(refusals(app).at(-1)).toMatch(/no JWKS .*HTTP 503.*retry/);
    // The URL recovers: the next call after the back-off gets the keys.
    healthy = true;
    expect(await at(t + JWKS_RETRY_MAX_MS)).toBe(200);
    expect(host.hits).toBe(15);
  });

  it('once keys are held, an unknown kid still refetches at most every 30 s', async () => {
    const hits = host.hits;
    const base = clock.ms;
    for (let k = 1; k <= 5; k++) {
      clock.ms = base + k * 1_000;
      const token = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${DISCOVERY_PATH}`, header: { kid: `unknown-${randomUUID()}` } });
      expect((await call(app, null, 'GET', DISCOVERY_PATH, undefined, { token })).status).toBe(401);
    }
    expect(host.hits).toBe(hits);
    expect(await discovery(app)).toBe(200);
  });
});
