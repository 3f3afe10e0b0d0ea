/**
 * S-17: the FHIR pull is bounded. A FHIR server (or whoever answers as one) can send any number of
 * Observations, pages and bytes; the service reads at most FHIR_LIMITS of each, and past a limit answers
 * 412 (the record could not be completely obtained, so it is never evaluated as if complete), audited
 * with the limit that was met. Each bound is tested at 10x normal size (answered) and 1,000x (refused
 * early): normal is one episode's 20 Observations on one page of about 20 KB.
 *
 * The body bound sits in the dispatcher of the FHIR client's `fetch` (src/fhir/body-guard.ts), so it is
 * also tested at its edge (exactly the limit is read, one byte more is not), on the headers (a
 * Content-Length over the limit is refused before any of the body comes), and against compression (a
 * gzip of 20 KB that decodes to 20 MB). No connection of a pull is left open after it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FHIR_LIMITS } from '../../src/fhir/session.js';
import { admin, call, EHR_ISS, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp, type WireJson } from '../support/cds-app.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { startLoopbackServer, type LoopbackServer } from '../support/loopback-server.js';
import { manualTimers } from '../support/manual-timers.js';

const NOW = '2026-04-17T13:20:00Z';
const now = (): Date => new Date(NOW);
const NORMAL_OBSERVATIONS = 20;

let ehr: CdsTestClient;
let fhir: LoopbackServer;
let app: RunningApp;

/** How the synthetic FHIR server answers a search: `total` Observations, `perPage` a page, each padded. */
let shape = { total: 0, perPage: 100, pad: 0 };

function observation(patientId: string, i: number, pad: number): Record<string, unknown> {
  return {
    resourceType: 'Observation',
    id: `o-${i}`,
    status: 'final',
    subject: { reference: `Patient/${patientId}` },
    code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] },
    effectiveDateTime: new Date(Date.parse(NOW) - (i + 1) * 60_000).toISOString(),
    valueQuantity: { value: 5 + (i % 7), unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
    ...(pad > 0 ? { note: [{ text: 'x'.repeat(pad) }] } : {}),
  };
}

/** Writes a page without ever holding it whole: entry by entry, respecting backpressure. */
async function writePage(res: ServerResponse, patientId: string, offset: number): Promise<void> {
  const end = Math.min(shape.total, offset + shape.perPage);
  const next = end < shape.total ? `${fhir.origin}/fhir/Observation?patient=${patientId}&_offset=${end}` : null;
  res.writeHead(200, { 'content-type': 'application/fhir+json' });
  const head = { resourceType: 'Bundle', type: 'searchset', total: shape.total, link: next === null ? [] : [{ relation: 'next', url: next }] };
  const write = (text: string): Promise<void> => (res.write(text) ? Promise.resolve() : new Promise((r) => res.once('drain', () => r())));
  await write(`${JSON.stringify(head).slice(0, -1)},"entry":[`);
  for (let i = offset; i < end; i++) {
    if (res.destroyed) return;
    await write(`${i > offset ? ',' : ''}${JSON.stringify({ resource: observation(patientId, i, shape.pad), search: { mode: 'match' } })}`);
  }
  res.end(']}');
}

/** The synthetic FHIR server's usual answer: the pages of {@link shape}. */
async function pages(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  await writePage(res, url.searchParams.get('patient') ?? 'p', Number(url.searchParams.get('_offset') ?? '0'));
}

beforeAll(async () => {
  ehr = await createCdsClient({ iss: EHR_ISS, alg: 'ES384', now });
  // Idle connections are kept (and offered) for 10 minutes: only the client closes them in a test's time.
  fhir = await startLoopbackServer(pages, { keepAliveTimeoutMs: 600_000 });
  app = await startApp({ clients: [ehr], now, fhirServers: [`${fhir.origin}/fhir`], timers: manualTimers() });
});

afterAll(async () => {
  await app?.close();
  await fhir?.close();
});

afterEach(() => fhir.setHandler(pages));

async function pull(extra: Record<string, unknown> = {}): Promise<{ status: number; json: WireJson; record: WireJson }> {
  const patientId = `pbig-${randomUUID().slice(0, 8)}`;
  fhir.requests.length = 0;
  const res = await call(app, ehr, 'POST', SERVICE_PATH, hookBody(patientId, { fhirServer: `${fhir.origin}/fhir`, fhirAuthorization: { access_token: 'tok', token_type: 'Bearer' }, ...extra }));
  const list = await admin(app, `/audit?patient=${patientId}`);
  expect(list.json.records).toHaveLength(1);
  return { status: res.status, json: res.json, record: list.json.records[0] };
}

function expectLimit(r: { status: number; json: WireJson; record: WireJson }, what: RegExp): void {
  expect(r.status).toBe(412);
  expect(r.json.issue[0].details.coding[0].code).toBe('TNP_ERR_FHIR_UNAVAILABLE');
  expect(r.record.kind).toBe('evaluation-failure');
  expect(r.record.body.error.cause.code).toBe('TNP_ERR_FHIR_LIMIT_EXCEEDED');
  expect(r.record.body.error.cause.message).toMatch(what);
}

describe('S-17: Observations', () => {
  it('10x normal (200 Observations, two pages): all read and evaluated', async () => {
    shape = { total: 10 * NORMAL_OBSERVATIONS, perPage: 100, pad: 0 };
    const r = await pull();
    expect(r.status).toBe(200);
    // Every one was read and weighed; the record lists the first digests and counts them all (S-13).
    expect(r.record.body.inputResourceCount).toBe(200);
    expect(r.record.body.inputResources.length).toBeLessThanOrEqual(200);
    expect(fhir.requests).toHaveLength(2);
  });

  it(`1,000x normal (20,000 Observations in pages of 1,000): 412 past ${FHIR_LIMITS.maxResources} resources, the rest never requested`, async () => {
    shape = { total: 1000 * NORMAL_OBSERVATIONS, perPage: 1000, pad: 0 };
    const r = await pull();
    expectLimit(r, new RegExp(`more than ${FHIR_LIMITS.maxResources} resources`));
    expect(fhir.requests.length).toBeLessThanOrEqual(Math.ceil(FHIR_LIMITS.maxResources / 1000) + 1);
  });
});

describe('S-17: pages', () => {
  it('10x normal (10 pages of 2): followed to the end', async () => {
    shape = { total: NORMAL_OBSERVATIONS, perPage: 2, pad: 0 };
    const r = await pull();
    expect(r.status).toBe(200);
    expect(r.record.body.inputResourceCount).toBe(NORMAL_OBSERVATIONS);
    expect(fhir.requests).toHaveLength(10);
  });

  it(`1,000x normal (1,000 pages): 412 after ${FHIR_LIMITS.maxPages} pages, by pull and by prefetch paging`, async () => {
    shape = { total: 1000, perPage: 1, pad: 0 };
    const r = await pull();
    expectLimit(r, new RegExp(`more than ${FHIR_LIMITS.maxPages} pages`));
    expect(fhir.requests).toHaveLength(FHIR_LIMITS.maxPages);
    const paged = await pull({ prefetch: { observations: searchset([], `${fhir.origin}/fhir/Observation?patient=x&_offset=1`) } });
    expectLimit(paged, new RegExp(`more than ${FHIR_LIMITS.maxPages} pages`));
    // The prefetch Bundle is page 1.
    expect(fhir.requests).toHaveLength(FHIR_LIMITS.maxPages - 1);
  });
});

describe('S-17: bytes of a response body', () => {
  it('10x normal (a 200 KB page): read', async () => {
    shape = { total: NORMAL_OBSERVATIONS, perPage: 100, pad: 10_000 };
    const r = await pull();
    expect(r.status).toBe(200);
    expect(r.record.body.inputResourceCount).toBe(NORMAL_OBSERVATIONS);
  });

  it(`1,000x normal (a 20 MB page): 412, reading stops past ${FHIR_LIMITS.maxBodyBytes} bytes`, async () => {
    shape = { total: NORMAL_OBSERVATIONS, perPage: 100, pad: 1_000_000 };
    const r = await pull();
    expectLimit(r, new RegExp(`larger than ${FHIR_LIMITS.maxBodyBytes} bytes`));
    // The service went away before the server had written the page.
    await fhir.until(() => fhir.requests.length === 1 && fhir.requests[0]!.aborted);
  });
});

/** A searchset Bundle with no entry, padded to exactly `bytes` bytes of JSON. */
function bundleOfBytes(bytes: number): Buffer {
  const head = '{"resourceType":"Bundle","type":"searchset","entry":[],"pad":"';
  return Buffer.from(`${head}${'x'.repeat(bytes - head.length - 2)}"}`);
}

describe('S-17: bytes of a response body, at the limit and on its headers', () => {
  it.each([
    ['with a Content-Length', true],
    ['chunked', false],
  ])(`a body of exactly ${FHIR_LIMITS.maxBodyBytes} bytes is read; one byte more is refused (%s)`, async (_name, declared) => {
    for (const [bytes, ok] of [
      [FHIR_LIMITS.maxBodyBytes, true],
      [FHIR_LIMITS.maxBodyBytes + 1, false],
    ] as const) {
      const body = bundleOfBytes(bytes);
      expect(body.length).toBe(bytes);
      fhir.setHandler((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/fhir+json', ...(declared ? { 'content-length': String(bytes) } : {}) });
        // Chunked: written in pieces, so that no length is known before the end.
        if (declared) res.end(body);
        else {
          for (let at = 0; at < body.length; at += 65_536) res.write(body.subarray(at, at + 65_536));
          res.end();
        }
      });
      const r = await pull();
      if (ok) expect(r.status, `${bytes} bytes`).toBe(200);
      else expectLimit(r, new RegExp(`larger than ${FHIR_LIMITS.maxBodyBytes} bytes`));
    }
  });

  it('a Content-Length over the limit is refused on the headers, before any of the body is sent', async () => {
    fhir.setHandler((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/fhir+json', 'content-length': String(1000 * 20_000) });
      // Headers only: the body never comes. Refused at once, or this request would wait for it.
      res.flushHeaders();
    });
    const r = await pull();
    expectLimit(r, new RegExp(`larger than ${FHIR_LIMITS.maxBodyBytes} bytes`));
    await fhir.until(() => fhir.requests.length === 1 && fhir.requests[0]!.aborted);
  });

  it.each([
    ['10x', 10_000],
    ['1,000x', 1_000_000],
  ])('a compressed body (gzip of a page of %s normal size) is refused unread: bodies are asked for uncompressed, so a small gzip cannot expand past the limit', async (_name, pad) => {
    shape = { total: NORMAL_OBSERVATIONS, perPage: 100, pad };
    const page = JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: Array.from({ length: NORMAL_OBSERVATIONS }, (_, i) => ({ resource: observation('p', i, pad) })) });
    const gz = gzipSync(page);
    expect(gz.length).toBeLessThan(FHIR_LIMITS.maxBodyBytes);
    const asked: (string | undefined)[] = [];
    fhir.setHandler((req, res) => {
      asked.push(req.headers['accept-encoding']);
      res.writeHead(200, { 'content-type': 'application/fhir+json', 'content-encoding': 'gzip', 'content-length': String(gz.length) });
      res.end(gz);
    });
    const r = await pull();
    expect(r.status).toBe(412);
    expect(r.record.body.error.cause.code).toBe('TNP_ERR_FHIR_FAILED');
    expect(r.record.body.error.cause.message).toMatch(/compressed body \(Content-Encoding: gzip\)/);
    expect(asked).toEqual(['identity']);
  });
});

describe('S-17: connections', () => {
  it('no connection outlives the pull, even when the server offers to keep it open for 10 minutes', async () => {
    shape = { total: NORMAL_OBSERVATIONS, perPage: 100, pad: 0 };
    const r = await pull();
    expect(r.status).toBe(200);
    expect(fhir.connections).toBeGreaterThan(0);
    // Resolves when the server sees the connection closed; a pooled connection would stay open.
    await fhir.until(() => fhir.open === 0);
  });
});
