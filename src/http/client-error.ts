/**
 * Requests Node's HTTP parser refuses before any route sees them (headers past the limit, a malformed
 * request line or header, a request that timed out): answered like every other error, with a FHIR
 * OperationOutcome from the one registry, instead of the framework's own JSON. The socket is closed
 * after the answer, as the parser cannot go on with it.
 */
import type { Socket } from 'node:net';
import { TnpError, toOperationOutcome } from '../errors.js';
import { FHIR_JSON } from './errors.js';

const REASONS: Readonly<Record<number, string>> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const error = err.code === 'HPE_HEADER_OVERFLOW'
    ? new TnpError('TNP_ERR_HEADERS_TOO_LARGE', 'the request headers are larger than the server takes')
    : new TnpError('TNP_ERR_REQUEST_UNREADABLE', timedOut ? 'the request did not arrive within the request timeout' : 'the HTTP request line or a header is malformed');
  const status = timedOut ? 408 : error.status;
  const body = JSON.stringify(toOperationOutcome(error));
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Bad Request'}\r\nContent-Type: ${FHIR_JSON}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  } else {
    socket.destroy();
  }
}
