/**
 * A raw HTTP server on loopback for the FHIR pull's security tests: it counts every TCP connection (so a
 * test can prove that nothing connected at all, or that no connection is left open), records every
 * request, and answers with whatever the test's handler writes (a redirect, an error, a body of any
 * size, or nothing ever).
 *
 * With `dualStack` it listens on `::` (IPv6 and IPv4-mapped), so that 127.0.0.1, ::1 and
 * ::ffff:127.0.0.1 all reach it: every loopback spelling of its port is counted.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface LoopbackRequest {
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  readonly authorization: string | undefined;
  /** True when the client went away before the answer was complete. */
  aborted: boolean;
}

export type LoopbackHandler = (req: IncomingMessage, res: ServerResponse, rec: LoopbackRequest) => void | Promise<void>;

export interface LoopbackServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** TCP connections accepted so far (any address family). */
  readonly connections: number;
  /** TCP connections open now (accepted and not yet closed). */
  readonly open: number;
  readonly requests: LoopbackRequest[];
  /** Replaces the handler. */
  setHandler(handler: LoopbackHandler): void;
  /** Resolves once `cond()` holds; checked on every connection and its close, request and request end. */
  until(cond: () => boolean): Promise<void>;
  close(): Promise<void>;
}

/** Writes a FHIR JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/fhir+json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** A handler that never answers (the request stays open until the client goes away or the server closes). */
export const neverAnswer: LoopbackHandler = () => undefined;

export interface LoopbackOptions {
  /** Listen on `::` (IPv6 and IPv4-mapped) instead of 127.0.0.1. */
  readonly dualStack?: boolean;
  /** How long an idle connection is kept open (and offered in `Keep-Alive: timeout=`); Node's default is 5 s. */
  readonly keepAliveTimeoutMs?: number;
}

export async function startLoopbackServer(handler: LoopbackHandler = neverAnswer, opts: LoopbackOptions = {}): Promise<LoopbackServer> {
  let handle = handler;
  let connections = 0;
  const requests: LoopbackRequest[] = [];
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  const changed = (): void => {
    for (const w of [...waiters]) w();
  };
  const server = createServer((req, res) => {
    const rec: LoopbackRequest = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, aborted: false };
    requests.push(rec);
    res.once('close', () => {
      if (!res.writableFinished) rec.aborted = true;
      changed();
    });
    changed();
    Promise.resolve(handle(req, res, rec)).catch(() => res.destroy());
  });
  if (opts.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = opts.keepAliveTimeoutMs;
  server.on('connection', (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      changed();
    });
    changed();
  });
  await new Promise<void>((resolve) => server.listen({ host: opts.dualStack === true ? '::' : '127.0.0.1', port: 0, ipv6Only: false }, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get open() {
      return sockets.size;
    },
    requests,
    setHandler(next) {
      handle = next;
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
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
