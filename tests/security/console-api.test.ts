/**
 * S-22: the console API is public (no authentication) and runs the engine for anyone. Against the real
 * app (buildApp, inject and real sockets on 127.0.0.1): per-client rate limits answered 429 with an
 * OperationOutcome and Retry-After, a small body limit and a bound on the resources of one request
 * (413), and the outcome map's cost bounded by caches of a fixed size.
 *
 * No test depends on elapsed time: the rate-limit windows follow the app's injected clock, and the
 * map's cost is counted in engine evaluations (a metric), never timed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startConsole, type ConsoleApp } from '../support/browser.js';
import { startApp, type RunningApp, type WireJson } from '../support/cds-app.js';
import { loadFixture } from '../support/fixtures.js';

const T0 = Date.parse('2026-03-14T09:00:00Z');

let running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.map((a) => a.close()));
  running = [];
});

/** The real app with a clock that moves only when the test moves it. */
async function appWithClock(settings: Record<string, unknown> = {}): Promise<{ app: RunningApp; clock: { ms: number } }> {
  const clock = { ms: T0 };
  // `rateLimit: {}`: the defaults, for every group the test does not set.
  const app = await startApp({ settings: { logLevel: 'silent', rateLimit: {}, ...settings }, now: () => new Date(clock.ms) });
  running.push(app);
  return { app, clock };
}

function codeOf(json: WireJson): string | undefined {
  return json?.issue?.[0]?.details?.coding?.[0]?.code;
}

async function post(app: RunningApp, path: string, body: string): Promise<{ status: number; headers: Headers; json: WireJson }> {
  const res = await fetch(`${app.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) };
}

/** One sample value of a metric from the Prometheus text (0 when absent). */
async function metric(app: RunningApp, name: string, labels = ''): Promise<number | undefined> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels === '' ? ' ' : `{${labels}} `}`) || (labels === '' && l.startsWith(`${name}{`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('S-22 rate limits on the public console API', () => {
  it('answers 429 with an OperationOutcome and Retry-After once a client has used its budget; other clients are still served (inject)', async () => {
    const { app } = await appWithClock();
    const get = (remoteAddress: string) => app.app.inject({ method: 'GET', url: '/console/api/pathway', remoteAddress });
    // The default budget of the console API: 120 requests a minute per client address.
    for (let i = 0; i < 120; i++) expect((await get('203.0.113.7')).statusCode, `request ${i + 1}`).toBe(200);
    const refused = await get('203.0.113.7');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['content-type']).toMatch(/^application\/fhir\+json/);
    expect(Number(refused.headers['retry-after'])).toBe(60);
    const oo = refused.json<WireJson>();
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(codeOf(oo)).toBe('TNP_ERR_RATE_LIMITED');
    expect(oo.issue[0].code).toBe('throttled');
    expect(oo.issue[0].diagnostics).toMatch(/^How to fix: /);
    // The console's security headers stay on the refusal.
    expect(refused.headers['content-security-policy']).toContain("default-src 'none'");
    // Another client has its own budget.
    expect((await get('198.51.100.20')).statusCode).toBe(200);
    // The engine-bearing routes share the budget: evaluate is refused too, before its body is read.
    const evaluate = await app.app.inject({ method: 'POST', url: '/console/api/evaluate', remoteAddress: '203.0.113.7', payload: { resources: [{ resourceType: 'Patient' }] } });
    expect(evaluate.statusCode).toBe(429);
  });

  it('the window follows the injected clock: a refused client is served again once it has passed', async () => {
    const { app, clock } = await appWithClock({ rateLimit: { consoleApi: { max: 3, timeWindowMs: 3_600_000 } } });
    const get = async () => (await app.app.inject({ method: 'GET', url: '/console/api/pathway', remoteAddress: '203.0.113.9' })).statusCode;
    expect([await get(), await get(), await get(), await get()]).toEqual([200, 200, 200, 429]);
    clock.ms += 3_599_000;
    const late = await app.app.inject({ method: 'GET', url: '/console/api/pathway', remoteAddress: '203.0.113.9' });
    expect(late.statusCode).toBe(429);
    expect(Number(late.headers['retry-after'])).toBe(1);
    clock.ms += 1_000;
    expect(await get()).toBe(200);
  });

  it('over a real socket: evaluate, pathway and fixtures share one budget, the map has its own smaller one, and each refusal is counted', async () => {
    const { app } = await appWithClock({ rateLimit: { consoleApi: { max: 3, timeWindowMs: 3_600_000 }, consoleMap: { max: 2, timeWindowMs: 3_600_000 } } });
    const f = loadFixture('below-url-rise-above-url-consistent');
    const evaluate = JSON.stringify({ bundle: f.doc, now: f.expected.now });
    expect((await post(app, '/console/api/evaluate', evaluate)).status).toBe(200);
    expect((await fetch(`${app.url}/console/api/pathway`)).status).toBe(200);
    expect((await fetch(`${app.url}/console/api/fixtures`)).status).toBe(200);
    const refused = await post(app, '/console/api/evaluate', evaluate);
    expect(refused.status).toBe(429);
    expect(codeOf(refused.json)).toBe('TNP_ERR_RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const map = JSON.stringify({ assay: 'roche-elecsys-hs-tnt', baseline: '10', timi: 2 });
    expect((await post(app, '/console/api/map', map)).status).toBe(200);
    expect((await post(app, '/console/api/map', map)).status).toBe(200);
    expect((await post(app, '/console/api/map', map)).status).toBe(429);
    expect(await metric(app, 'hs_troponin_cds_rate_limited_total', 'group="consoleApi"')).toBe(1);
    expect(await metric(app, 'hs_troponin_cds_rate_limited_total', 'group="consoleMap"')).toBe(1);
  });

  it('the page and its files have their own generous budget; /healthz and /metrics are never limited', async () => {
    const { app } = await appWithClock({ rateLimit: { consolePages: { max: 4, timeWindowMs: 3_600_000 } } });
    for (const path of ['/console', '/console/js/main.js', '/console/assets/console.css', '/console/rules']) expect((await fetch(`${app.url}${path}`)).status, path).toBe(200);
    const refused = await fetch(`${app.url}/console/js/api.js`);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as WireJson).resourceType).toBe('OperationOutcome');
    // The API's budget is separate from the pages'.
    expect((await fetch(`${app.url}/console/api/pathway`)).status).toBe(200);
    for (let i = 0; i < 200; i++) {
      expect((await app.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect((await app.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    }
  });

  it('behind a trusted proxy each client (X-Forwarded-For) has its own budget; the header from an untrusted peer is ignored', async () => {
    const trusted = await appWithClock({ trustedProxies: ['127.0.0.1'], rateLimit: { consoleApi: { max: 1, timeWindowMs: 3_600_000 } } });
    const via = (a: RunningApp, client: string) => fetch(`${a.url}/console/api/pathway`, { headers: { 'x-forwarded-for': client } }).then((r) => r.status);
    expect(await via(trusted.app, '192.0.2.1')).toBe(200);
    expect(await via(trusted.app, '192.0.2.2')).toBe(200);
    expect(await via(trusted.app, '192.0.2.1')).toBe(429);
    // Without trustedProxies the header is a client's claim: it cannot buy a new budget.
    const plain = await appWithClock({ rateLimit: { consoleApi: { max: 1, timeWindowMs: 3_600_000 } } });
    expect(await via(plain.app, '192.0.2.1')).toBe(200);
    expect(await via(plain.app, '192.0.2.2')).toBe(429);
  });

  it('/fhir/metadata (public) has a budget of its own, from the settings, and the default when unset', async () => {
    const { app } = await appWithClock({ rateLimit: { fhirMetadata: { max: 2, timeWindowMs: 3_600_000 } } });
    const meta = () => fetch(`${app.url}/fhir/metadata`);
    expect((await meta()).status).toBe(200);
    expect((await meta()).status).toBe(200);
    const refused = await meta();
    expect(refused.status).toBe(429);
    expect(codeOf(await refused.json())).toBe('TNP_ERR_RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await metric(app, 'hs_troponin_cds_rate_limited_total', 'group="fhirMetadata"')).toBe(1);
    // Its budget is its own: the console API is still served.
    expect((await fetch(`${app.url}/console/api/pathway`)).status).toBe(200);
    // The default: 60 a minute per client address.
    const dflt = await appWithClock();
    const get = async () => (await dflt.app.app.inject({ method: 'GET', url: '/fhir/metadata', remoteAddress: '203.0.113.11' })).statusCode;
    for (let i = 0; i < 60; i++) expect(await get(), `request ${i + 1}`).toBe(200);
    expect(await get()).toBe(429);
  });

  it('refuses settings with a bad limit or proxy, naming the key', async () => {
    await expect(startApp({ settings: { rateLimit: { consoleApi: { max: 0, timeWindowMs: 60_000 } } } })).rejects.toThrow(/rateLimit\.consoleApi\.max/);
    await expect(startApp({ settings: { rateLimit: { consoleApi: { max: 10 } } } })).rejects.toThrow(/timeWindowMs/);
    await expect(startApp({ settings: { rateLimit: { everything: { max: 10, timeWindowMs: 1000 } } } })).rejects.toThrow(/rateLimit\.everything/);
    await expect(startApp({ settings: { trustedProxies: ['not-an-address'] } })).rejects.toThrow(/trustedProxies\[0\]/);
  });
});

describe('S-22 bounded requests to the console API', () => {
  const observation = (i: number): Record<string, unknown> => ({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] },
    effectiveDateTime: new Date(T0 + i * 60_000).toISOString(),
    valueQuantity: { value: 5 + (i % 40), unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
  });
  const resources = (n: number): Record<string, unknown>[] => Array.from({ length: n }, (_, i) => observation(i));

  it('a body over 64 kB is refused with 413 and an OperationOutcome (real socket and inject)', async () => {
    const { app } = await appWithClock();
    // About 1,000 times a normal case: 5,000 observations.
    const big = JSON.stringify({ resources: resources(5000), now: '2026-03-14T12:00:00Z' });
    expect(big.length).toBeGreaterThan(64 * 1024);
    const r = await post(app, '/console/api/evaluate', big);
    expect(r.status).toBe(413);
    expect(r.json.resourceType).toBe('OperationOutcome');
    expect(codeOf(r.json)).toBe('TNP_ERR_CONSOLE_TOO_LARGE');
    expect(r.json.issue[0].details.text).toContain('65536');
    // Just over the limit, and on the map too.
    const justOver = JSON.stringify({ resources: [{ resourceType: 'Patient', text: { div: 'x'.repeat(64 * 1024) } }] });
    expect((await app.app.inject({ method: 'POST', url: '/console/api/evaluate', payload: justOver, headers: { 'content-type': 'application/json' } })).statusCode).toBe(413);
    const map = await app.app.inject({ method: 'POST', url: '/console/api/map', payload: JSON.stringify({ assay: 'x'.repeat(70_000), baseline: 1, timi: 1 }), headers: { 'content-type': 'application/json' } });
    expect(map.statusCode).toBe(413);
    expect(codeOf(map.json())).toBe('TNP_ERR_CONSOLE_TOO_LARGE');
  });

  it('more than 200 resources in one request are refused with 413; ten times a normal case is evaluated', async () => {
    const { app } = await appWithClock();
    const ten = await post(app, '/console/api/evaluate', JSON.stringify({ resources: resources(50), now: '2026-03-14T12:00:00Z' }));
    expect(ten.status).toBe(200);
    const at200 = await post(app, '/console/api/evaluate', JSON.stringify({ resources: Array.from({ length: 200 }, () => ({ resourceType: 'Patient' })), now: '2026-03-14T12:00:00Z' }));
    expect(at200.status).toBe(200);
    // Small resources, well under the body limit: the count is what is refused.
    const many = JSON.stringify({ resources: Array.from({ length: 201 }, () => ({ resourceType: 'Patient' })), now: '2026-03-14T12:00:00Z' });
    expect(many.length).toBeLessThan(64 * 1024);
    const r = await post(app, '/console/api/evaluate', many);
    expect(r.status).toBe(413);
    expect(codeOf(r.json)).toBe('TNP_ERR_CONSOLE_TOO_LARGE');
    expect(r.json.issue[0].details.text).toMatch(/201 resources.*at most 200/);
    // Resources nested in Bundles count after they are taken out.
    const nested = { resourceType: 'Bundle', type: 'collection', entry: Array.from({ length: 3 }, () => ({ resource: { resourceType: 'Bundle', type: 'collection', entry: Array.from({ length: 70 }, () => ({ resource: { resourceType: 'Patient' } })) } })) };
    const r2 = await post(app, '/console/api/evaluate', JSON.stringify({ bundle: nested, now: '2026-03-14T12:00:00Z' }));
    expect(r2.status).toBe(413);
  });
});

describe('S-22 the outcome map costs a bounded amount', () => {
  it('a new baseline costs a retest sweep, not a new heat map: the heat map is computed once per scale (real app, counted in evaluations)', async () => {
    const { app } = await appWithClock({ rateLimit: { consoleMap: { max: 1000, timeWindowMs: 60_000 } } });
    const map = (baseline: number) => post(app, '/console/api/map', JSON.stringify({ assay: 'roche-elecsys-hs-tnt', baseline: String(baseline), timi: 2 }));
    const first = await map(10);
    expect(first.status).toBe(200);
    const afterFirst = (await metric(app, 'hs_troponin_cds_console_map_evaluations_total')) ?? Number.NaN;
    // The first map: the sweep and the 40 x 40 heat map.
    expect(afterFirst).toBe(first.json.retest.samples.length + 40 * 40);
    // 20 more baselines under twice the URL (14 ng/L): the heat map's scale does not change.
    let sweeps = 0;
    for (let b = 1; b <= 20; b++) {
      if (b === 10) continue;
      const r = await map(b);
      expect(r.status).toBe(200);
      expect(r.json.grid.outcomes).toHaveLength(40);
      sweeps += r.json.retest.samples.length;
    }
    expect(await metric(app, 'hs_troponin_cds_console_map_evaluations_total')).toBe(afterFirst + sweeps);
    // The same map again costs nothing.
    expect((await map(10)).json).toEqual(first.json);
    expect(await metric(app, 'hs_troponin_cds_console_map_evaluations_total')).toBe(afterFirst + sweeps);
    expect(await metric(app, 'hs_troponin_cds_console_map_cache_entries', 'cache="grid"')).toBe(1);
  });

  it('many distinct requests never grow the caches past their bounds (console plugin, small caches)', async () => {
    const con: ConsoleApp = await startConsole({}, { mapCache: { grids: 2, sweeps: 3 } });
    running.push(con);
    const maps = con.maps;
    if (maps === undefined) throw new Error('the console harness gives no map cache');
    // Three heat-map scales (TIMI 0 to 2) and five baselines each: 15 distinct maps.
    for (let timi = 0; timi <= 2; timi++) {
      for (let b = 1; b <= 5; b++) {
        const res = await fetch(`${con.url}/console/api/map`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ assay: 'roche-elecsys-hs-tnt', baseline: b, timi }) });
        expect(res.status).toBe(200);
        expect(maps.size.grids).toBeLessThanOrEqual(2);
        expect(maps.size.sweeps).toBeLessThanOrEqual(3);
      }
    }
    expect(maps.size).toEqual({ grids: 2, sweeps: 3 });
    // Each heat map was computed once per scale; each sweep once per map.
    expect(maps.computed).toEqual({ grids: 3, sweeps: 15 });
  });
});
