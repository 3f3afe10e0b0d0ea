/**
 * `GET /episodes/stream`: Server-Sent Events of worklist changes, from every process sharing the store.
 * Changes are rows of the store's change feed (written in the same transaction as the change), so a
 * process streams what any process committed; one poll per interval serves every client of this process.
 * Each event: `id: <seq>`, `event: episode`, `data: <worklist row>`; a client that reconnects with
 * `Last-Event-ID` gets what it missed (as far back as the feed is kept). Bounded: clients per process
 * (503 beyond), events per poll, and a slow client's unsent bytes (it is dropped, and reconnects).
 */
import type { FastifyReply } from 'fastify';
import type { LabReads } from '../audit/store.js';
import { TnpError } from '../errors.js';

export const MAX_STREAM_CLIENTS = 100;
/** Events read from the feed per poll (a client far behind catches up over several polls). */
export const STREAM_PAGE = 500;
/** A client whose socket holds more unsent bytes than this is dropped. */
export const MAX_UNSENT_BYTES = 1024 * 1024;

interface Client {
  readonly reply: FastifyReply;
  after: number;
}

export class EpisodeStream {
  private readonly clients = new Set<Client>();
  private head = -1;

  constructor(private readonly reads: LabReads) {}

  get size(): number {
    return this.clients.size;
  }

  /** Takes over the reply as an event stream starting after `lastEventId` (or now). */
  async open(reply: FastifyReply, lastEventId: string | undefined): Promise<void> {
    if (this.clients.size >= MAX_STREAM_CLIENTS) throw new TnpError('TNP_ERR_STREAM_FULL', `${MAX_STREAM_CLIENTS} worklist streams are open on this process`);
    const resume = lastEventId !== undefined && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : null;
    const after = resume ?? (await this.reads.lastChangeSeq());
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    raw.write(`retry: 5000\n: hs-troponin-cds worklist stream after ${after}\n\n`);
    const client: Client = { reply, after };
    this.clients.add(client);
    raw.on('close', () => this.clients.delete(client));
  }

  /** Sends new changes to every client (one read per distinct position). Never rejects. */
  async poll(): Promise<void> {
    if (this.clients.size === 0) return;
    const byAfter = new Map<number, Client[]>();
    for (const c of this.clients) byAfter.set(c.after, [...(byAfter.get(c.after) ?? []), c]);
    for (const [after, clients] of byAfter) {
      let changes;
      try {
        changes = await this.reads.changesAfter(after, STREAM_PAGE);
      } catch {
        continue;
      }
      for (const ch of changes) {
        const text = `id: ${ch.seq}\nevent: episode\ndata: ${ch.row}\n\n`;
        for (const c of clients) this.write(c, text, ch.seq);
      }
      const last = changes[changes.length - 1];
      if (last !== undefined) this.head = Math.max(this.head, last.seq);
    }
  }

  /** A comment line, so proxies keep idle streams open and dead sockets are found. */
  heartbeat(): void {
    for (const c of this.clients) this.write(c, ': keep-alive\n\n', c.after);
  }

  private write(c: Client, text: string, seq: number): void {
    const raw = c.reply.raw;
    if (raw.writableLength > MAX_UNSENT_BYTES) {
      this.clients.delete(c);
      raw.destroy();
      return;
    }
    raw.write(text);
    c.after = seq;
  }

  close(): void {
    for (const c of this.clients) c.reply.raw.end();
    this.clients.clear();
  }
}
