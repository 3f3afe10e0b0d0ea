/**
 * MLLP framing (HL7 v2 Minimal Lower Layer Protocol): each message is sent as one frame, VT (0x0B), the
 * message bytes, FS (0x1C) CR (0x0D). TCP keeps no message boundaries, so a frame may arrive in any number
 * of pieces (its FS and CR in two), and one piece may hold several frames, or the end of one and the start
 * of the next. The reader takes the bytes as they come and gives back each complete frame's content in
 * order, whatever the pieces:
 *
 * - bytes between frames (before a start block) are ignored;
 * - an FS not followed by CR is part of the content (the message then cannot be read, and is answered so);
 * - a start block inside a frame means the frame was never ended: it is reported (`unended`, its content
 *   dropped) and a new frame starts there;
 * - a frame whose content grows past `maxBytes` is reported once (`too-large`, its content dropped, never
 *   parsed), and its bytes are skipped up to its end (FS CR), after which the next frame is read; when
 *   more than `maxSkipBytes` pass without that end, the reader stops (`stopped`): nothing more is read.
 */
export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

export type MllpEvent =
  /** A complete frame: its content, without VT and FS CR. */
  | { readonly kind: 'frame'; readonly bytes: Buffer }
  /** A frame cut short by the next start block; `bytes` is how much content it had. */
  | { readonly kind: 'unended'; readonly bytes: number }
  /** A frame past the bound; `bytes` is how much content it had when it passed it. */
  | { readonly kind: 'too-large'; readonly bytes: number };

export class MllpFrameReader {
  private inFrame = false;
  private parts: Buffer[] = [];
  private size = 0;
  /** The frame so far ends with FS: a CR first in the next piece ends the frame. */
  private fsPending = false;
  /** Skipping an oversize frame up to its end: how many bytes so far. */
  private skipped: number | null = null;
  private over = false;

  constructor(
    private readonly maxBytes: number,
    private readonly maxSkipBytes: number = 16 * maxBytes,
  ) {}

  /** True once an oversize frame ran on past `maxSkipBytes` without its end: every later byte is ignored. */
  get stopped(): boolean {
    return this.over;
  }

  /** The frames (and problems) that `chunk` completes, in order. */
  push(chunk: Buffer): MllpEvent[] {
    const out: MllpEvent[] = [];
    let i = 0;
    while (i < chunk.length && !this.over) {
      if (this.skipped !== null) {
        i = this.skip(chunk, i);
        continue;
      }
      if (!this.inFrame) {
        const start = chunk.indexOf(VT, i);
        if (start < 0) break;
        this.inFrame = true;
        i = start + 1;
        continue;
      }
      if (this.fsPending) {
        this.fsPending = false;
        if (chunk[i] === CR) {
          out.push(this.finish());
          i += 1;
          continue;
        }
        if (!this.append(Buffer.of(FS), out)) continue; // now skipping from i
      }
      let j = i;
      while (j < chunk.length && chunk[j] !== FS && chunk[j] !== VT) j += 1;
      if (j > i && !this.append(chunk.subarray(i, j), out)) {
        i = j; // now skipping from j
        continue;
      }
      if (j === chunk.length) break;
      if (chunk[j] === VT) {
        out.push({ kind: 'unended', bytes: this.size });
        this.reset();
        this.inFrame = true;
        i = j + 1;
        continue;
      }
      // FS: the end block when CR follows (in this piece or the next)
      if (j + 1 === chunk.length) {
        this.fsPending = true;
        break;
      }
      if (chunk[j + 1] === CR) {
        out.push(this.finish());
        i = j + 2;
        continue;
      }
      this.append(Buffer.of(FS), out); // when it passes the bound, skipping from j + 1
      i = j + 1;
    }
    return out;
  }

  private append(bytes: Buffer, out: MllpEvent[]): boolean {
    this.size += bytes.length;
    if (this.size > this.maxBytes) {
      out.push({ kind: 'too-large', bytes: this.size });
      const last = bytes.at(-1);
      this.reset();
      this.skipped = this.maxBytes;
      this.fsPending = last === FS;
      return false;
    }
    this.parts.push(bytes);
    return true;
  }

  /** Skips the rest of an oversize frame from `chunk[i]`; the index after what was skipped. */
  private skip(chunk: Buffer, i: number): number {
    let j = i;
    if (this.fsPending) {
      this.fsPending = false;
      if (chunk[j] === CR) {
        this.skipped = null;
        return j + 1;
      }
    }
    for (; j < chunk.length; j += 1) {
      if (chunk[j] !== FS) continue;
      if (j + 1 === chunk.length) {
        this.fsPending = true;
        break;
      }
      if (chunk[j + 1] === CR) {
        this.skipped = null;
        return j + 2;
      }
    }
    this.skipped = (this.skipped ?? 0) + (chunk.length - i);
    if (this.skipped > this.maxSkipBytes) this.over = true;
    return chunk.length;
  }

  private finish(): MllpEvent {
    const bytes = Buffer.concat(this.parts, this.size);
    this.reset();
    return { kind: 'frame', bytes };
  }

  private reset(): void {
    this.parts = [];
    this.size = 0;
    this.inFrame = false;
    this.fsPending = false;
  }
}

/** One message as an MLLP frame. */
export function mllpFrame(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.of(VT), body, Buffer.of(FS, CR)], body.length + 3);
}
