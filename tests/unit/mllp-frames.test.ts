/**
 * MLLP framing (src/intake/mllp-frames.ts): the frames a byte stream holds do not depend on how TCP cut
 * it; bytes between frames are ignored; an unended frame and an oversize frame are reported, never given
 * as content. Hazard L-44, L-45, L-46.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MllpFrameReader, mllpFrame, type MllpEvent } from '../../src/intake/mllp-frames.js';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

/** What a reader makes of `stream` delivered in pieces cut at `cuts`. */
function read(stream: Buffer, cuts: readonly number[], max = 1024 * 1024): { kind: string; text?: string; bytes?: number }[] {
  const reader = new MllpFrameReader(max);
  const at = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: MllpEvent[] = [];
  let from = 0;
  for (const c of [...at, stream.length]) {
    out.push(...reader.push(stream.subarray(from, c)));
    from = c;
  }
  return out.map((e) => (e.kind === 'frame' ? { kind: e.kind, text: e.bytes.toString('latin1') } : { kind: e.kind, bytes: e.bytes }));
}

const frameOf = (latin1: string): Buffer => Buffer.concat([Buffer.of(VT), Buffer.from(latin1, 'latin1'), Buffer.of(FS, CR)]);

describe('MLLP frame reader', () => {
  it('a frame in one piece, two frames in one piece, FS and CR in two pieces, one byte at a time', () => {
    const two = Buffer.concat([frameOf('MSH|a'), frameOf('MSH|b')]);
    expect(read(two, [])).toEqual([
      { kind: 'frame', text: 'MSH|a' },
      { kind: 'frame', text: 'MSH|b' },
    ]);
    const one = frameOf('MSH|a\r');
    expect(read(one, [one.length - 1])).toEqual([{ kind: 'frame', text: 'MSH|a\r' }]);
    expect(read(two, Array.from({ length: two.length }, (_, i) => i))).toEqual(read(two, []));
  });

  it('bytes before a start block are ignored; an empty frame is a frame; FS without CR is content', () => {
    expect(read(Buffer.concat([Buffer.from('\r\nnoise'), frameOf(''), Buffer.from('\n'), frameOf('MSH|\x1cx')]), [])).toEqual([
      { kind: 'frame', text: '' },
      { kind: 'frame', text: 'MSH|\x1cx' },
    ]);
  });

  it('a start block inside a frame: the unended frame is reported without its content, the next one read', () => {
    const s = Buffer.concat([Buffer.of(VT), Buffer.from('MSH|cut'), frameOf('MSH|next')]);
    expect(read(s, [])).toEqual([
      { kind: 'unended', bytes: 7 },
      { kind: 'frame', text: 'MSH|next' },
    ]);
  });

  it('a frame past the bound is reported once, its content never given, its bytes skipped up to its end; the next frame is read', () => {
    const s = Buffer.concat([frameOf('MSH|ok'), frameOf(`x\x1cx${'x'.repeat(9)}\x0b\x1c`), frameOf('MSH|after')]);
    for (const cuts of [[], [9], [3, 9, 12, 20, 21, 22, 23, 24]]) {
      expect(read(s, cuts, 10).map((e) => (e.kind === 'too-large' ? e.kind : e))).toEqual([{ kind: 'frame', text: 'MSH|ok' }, 'too-large', { kind: 'frame', text: 'MSH|after' }]);
    }
    // an FS (not an end) passing the bound at the end of a piece; the end block's FS and CR in two pieces
    const t = Buffer.concat([Buffer.of(VT), Buffer.alloc(10, 0x78), Buffer.of(FS), Buffer.from('y'), Buffer.of(FS, CR), frameOf('MSH|b')]);
    for (const cuts of [[12], [12, 14], [11, 13, 14, 15]]) expect(read(t, cuts, 10).map((e) => e.kind)).toEqual(['too-large', 'frame']);
    // exactly at the bound is a frame
    expect(read(frameOf('x'.repeat(10)), [], 10)).toEqual([{ kind: 'frame', text: 'x'.repeat(10) }]);
  });

  it('an oversize frame that runs on past the skip bound without its end stops the reader: nothing after it is read', () => {
    const reader = new MllpFrameReader(10, 30);
    expect(reader.push(Buffer.concat([Buffer.of(VT), Buffer.alloc(25, 0x41)])).map((e) => e.kind)).toEqual(['too-large']);
    expect(reader.stopped).toBe(false);
    expect(reader.push(Buffer.alloc(25, 0x41))).toEqual([]);
    expect(reader.stopped).toBe(true);
    expect(reader.push(frameOf('MSH|late'))).toEqual([]);
  });

  it('property: any cutting of a stream of frames (any content but VT and FS CR, noise between) gives the same frames, in order', () => {
    // no VT, and no CR right after an FS
    const content = fc
      .uint8Array({ maxLength: 60 })
      .map((a) => a.filter((b) => b !== VT))
      .map((a) => Buffer.from(a.reduce<number[]>((out, b) => (b === CR && out.at(-1) === FS ? out : [...out, b]), [])).toString('latin1'));
    const noise = fc.uint8Array({ maxLength: 5 }).map((a) => Buffer.from(a.filter((b) => b !== VT)));
    fc.assert(
      fc.property(fc.array(fc.tuple(noise, content), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const stream = Buffer.concat(frames.flatMap(([n, c]) => [n, frameOf(c)]));
        const expected = frames.map(([, c]) => ({ kind: 'frame', text: c }));
        expect(read(stream, [])).toEqual(expected);
        expect(read(stream, cuts)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('property: with a bound, any cutting gives the same frames, each oversize frame reported once in its place and skipped to its end', () => {
    const content = fc
      .uint8Array({ maxLength: 40 })
      .map((a) => a.filter((b) => b !== VT))
      .map((a) => Buffer.from(a.reduce<number[]>((out, b) => (b === CR && out.at(-1) === FS ? out : [...out, b]), [])).toString('latin1'));
    fc.assert(
      fc.property(fc.array(content, { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const stream = Buffer.concat(frames.map((c) => frameOf(c)));
        const expected = frames.map((c) => (c.length > 20 ? 'too-large' : { kind: 'frame', text: c }));
        const kinds = (events: ReturnType<typeof read>): unknown[] => events.map((e) => (e.kind === 'too-large' ? e.kind : e));
        expect(kinds(read(stream, [], 20))).toEqual(expected);
        expect(kinds(read(stream, cuts, 20))).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('mllpFrame wraps UTF-8 text in VT ... FS CR', () => {
    expect([...mllpFrame('é')]).toEqual([VT, 0xc3, 0xa9, FS, CR]);
  });
});
