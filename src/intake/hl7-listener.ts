/**
 * The MLLP listener (HL7 v2 over TCP), on `hl7.host:hl7.port` when the settings name it. The server socket
 * and the framing are ours (src/intake/mllp-frames.ts: VT ... FS CR, whatever the TCP segmentation, several
 * frames in one segment, an unreadable frame answered AR and the connection going on); each frame's text
 * (UTF-8) is parsed by @medplum/core's Hl7Message.parse. Hl7Server.listen takes no host (it would listen on
 * every interface), reports no listen error and bounds no connection, and @medplum/hl7's Hl7Connection
 * finds a frame's end only at the end of a TCP segment and keeps an unreadable frame's bytes in front of
 * every later message. Each message: its sending facility (MSH-4) names the lab client, it is mapped to
 * FHIR Observations (src/intake/hl7-map.ts) and goes through the one intake path; the ACK is sent only once
 * the results are durable (or the reason they are not), in the order the messages came.
 *
 * Bounds: bytes per message (a frame growing past it is answered AR, never parsed, its bytes skipped up
 * to its end; the connection closed when no end comes within MAX_SKIPPED_BYTES), segments and OBX per message, connections, messages held per connection (answered in order,
 * one at a time; past the bound the connection is not read until they are answered), and an idle timeout.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Hl7Message } from '@medplum/core';
import type { Logger } from 'pino';
import { TnpError } from '../errors.js';
import type { LabClientSettings } from '../settings.js';
import { sha256Hex } from '../util/canonical-json.js';
import { buildAck, issueOf, type AckIssue } from './hl7-ack.js';
import { HL7_VERSIONS, Hl7Problem, mapOru } from './hl7-map.js';
import { MllpFrameReader, mllpFrame, type MllpEvent } from './mllp-frames.js';
import type { Intake } from './intake.js';

export const MAX_MESSAGE_BYTES = 1024 * 1024;
export const MAX_CONNECTIONS = 64;
export const MAX_QUEUED_PER_CONNECTION = 16;
/** An oversize frame is skipped up to its end; past this many bytes without it, the connection is closed. */
export const MAX_SKIPPED_BYTES = 16 * MAX_MESSAGE_BYTES;
export const IDLE_TIMEOUT_MS = 10 * 60_000;

export interface Hl7ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly clients: readonly LabClientSettings[];
  readonly intake: Intake;
  readonly now: () => Date;
  readonly newId: () => string;
  readonly logger: Logger;
}

export interface Hl7Listener {
  readonly port: number;
  close(): Promise<void>;
}

/** MSH-4 as written, without trailing empty components. */
const facilityOf = (m: Hl7Message): string => (m.getSegment('MSH')?.getField(4)?.toString() ?? '').replace(/\^+$/, '');

/**
 * HL7 ends every segment with CR, the last one included, and many senders end lines with CRLF or LF;
 * the parser reads each of these as an empty segment or a name starting with LF. One message whatever
 * the line ends: CR between segments, blank segments dropped.
 */
function withStandardTerminators(message: Hl7Message): Hl7Message {
  const text = message.toString();
  if (!/\n|\r\r|^\r|\r$/.test(text)) return message;
  return Hl7Message.parse(text.replace(/\r\n?|\n/g, '\r').split('\r').filter((s) => s !== '').join('\r'));
}

export async function startHl7Listener(opts: Hl7ListenerOptions): Promise<Hl7Listener> {
  const byFacility = new Map<string, LabClientSettings>();
  for (const c of opts.clients) for (const f of c.hl7Facilities) byFacility.set(f.replace(/\^+$/, ''), c);
  const log = opts.logger.child({ channel: 'hl7' });
  const sockets = new Set<Socket>();

  const answer = async (received: Hl7Message): Promise<Hl7Message> => {
    const message = withStandardTerminators(received);
    const ack = (code: 'AA' | 'AE' | 'AR', issues: AckIssue[]): Hl7Message => buildAck(message, code, issues, { now: opts.now(), controlId: opts.newId().replace(/-/g, '').slice(0, 20) });
    const text = message.toString();
    const msh = message.getSegment('MSH');
    const controlId = msh?.getField(10)?.toString() ?? '';
    try {
      if (text.includes('\u000b') || text.includes('\u001c') || message.getAllSegments('MSH').length > 1) throw new Hl7Problem('AR', new TnpError('TNP_ERR_HL7_MALFORMED', 'two messages (or a stray framing byte) in one MLLP frame: send one message and wait for its ACK'), '100');
      const bad = message.segments.find((s) => !/^[A-Z][A-Z0-9]{2}$/.test(s.name));
      if (bad !== undefined) throw new Hl7Problem('AR', new TnpError('TNP_ERR_HL7_MALFORMED', `a segment name is not three letters or digits: "${bad.name.slice(0, 10)}"`), '100');
      if (controlId === '') throw new Hl7Problem('AR', new TnpError('TNP_ERR_HL7_MALFORMED', 'MSH-10 (message control id) is empty'), '101', { segment: 'MSH', seq: 1, field: 10 });
      const type = `${msh?.getField(9)?.getComponent(1) ?? ''}^${msh?.getField(9)?.getComponent(2) ?? ''}`;
      if (type !== 'ORU^R01') throw new Hl7Problem('AR', new TnpError('TNP_ERR_HL7_UNSUPPORTED', `message type ${type.slice(0, 20)} is not taken (ORU^R01 only)`), type.startsWith('ORU^') ? '201' : '200', { segment: 'MSH', seq: 1, field: 9 });
      const processing = msh?.getField(11)?.getComponent(1) ?? '';
      if (processing !== 'P') throw new Hl7Problem('AR', new TnpError('TNP_ERR_HL7_UNSUPPORTED', `processing id "${processing.slice(0, 5)}" is not taken (P, production, only)`), '202', { segment: 'MSH', seq: 1, field: 11 });
      const version = msh?.getField(12)?.getComponent(1) ?? '';
      if (!HL7_VERSIONS.includes(version)) throw new Hl7Problem('AR', new TnpError('TNP_ERR_HL7_UNSUPPORTED', `HL7 version "${version.slice(0, 10)}" is not taken (${HL7_VERSIONS.join(', ')})`), '203', { segment: 'MSH', seq: 1, field: 12 });
      const facility = facilityOf(message);
      const client = byFacility.get(facility);
      if (client === undefined) throw new Hl7Problem('AR', new TnpError('TNP_ERR_HL7_FACILITY_UNKNOWN', `sending facility "${facility.slice(0, 100)}" belongs to no lab client`), '204', { segment: 'MSH', seq: 1, field: 4 });
      const messageSha256 = sha256Hex(text);
      const items = mapOru(message, client, { controlId, messageSha256, facility });
      const outcomes = await opts.intake.submit(items, { client: client.name, channel: 'hl7', message: { sha256: messageSha256, receivedAt: opts.now().toISOString(), client: client.name, text } });
      const warnings = outcomes.flatMap((o, i) => o.flags.map((fl) => ({ severity: 'W' as const, hl7Code: '0', text: `${fl.code}: ${fl.text}`, location: { segment: 'OBX', seq: i + 1, field: 5 } })));
      log.info({ event: 'hl7-accepted', controlId, client: client.name, results: outcomes.length, created: outcomes.filter((o) => o.outcome !== 'unchanged').length }, 'HL7 results stored');
      return ack('AA', warnings);
    } catch (e) {
      if (e instanceof Hl7Problem) {
        log.warn({ event: 'hl7-refused', controlId, ack: e.ack, code: e.error.code, reason: e.message }, 'HL7 message refused');
        return ack(e.ack, [issueOf(e.error, e.hl7Code, e.location)]);
      }
      if (e instanceof TnpError && e.status < 500) {
        log.warn({ event: 'hl7-refused', controlId, ack: 'AE', code: e.code, reason: e.message }, 'HL7 message refused');
        return ack('AE', [issueOf(e, e.status === 409 ? '205' : '207', null)]);
      }
      const err = e instanceof TnpError ? e : new TnpError('TNP_ERR_INTERNAL', `internal error (incident ${opts.newId()})`);
      log.error({ event: 'hl7-not-stored', controlId, code: err.code, err: e }, 'HL7 message not stored: answered AR (send again)');
      return ack('AR', [issueOf(err.status === 503 ? err : new TnpError('TNP_ERR_INTERNAL', err.message), '207', null)]);
    }
  };

  const ackId = (): string => opts.newId().replace(/-/g, '').slice(0, 20);
  const refusal = (error: TnpError, hl7Code: string): Hl7Message => buildAck(null, 'AR', [issueOf(error, hl7Code, null)], { now: opts.now(), controlId: ackId() });
  const utf8 = new TextDecoder('utf-8'); // a byte order mark is dropped; bytes that are not UTF-8 read as U+FFFD

  /** The ACK of one framing event: the frame's message answered, or the reason it cannot be read. */
  const handle = async (ev: MllpEvent): Promise<Hl7Message> => {
    if (ev.kind === 'too-large') return refusal(new TnpError('TNP_ERR_HL7_TOO_LARGE', `an MLLP frame exceeded ${MAX_MESSAGE_BYTES} bytes: it was not read`), '100');
    if (ev.kind === 'unended') {
      log.warn({ event: 'hl7-refused', ack: 'AR', code: 'TNP_ERR_HL7_MALFORMED', bytes: ev.bytes }, 'MLLP frame not ended before the next start block: AR');
      return refusal(new TnpError('TNP_ERR_HL7_MALFORMED', 'an MLLP frame was not ended (FS CR) before the next start block (VT): it was not read'), '100');
    }
    let message: Hl7Message;
    try {
      message = Hl7Message.parse(utf8.decode(ev.bytes));
    } catch (e) {
      log.warn({ event: 'hl7-refused', ack: 'AR', code: 'TNP_ERR_HL7_MALFORMED', reason: (e as Error).message.slice(0, 200) }, 'HL7 message cannot be read: AR');
      return refusal(new TnpError('TNP_ERR_HL7_MALFORMED', 'the frame does not hold an HL7 message starting with MSH'), '100');
    }
    return answer(message);
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', (e: Error) => log.warn({ event: 'hl7-connection-error', reason: e.message.slice(0, 200) }, 'HL7 connection error'));
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    // Our own framing: each frame is answered in order, one at a time; at most MAX_QUEUED_PER_CONNECTION
    // are held, past them the socket is not read (TCP back-pressure) until they are answered.
    const reader = new MllpFrameReader(MAX_MESSAGE_BYTES, MAX_SKIPPED_BYTES);
    const waiting: MllpEvent[] = [];
    let working = false;
    const pump = async (): Promise<void> => {
      if (working) return;
      working = true;
      try {
        for (let ev = waiting.shift(); ev !== undefined && !socket.destroyed; ev = waiting.shift()) {
          if (waiting.length < MAX_QUEUED_PER_CONNECTION && !reader.stopped && socket.isPaused()) socket.resume();
          const ack = await handle(ev);
          if (!socket.destroyed && socket.writable) socket.write(mllpFrame(ack.toString()));
        }
        // An oversize frame that never ended: once what came before it is answered, the connection ends.
        if (reader.stopped) socket.destroy();
      } catch (e) {
        log.error({ event: 'hl7-ack-failed', err: e }, 'HL7 ACK could not be sent');
        socket.destroy();
      } finally {
        working = false;
      }
    };
    socket.on('data', (chunk: Buffer) => {
      if (reader.stopped) return;
      for (const ev of reader.push(chunk)) {
        if (ev.kind === 'too-large') log.warn({ event: 'hl7-too-large', bytes: ev.bytes }, 'HL7 frame over the size bound: AR, its bytes skipped up to its end');
        waiting.push(ev);
      }
      if (reader.stopped) log.warn({ event: 'hl7-too-large-unended', bytes: MAX_SKIPPED_BYTES }, 'HL7 frame over the size bound ran on without its end: connection closed');
      if (reader.stopped || waiting.length >= MAX_QUEUED_PER_CONNECTION) socket.pause();
      void pump();
    });
  });
  server.maxConnections = MAX_CONNECTIONS;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  log.info({ event: 'hl7-listening', host: opts.host, port }, `MLLP listener on ${opts.host}:${port}`);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.end();
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, 2_000).unref();
      }),
  };
}
