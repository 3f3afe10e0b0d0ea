/**
 * No 500 body ever carries an internal message: whatever fails inside (a registry error of status 500,
 * a plain exception), the client gets a generic text and an incident id, and the detail goes to the log
 * under that id. Run on the real app (its one error handler), by inject and over a real socket.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TnpError } from '../../src/errors.js';
import { startApp, type RunningApp } from '../support/cds-app.js';

const SECRET = 'relation "audit_jti" violates secret-internal-detail 0x00';

let app: RunningApp;

function routes(r: RunningApp['app']): void {
  r.get('/boom/registry', () => {
    throw new TnpError('TNP_ERR_AUDIT_RECORD_INVALID', `rememberJti: ${SECRET}`);
  });
  r.get('/boom/pathway', () => {
    throw new TnpError('TNP_ERR_PATHWAY_NOT_TOTAL', `no branch: ${SECRET}`);
  });
  r.get('/boom/plain', () => {
    throw new Error(SECRET);
  });
  r.get('/boom/string', () => {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- a hostile throw, on purpose
    throw SECRET;
  });
}


beforeAll(async () => {
  // Routes that fail inside, added to the real app before it listens.
  app = await startApp({ clients: [], routes });
});

afterAll(async () => {
  await app?.close();
});

describe('500 bodies carry no internal message', () => {
  it.each([
    ['a registry error of status 500 (TNP_ERR_AUDIT_RECORD_INVALID)', '/boom/registry'],
    ['a registry error of status 500 (TNP_ERR_PATHWAY_NOT_TOTAL)', '/boom/pathway'],
    ['a plain Error', '/boom/plain'],
    ['a thrown string', '/boom/string'],
  ])('%s: generic text and an incident id; the detail is in the log under that id', async (_label, url) => {
    const res = await app.app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('secret-internal-detail');
    expect(res.body).not.toContain('audit_jti');
    const outcome = res.json<{ issue: { details: { text: string; coding: { code: string }[] } }[] }>();
    expect(outcome.issue).toHaveLength(1);
    expect(outcome.issue[0]?.details.coding[0]?.code).toBe('TNP_ERR_INTERNAL');
    const m = /^internal error \(incident ([0-9a-f-]{36})\)$/.exec(outcome.issue[0]?.details.text ?? '');
    expect(m, outcome.issue[0]?.details.text).not.toBeNull();
    const incident = m?.[1];
    const line = app.logs.find((l) => l['incident'] === incident);
    expect(line, 'a log line under the incident id').toBeDefined();
    expect(JSON.stringify(line)).toContain('secret-internal-detail');
  });

  it('over a real socket too', async () => {
    const res = await fetch(`${app.url}/boom/registry`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret-internal-detail');
    expect(text).toMatch(/internal error \(incident [0-9a-f-]{36}\)/);
  });
});


/** Sends raw bytes; resolves with everything the server wrote before it closed the socket. */
function rawRequest(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname);
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('utf8')));
    s.on('error', reject);
    s.on('close', () => resolve(got));
    s.write(bytes);
  });
}

describe('requests the HTTP parser refuses', () => {
  it('oversized headers and malformed requests are answered with a FHIR OperationOutcome naming the fault, not the framework body', async () => {
    const big = await rawRequest(app.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(big).toContain('application/fhir+json');
    const bigBody = JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4));
    expect(bigBody.resourceType).toBe('OperationOutcome');
    expect(bigBody.issue[0].details.coding[0].code).toBe('TNP_ERR_HEADERS_TOO_LARGE');
    const bad = await rawRequest(app.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n');
    expect(bad).toMatch(/^HTTP\/1\.1 400 /);
    const badBody = JSON.parse(bad.slice(bad.indexOf('\r\n\r\n') + 4));
    expect(badBody.issue[0].details.coding[0].code).toBe('TNP_ERR_REQUEST_UNREADABLE');
    expect(bad).not.toContain('Client Error');
  });
});
