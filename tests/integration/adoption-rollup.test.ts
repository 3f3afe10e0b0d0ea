/**
 * The adoption report's roll-up and its disclosure control, on real stores:
 * - the roll-up maintained batch by batch equals a from-scratch computation over the same trail, whatever
 *   the batch sizes (fast-check), and a second catch-up counts nothing twice;
 * - a period with fewer than 5 episodes is suppressed whole, and no suppressed count can be recovered by
 *   subtracting published counts from a published total (across outcomes, periods and the whole range);
 * - a pathway that rules out on one sample (its file says so) gets the measure, with its own outcome codes.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomEpisodes } from '../../bench/trail/episodes.js';
import { entryList, type CellModel } from '../../src/adoption/report.js';
import { AdoptionReports } from '../../src/adoption/service.js';
import { vocabularyOf } from '../../src/adoption/vocabulary.js';
import { catchUp, MemoryTables } from '../../src/adoption/tables.js';
import { vocabulariesFrom } from '../../src/adoption/rollup.js';
import { loadVocabularies } from '../../src/adoption/vocabulary.js';
import { knownEpisodes } from '../support/adoption-known.js';
import { openTrail, type Trail } from '../support/adoption-trail.js';
import { pgAvailable, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const START = Date.parse('2026-01-01T00:00:00Z');

const sortRows = <T extends { granularity: string; period: string; pathwayId: string; settingsHash: string; measure: string }>(rows: T[]): T[] =>
  [...rows].sort((a, b) => `${a.granularity}${a.period}${a.pathwayId}${a.settingsHash}${a.measure}`.localeCompare(`${b.granularity}${b.period}${b.pathwayId}${b.settingsHash}${b.measure}`));

for (const kind of ['sqlite', 'postgres'] as const) {
  describe.runIf(kind === 'sqlite' || runPg)(`adoption roll-up (${kind})`, () => {
    it('roll-up == recompute: incremental catch-ups of any batch sizes give the counts of one from-scratch pass, and a repeat counts nothing twice', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 10_000 }), fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 6 }), async (seed, sizes) => {
          const trail = await openTrail(kind);
          try {
            const total = await trail.write(randomEpisodes(seed, 60, START, 45), seed);
            const reports = await trail.reports();
            const backend = (reports as unknown as { backend: Parameters<typeof catchUp>[0] & Parameters<typeof catchUp>[1] }).backend;
            const vocab = vocabulariesFrom(loadVocabularies());
            let done = 0;
            for (let i = 0; done < total; i++) done += (await catchUp(backend, backend, vocab, { batchSize: sizes[i % sizes.length] ?? 50, maxRecords: sizes[(i + 1) % sizes.length] ?? 50 })).applied;
            expect((await catchUp(backend, backend, vocab)).applied).toBe(0);
            const scratch = new MemoryTables();
            await catchUp(backend, scratch, vocab, { batchSize: 100_000 });
            for (const granularity of ['week', 'month'] as const) {
              const q = { granularity, from: '2025-12-29', to: '2026-03-01' };
              expect(sortRows(await backend.counts(q))).toEqual(sortRows(await scratch.counts(q)));
            }
          } finally {
            await trail.close();
          }
        }),
        { numRuns: kind === 'sqlite' ? 8 : 4 },
      );
    });

    describe('suppression', () => {
      let trail: Trail;
      let reports: AdoptionReports;
      beforeAll(async () => {
        trail = await openTrail(kind);
        // January: 12 episodes of the known trail (one copy: many small counts); February: 3 episodes.
        const feb = knownEpisodes(9).slice(0, 3).map((e, i) => ({ ...e, patientId: `feb-patient-${i}`, encounterId: `feb-encounter-${i}`, startMs: Date.parse('2026-02-10T08:00:00Z') + i * 3_600_000 }));
        await trail.write([...knownEpisodes(0), ...feb], 11);
        reports = await trail.reports();
      });
      afterAll(async () => {
        await trail?.close();
      });

      it('a period with fewer than 5 episodes is suppressed whole; counts of 1 to 4 are never published', async () => {
        const m = await reports.report({ from: '2026-01-01', to: '2026-02-28', granularity: 'month' });
        const [jan, feb] = m.series[0]!.periods;
        expect(feb!.suppressed).toBe(true);
        expect(entryList(feb!).every((e) => e.value === null)).toBe(true);
        expect(Object.values(feb!.stats).every((v) => v === null)).toBe(true);
        expect(jan!.suppressed).toBe(false);
        for (const c of [jan!, m.series[0]!.total, m.overall]) for (const e of entryList(c)) if (e.value !== null) expect(e.value === 0 || e.value >= 5, e.path.join('/')).toBe(true);
      });

      it('no suppressed count can be recovered by subtraction: every sum has 0 or at least 2 hidden members, or only zeros hidden', async () => {
        for (const granularity of ['week', 'month'] as const) {
          const m = await reports.report({ from: '2026-01-01', to: '2026-02-28', granularity });
          const s = m.series[0]!;
          const cells: CellModel[] = [...s.periods, s.total, m.overall];
          // Columns: each entry of the total against the same entry in every period.
          for (const [k, total] of s.total.entries) {
            const members = [total, ...s.periods.map((p) => p.entries.get(k) ?? { value: 0, suppressed: false })];
            const hidden = members.filter((x) => x.suppressed);
            if (hidden.length === 1) expect(hidden[0]!.value, `${granularity} ${k}`).toBe(0);
          }
          // Rows: a cell's total and parts (outcomes sum to episodes, and so on).
          for (const c of cells) {
            const get = (...p: string[]) => c.entries.get(p.join('\u0000')) ?? { value: 0, suppressed: false };
            const groups: [string[], string[][]][] = [
              [['episodes'], [...c.entries.keys()].filter((k) => k.startsWith('finalOutcome\u0000')).map((k) => k.split('\u0000'))],
              [['episodes'], [['decided', 'yes'], ['decided', 'no']]],
              [['retestTiming', 'drawn'], [['retestTiming', 'early'], ['retestTiming', 'onTime'], ['retestTiming', 'late']]],
              [['feedback', 'total'], [['feedback', 'accepted'], ['feedback', 'overridden'], ['feedback', 'other']]],
            ];
            for (const [t, parts] of groups) {
              const members = [get(...t), ...parts.map((p) => get(...p))];
              const hidden = members.filter((x) => x.suppressed);
              if (hidden.length === 1) expect(hidden[0]!.value, t.join('/')).toBe(0);
            }
          }
        }
      });
    });

    it('a single-sample rule-out, with the outcome codes of the pathway file the records name (not Chart 2)', async () => {
      const trail = await openTrail(kind);
      try {
        const doc = {
          id: 'high-steacs',
          title: 'High-STEACS',
          severity: ['acute-mi-pathway', 'rule-in', 'indeterminate', 'observe', 'needs-input', 'awaiting-retest', 'rule-out'],
          outcomes: Object.fromEntries(['acute-mi-pathway', 'rule-in', 'indeterminate', 'observe', 'needs-input', 'awaiting-retest', 'rule-out'].map((c) => [c, { label: c }])),
          settings: { episodeWindowHours: 24, singleSampleOnsetMinutes: 180, retestMinutes: 180 },
        };
        const vocab = vocabularyOf(doc)!;
        const body = (outcome: string, later: number, i: number) => ({
          trigger: 'lab-result',
          pathway: { id: 'high-steacs', version: '1.0.0', sha256: 'a'.repeat(64), catalogueSha256: 'b'.repeat(64), settingsSha256: 'c'.repeat(64) },
          evaluatedAt: `2026-03-0${1 + (i % 5)}T10:${String(i).padStart(2, '0')}:00.000Z`,
          outcome,
          missing: [],
          retestDue: null,
          troponin: { baseline: { ref: `Observation/r${i}`, assay: 'abbott-architect-hs-tni', drawTime: `2026-03-0${1 + (i % 5)}T10:00:00.000Z` }, later: Array.from({ length: later }, () => ({ assay: 'abbott-architect-hs-tni', minutesAfterBaseline: '180', role: 'retest' })) },
          inputs: [],
          assays: [],
        });
        // 8 episodes ruled out on one sample, 5 ruled out after a retest, 6 ruled in: 19 episodes.
        const outcomes: [string, number][] = [...Array<[string, number]>(8).fill(['rule-out', 0]), ...Array<[string, number]>(5).fill(['rule-out', 1]), ...Array<[string, number]>(6).fill(['rule-in', 0])];
        let i = 0;
        for (const [o, later] of outcomes) {
          await trail.writer.append({ kind: 'evaluation', at: `2026-03-0${1 + (i % 5)}T10:${String(i).padStart(2, '0')}:00.000Z`, patientId: `hs-patient-${i}`, body: body(o, later, i) }, `hs-record-${i}`);
          i++;
        }
        await trail.writer.flush();
        const backend = (await trail.reports()) as unknown as { backend: Parameters<typeof catchUp>[0] & { close(): Promise<void>; readOnly: boolean; hasTables: boolean } & Parameters<typeof catchUp>[1] };
        const reports = new AdoptionReports(backend.backend, { now: () => new Date(), lateRetestMinutes: 30, vocabularies: new Map([['high-steacs', vocab], ...loadVocabularies()]) });
        const m = await reports.report({ from: '2026-03-01', to: '2026-03-31', granularity: 'month', pathwayId: 'high-steacs' });
        const s = m.series[0]!;
        expect(s.singleSample).toBe(true);
        const v = (c: CellModel, ...p: string[]) => c.entries.get(p.join('\u0000'))?.value;
        expect(v(s.total, 'episodes')).toBe(19);
        expect(v(s.total, 'ruleOut', 'ruledOut')).toBe(13);
        expect(v(s.total, 'ruleOut', 'singleSample')).toBe(8);
        expect(v(s.total, 'ruleOut', 'moreSamples')).toBe(5);
        expect(s.total.stats['singleSampleRuleOutRate']).toBeCloseTo(8 / 19, 4);
        expect(v(s.total, 'finalOutcome', 'rule-in')).toBe(6);
        expect([...s.total.entries.keys()].filter((k) => k.startsWith('finalOutcome\u0000')).map((k) => k.split('\u0000')[1])).toEqual(doc.severity);
        expect(v(s.total, 'evaluationsByTrigger', 'lab-result')).toBe(19);
        const chart2 = (await reports.report({ from: '2026-03-01', to: '2026-03-31', granularity: 'month' })).series.filter((x) => x.pathway.id === 'chart2');
        expect(chart2).toEqual([]);
      } finally {
        await trail.close();
      }
    });
  });
}
