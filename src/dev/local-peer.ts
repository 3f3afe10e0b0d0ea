/**
 * Who may use the local development client (`npx hs-troponin-cds dev`): a caller on this machine only.
 * A request is local when its socket's peer is a loopback address (127.0.0.0/8, ::1, or 127.x mapped
 * into IPv6) AND it carries no forwarding header: a reverse proxy on this machine connects from loopback
 * on behalf of remote clients, and says so in X-Forwarded-For, Forwarded or X-Real-IP. The socket's peer
 * is used, never `req.ip` (which `trustedProxies` lets X-Forwarded-For set).
 */
import { BlockList, isIP } from 'node:net';

/** The issuer of the local development client; its key is trusted from this machine only, whatever the settings. */
export const DEV_CLIENT_ISS = 'urn:hs-troponin-cds:local-dev-client';

/** What the JWT check needs to know of the caller. */
export interface Peer {
  /** The socket's remote address (not X-Forwarded-For). */
  readonly address: string | undefined;
  /** Whether the request carries a forwarding header (it came through a proxy). */
  readonly forwarded: boolean;
}

const FORWARDING_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'] as const;

/** The peer of a request: its socket's address and whether it names a forwarding hop. */
export function peerOf(req: { readonly socket: { readonly remoteAddress?: string | undefined }; readonly headers: Readonly<Record<string, unknown>> }): Peer {
  return { address: req.socket.remoteAddress, forwarded: FORWARDING_HEADERS.some((h) => req.headers[h] !== undefined) };
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** A loopback address: 127.0.0.0/8, ::1 (any spelling), or 127.x mapped into IPv6 (::ffff:127.0.0.1). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const kind = isIP(address);
  return kind !== 0 && LOOPBACK.check(address, kind === 4 ? 'ipv4' : 'ipv6');
}

/** A request from this machine, not relayed by a proxy. Unknown peers are not local. */
export function isLocalPeer(peer: Peer | undefined): boolean {
  return peer !== undefined && !peer.forwarded && isLoopbackAddress(peer.address);
}
