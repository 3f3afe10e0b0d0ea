/**
 * C2 rule 16 on the sample-window pathways: an episode at 10x and 1,000x a normal size (about 6
 * observations) is decided, bounded, and never less serious than the contract's (more troponin results
 * than the pathway weighs: at least indeterminate). Shapes: many 0 h samples at one time (read at once
 * past MAX_ZERO_READINGS, as the hull of their values), and many later samples at distinct times.
 * Speed is measured by `npm run bench`, never here.
 */
import { describe, expect, it } from 'vitest';
import type { Resource } from 'fhir/r4.js';
import { decide } from '../../src/decide.js';
import { at, bundle, ecg, patient, runtime, troponin } from '../support/cases.js';

const NORMAL = 6;
const bytes = (x: unknown): number => Buffer.byteLength(JSON.stringify(x));

describe('sample-window pathways: episodes at 10x and 1,000x a normal size', () => {
  for (const pathway of ['esc-0h1h', 'high-steacs']) {
    for (const n of [10 * NORMAL, 1000 * NORMAL]) {
      const assay = pathway === 'high-steacs' ? { system: 'http://loinc.org', code: '89579-7' } : { system: 'http://loinc.org', code: '67151-1' };
      const context = (): Resource[] => [patient('female'), ecg('no-stemi-or-new-lbbb', -15)];
      it(`${pathway}, ${n} 0 h samples at one time and one later rise: indeterminate at least, and the rise is not lost`, async () => {
        const rt = await runtime({ pathway });
        const rs = [...context(), ...Array.from({ length: n }, (_, i) => troponin(3 + (i % 7) / 10, 0, { id: `z-${i}`, assay })), troponin(400, 60, { id: 'rise', assay })];
        const d = await decide(rt, bundle(...rs), { now: at(65) });
        expect(d.outcome).toBe('rule-in');
        expect(bytes(d)).toBeLessThan(256 * 1024);
      });
      it(`${pathway}, ${n} later samples at distinct times, all small: at least indeterminate (more than the pathway weighs)`, async () => {
        const rt = await runtime({ pathway });
        const rs = [...context(), troponin(3, 0, { id: 'z', assay }), ...Array.from({ length: n }, (_, i) => troponin(3, 1 + (i % 170), { id: `l-${i}`, assay }))];
        const d = await decide(rt, bundle(...rs), { now: at(175) });
        expect(['indeterminate', 'rule-in', 'observe']).toContain(d.outcome);
        expect(d.outcome).not.toBe('rule-out');
        expect(bytes(d)).toBeLessThan(256 * 1024);
      });
    }
  }
});
