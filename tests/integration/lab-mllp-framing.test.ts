/* eslint-disable @typescript-eslint/no-explicit-any -- wire JSON in tests, asserted by shape */
/**
 * MLLP framing over real sockets on 127.0.0.1 against the real listener and store (SQLite): a frame that
 * cannot be read is answered and the connection goes on; message boundaries do not depend on how TCP cuts
 * the bytes (two frames in one write, pipelined messages, FS and CR apart); more messages than the
 * per-connection bound are all answered, in order; an oversize frame is answered AR, never stored, and
 * skipped to its end (the connection closed when it never ends).
 * Every wait is for ACKs or the socket's close, never for time. Hazards L-44 to L-47.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_MESSAGE_BYTES, MAX_QUEUED_PER_CONNECTION, MAX_SKIPPED_BYTES, startHl7Listener, type Hl7Listener } from '../../src/intake/hl7-listener.js';
import { harnessFor, startApp, type RunningApp } from '../support/cds-app.js';
import { http, LAB_TOKEN, manualClock, oru, WORKLIST_TOKEN } from '../support/lab.js';

// eslint-disable-next-line no-control-regex -- VT ... FS CR are what frames an ACK
const ACK_FRAME = /\x0b([^\x1c]*)\x1c\r/;
const frame = (text: string): Buffer => Buffer.concat([Buffer.of(0x0b), Buffer.from(text, 'utf8'), Buffer.of(0x1c, 0x0d)]);

/** A laboratory's raw MLLP connection: what it writes, the ACKs it gets (MSA-1, MSA-2, the whole text). */
class RawLab {
  readonly acks: { code: string; control: string; text: string }[] = [];
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;
  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('utf8');
      for (let m = ACK_FRAME.exec(this.buf); m !== null; m = ACK_FRAME.exec(this.buf)) {
        const text = m[1] ?? '';
        const msa = (text.split('\r').find((s) => s.startsWith('MSA|')) ?? '').split('|');
        this.acks.push({ code: msa[1] ?? '', control: msa[2] ?? '', text });
        this.buf = this.buf.slice(m.index + m[0].length);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static open(port: number): Promise<RawLab> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new RawLab(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Writes `bytes` and resolves once they are handed to the system. */
  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (e) => (e ? reject(e) : resolve())));
  }

  /** Resolves with the ACKs once `n` have come; rejects if the connection closes first. */
  async ackCount(n: number): Promise<RawLab['acks']> {
    while (this.acks.length < n) {
      if (this.closed) throw new Error(`connection closed after ${this.acks.length} of ${n} ACKs: ${JSON.stringify(this.acks.map((a) => [a.code, a.control, a.text.slice(0, 200)]))}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return this.acks.slice(0, n);
  }

  async whenClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('MLLP framing (real sockets, SQLite)', () => {
  const harness = harnessFor('sqlite');
  const clock = manualClock('2026-03-06T10:05:00Z');
  let app: RunningApp;
  let listener: Hl7Listener;
  const labs: RawLab[] = [];
  const lab = async (): Promise<RawLab> => {
    const l = await RawLab.open(listener.port);
    labs.push(l);
    return l;
  };
  beforeAll(async () => {
    app = await startApp({ storage: harness.fresh(), now: clock.now, settings: { labClients: [{ name: 'main-lab', token: LAB_TOKEN, hl7Facilities: ['LAB^1.2.3^ISO'] }], worklistTokens: [WORKLIST_TOKEN] } });
    listener = await startHl7Listener({ host: '127.0.0.1', port: 0, clients: app.settings.labClients, intake: app.app.lab.intake, now: clock.now, newId: () => crypto.randomUUID(), logger: app.app.log as any });
  });
  afterAll(async () => {
    for (const l of labs) l.close();
    await listener.close();
    await app.close();
    await harness.cleanup();
  });
  const storedPatients = async (): Promise<string[]> => (await http(app.url, 'GET', '/episodes?status=all&limit=1000', WORKLIST_TOKEN)).json.episodes.map((e: any) => e.patient.value);
  const codes = (acks: RawLab['acks']): string[][] => acks.map((a) => [a.code, a.control]);

  it('L-44: a frame that is not HL7 (text, empty, starting with CR) is answered AR and the next messages on the same connection are read: AA, AA', async () => {
    for (const [i, poison] of ['hello world', '', `\r${oru({ control: 'X' })}`].entries()) {
      const l = await lab();
      await l.write(frame(poison));
      await l.write(frame(oru({ nhs: `900000080${i}`, control: `G${i}a`, filler: `F-80${i}` })));
      await l.write(frame(oru({ nhs: `900000080${i}`, control: `G${i}b`, filler: `F-80${i}` })));
      const acks = await l.ackCount(3);
      expect(codes(acks)).toEqual([
        ['AR', ''],
        ['AA', `G${i}a`],
        ['AA', `G${i}b`],
      ]);
      expect(acks[0]?.text).toContain('TNP_ERR_HL7_MALFORMED');
    }
    const stored = await storedPatients();
    for (const nhs of ['9000000800', '9000000801', '9000000802']) expect(stored.filter((p) => p === nhs)).toHaveLength(1);
  });

  it('L-44: a frame never ended (a start block inside it) is answered AR and the frame after it is read', async () => {
    const l = await lab();
    await l.write(Buffer.concat([Buffer.of(0x0b), Buffer.from(oru({ nhs: '9000000810', control: 'U1', filler: 'F-810' })), frame(oru({ nhs: '9000000811', control: 'U2', filler: 'F-811' }))]));
    expect(codes(await l.ackCount(2))).toEqual([
      ['AR', ''],
      ['AA', 'U2'],
    ]);
    const stored = await storedPatients();
    expect(stored).not.toContain('9000000810');
    expect(stored).toContain('9000000811');
  });

  it('L-45: two complete frames in one write: two ACKs, in order, both stored', async () => {
    const l = await lab();
    await l.write(Buffer.concat([frame(oru({ nhs: '9000000820', control: 'P1', filler: 'F-820' })), frame(oru({ nhs: '9000000821', control: 'P2', filler: 'F-821' }))]));
    expect(codes(await l.ackCount(2))).toEqual([
      ['AA', 'P1'],
      ['AA', 'P2'],
    ]);
    const stored = await storedPatients();
    for (const nhs of ['9000000820', '9000000821']) expect(stored).toContain(nhs);
  });

  it('L-45: a frame whose FS and CR come in two writes is one message; the next frame is its own', async () => {
    const l = await lab();
    const first = frame(oru({ nhs: '9000000830', control: 'S1', filler: 'F-830' }));
    await l.write(first.subarray(0, first.length - 1));
    await l.write(Buffer.concat([first.subarray(first.length - 1), frame(oru({ nhs: '9000000831', control: 'S2', filler: 'F-831' }))]));
    expect(codes(await l.ackCount(2))).toEqual([
      ['AA', 'S1'],
      ['AA', 'S2'],
    ]);
  });

  it(`L-45: more messages pipelined than the ${MAX_QUEUED_PER_CONNECTION} held per connection (20 written with no wait, then 40 in one write): every one answered AA, in order, and stored`, async () => {
    const l = await lab();
    const msgs = (from: number, n: number): { control: string; nhs: string; bytes: Buffer }[] =>
      Array.from({ length: n }, (_, k) => {
        const i = from + k;
        const nhs = `90000019${String(i).padStart(2, '0')}`;
        return { control: `Q${i}`, nhs, bytes: frame(oru({ nhs, control: `Q${i}`, filler: `F-19${i}` })) };
      });
    const a = msgs(0, 20);
    await Promise.all(a.map((m) => l.write(m.bytes)));
    const b = msgs(20, 40);
    await l.write(Buffer.concat(b.map((m) => m.bytes)));
    const acks = await l.ackCount(60);
    expect(codes(acks)).toEqual([...a, ...b].map((m) => ['AA', m.control]));
    const stored = await storedPatients();
    for (const m of [...a, ...b]) expect(stored).toContain(m.nhs);
  });

  it('L-46: a message over the size bound (in one write, or 5 MiB): AR TNP_ERR_HL7_TOO_LARGE, never stored, its bytes skipped; the messages before and after it answered in order on the same connection', async () => {
    const l = await lab();
    const base = oru({ nhs: '9000000840', control: 'BIG', filler: 'F-840' });
    const big = `${base}\rNTE|1||${'x'.repeat(MAX_MESSAGE_BYTES - base.length + 300)}`;
    await l.write(Buffer.concat([frame(oru({ nhs: '9000000841', control: 'B0', filler: 'F-841' })), frame(big), frame(oru({ nhs: '9000000842', control: 'B2', filler: 'F-842' }))]));
    const acks = await l.ackCount(3);
    expect(codes(acks)).toEqual([
      ['AA', 'B0'],
      ['AR', ''],
      ['AA', 'B2'],
    ]);
    expect(acks[1]?.text).toContain('TNP_ERR_HL7_TOO_LARGE');
    const huge = `${oru({ nhs: '9000000844', control: 'HUGE', filler: 'F-844' })}\rNTE|1||${'x'.repeat(5 * MAX_MESSAGE_BYTES)}`;
    await l.write(Buffer.concat([frame(huge), frame(oru({ nhs: '9000000845', control: 'B5', filler: 'F-845' }))]));
    const more = await l.ackCount(5);
    expect(codes(more.slice(3))).toEqual([
      ['AR', ''],
      ['AA', 'B5'],
    ]);
    expect(more[3]?.text).toContain('TNP_ERR_HL7_TOO_LARGE');
    const stored = await storedPatients();
    for (const nhs of ['9000000841', '9000000842', '9000000845']) expect(stored).toContain(nhs);
    for (const nhs of ['9000000840', '9000000844']) expect(stored).not.toContain(nhs);
  });

  it(`L-46: an oversize frame that runs on past ${MAX_SKIPPED_BYTES} bytes without its end: AR, then the connection is closed`, async () => {
    const l = await lab();
    await l.write(frame(oru({ nhs: '9000000846', control: 'E0', filler: 'F-846' })));
    const chunk = Buffer.alloc(MAX_MESSAGE_BYTES, 0x41);
    await l.write(Buffer.of(0x0b)).catch(() => undefined);
    for (let sent = 0; sent <= MAX_SKIPPED_BYTES && !l.closed; sent += chunk.length) await l.write(chunk).catch(() => undefined);
    await l.whenClosed();
    expect(codes(l.acks)).toEqual([
      ['AA', 'E0'],
      ['AR', ''],
    ]);
  });

  it('L-47: two messages in one frame (a second MSH, no start block between) are answered AR and neither is stored', async () => {
    const l = await lab();
    await l.write(frame(`${oru({ nhs: '9000000850', control: 'M1', filler: 'F-850' })}\r${oru({ nhs: '9000000851', control: 'M2', filler: 'F-851' })}`));
    const acks = await l.ackCount(1);
    expect(codes(acks)).toEqual([['AR', 'M1']]);
    expect(acks[0]?.text).toContain('TNP_ERR_HL7_MALFORMED');
    const stored = await storedPatients();
    expect(stored).not.toContain('9000000850');
    expect(stored).not.toContain('9000000851');
  });
});
