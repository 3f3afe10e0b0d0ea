/**
 * Listening and saying so: `npm start` (src/server.ts) listens on HOST and PORT; a port already taken
 * (or an address that is not this machine's, or a privileged port) stops the start with a message that
 * names the PORT and HOST variables, never after the service has said it is ready. Once everything
 * listens, one human-readable line on stderr says where, with the console's URL (stdout stays JSON lines).
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { TnpError } from '../errors.js';
import type { Settings } from '../settings.js';

type Where = Pick<Settings, 'host' | 'port' | 'publicBaseUrl'>;

const WHY: Readonly<Record<string, string>> = {
  EADDRINUSE: 'is already in use (EADDRINUSE): another process listens there. Stop it, or set the PORT environment variable to a free port',
  EADDRNOTAVAIL: 'is not an address of this machine (EADDRNOTAVAIL): set the HOST environment variable to one of its addresses (default 127.0.0.1)',
  EACCES: 'needs privileges (EACCES): set the PORT environment variable to a port above 1023',
};

/**
 * `app.listen` on HOST and PORT.
 *
 * @throws TnpError `TNP_ERR_LISTEN_FAILED` naming the address, the system's code and the variable to change.
 */
export async function listenOn(app: FastifyInstance, where: Where): Promise<void> {
  try {
    await app.listen({ host: where.host, port: where.port });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const why = WHY[code];
    if (why === undefined) throw e;
    throw new TnpError('TNP_ERR_LISTEN_FAILED', `${hostForUrl(where.host)}:${where.port} ${why}`, { cause: e });
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The URL a person on this machine opens: the address listened on (any address: loopback), its real port. */
export function localUrl(app: FastifyInstance, where: Where): string {
  const address = app.server.address() as AddressInfo | null;
  return urlOf(where.host, address?.port ?? where.port);
}

/** The URL a person on this machine opens for `host` and `port` (any address: loopback). */
export function urlOf(host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${hostForUrl(h)}:${port}`;
}

/** The start line: where the service listens and the console's URL (and the public base URL when it differs). */
export function startLine(url: string, publicBaseUrl: string): string {
  const pub = publicBaseUrl === url ? '' : `; public base URL (the JWT aud of CDS calls starts with it): ${publicBaseUrl}`;
  return `hs-troponin-cds ready on ${url} (console: ${url}/console${pub})\n`;
}

/** Logs `ready` and writes the start line, once everything listens. */
export function announceReady(app: FastifyInstance, where: Where, write: (line: string) => void): void {
  const url = localUrl(app, where);
  app.log.info({ event: 'ready', url, console: `${url}/console`, publicBaseUrl: where.publicBaseUrl }, 'hs-troponin-cds ready');
  write(startLine(url, where.publicBaseUrl));
}
