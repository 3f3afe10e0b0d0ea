/**
 * A synthetic chest-pain department, for the adoption report's tests and benchmark: episodes as the
 * department lives them (an ECG, a TIMI score, a baseline troponin, a retest on time or not, evaluations
 * and card feedback), drawn from a seeded generator so a trail is reproducible to the byte.
 */

/** mulberry32: a small seeded PRNG (reproducible; not for secrets). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type FeedbackSpec = null | 'accepted' | { readonly overridden: string | null };

export interface EpisodeSpec {
  readonly patientId: string;
  readonly encounterId: string;
  /** Arrival (epoch ms). Observation times are minutes after it. */
  readonly startMs: number;
  /** ECG finding and when it is recorded; null: never. */
  readonly ecg: { readonly finding: 'no-stemi-or-new-lbbb' | 'stemi-or-new-lbbb'; readonly atMin: number } | null;
  readonly timi: { readonly score: number; readonly atMin: number } | null;
  /** The baseline troponin (ng/L), its draw time, and how it is coded: the site's code, the catalogue's default (unmapped), or an unreadable unit. */
  readonly baseline: { readonly value: number; readonly atMin: number; readonly coding: 'site' | 'default' | 'bad-unit' } | null;
  /** The retest, minutes after arrival, of the same assay. */
  readonly retest: { readonly value: number; readonly atMin: number } | null;
  /** Evaluation times, minutes after arrival, each with the feedback its card gets. */
  readonly evals: readonly { readonly atMin: number; readonly feedback: FeedbackSpec }[];
  /** Evaluations triggered by laboratory results (trigger `lab-result`, with the episode's own key). */
  readonly labEpisodeId?: string;
  /** A CDS call before the first evaluation that could not get its data (an evaluation-failure record). */
  readonly failureAtMin?: number;
}

export const OVERRIDE_CODES = ['clinical-judgement', 'data-incorrect', 'not-cardiac-chest-pain', 'already-actioned', 'senior-review-done'];

/**
 * `count` episodes spread over `days` days from `startMs`, with the mix of a busy department: about 4%
 * STEMI, 14% TIMI 0, 8% with the ECG recorded after the first evaluation, 3% with an unreadable result, 71%
 * through baseline and retest (retests 10% early, 60% on time, 22% late, 8% never drawn), 5% of results coded
 * with the catalogue's default codes, 2% evaluated on laboratory results; feedback on a third of the cards.
 */
export function randomEpisodes(seed: number, count: number, startMs: number, days: number): EpisodeSpec[] {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const patients = Math.max(1, Math.floor(count * 0.8));
  const feedback = (): FeedbackSpec => (r() < 0.35 ? (r() < 0.7 ? 'accepted' : { overridden: r() < 0.85 ? pick(OVERRIDE_CODES) : null }) : null);
  const out: EpisodeSpec[] = [];
  for (let i = 0; i < count; i++) {
    const p = Math.floor(r() * patients);
    const base = {
      patientId: `pt-${seed}-${p}`,
      encounterId: `enc-${seed}-${i}`,
      startMs: startMs + Math.floor(r() * days * 86_400_000 / 60_000) * 60_000,
    };
    const coding = r() < 0.05 ? ('default' as const) : ('site' as const);
    const roll = r();
    const low = r() < 0.75;
    const baselineValue = low ? 3 + Math.floor(r() * 10) : 15 + Math.floor(r() * 60);
    if (roll < 0.04) {
      out.push({ ...base, ecg: { finding: 'stemi-or-new-lbbb', atMin: 2 }, timi: null, baseline: null, retest: null, evals: [{ atMin: 8, feedback: feedback() }] });
    } else if (roll < 0.18) {
      out.push({ ...base, ecg: { finding: 'no-stemi-or-new-lbbb', atMin: 5 }, timi: { score: 0, atMin: 12 }, baseline: r() < 0.5 ? { value: baselineValue, atMin: 15, coding } : null, retest: null, evals: [{ atMin: 25, feedback: feedback() }] });
    } else if (roll < 0.21) {
      out.push({ ...base, ecg: { finding: 'no-stemi-or-new-lbbb', atMin: 5 }, timi: { score: 2, atMin: 10 }, baseline: { value: baselineValue, atMin: 15, coding: 'bad-unit' }, retest: null, evals: [{ atMin: 70, feedback: feedback() }] });
    } else {
      const late = roll < 0.29;
      const t = r();
      const dev = t < 0.1 ? -1 - Math.floor(r() * 40) : t < 0.7 ? Math.floor(r() * 31) : t < 0.92 ? 31 + Math.floor(r() * 120) : null;
      const retestAt = dev === null ? null : 15 + 180 + dev;
      const rise = r() < 0.15;
      const retestValue = low ? (rise ? baselineValue * 3 + 20 : baselineValue + Math.floor(r() * 2)) : rise ? baselineValue * 2 : baselineValue + 1;
      const lab = r() < 0.02;
      const evals = [
        ...(late ? [{ atMin: 3, feedback: null }] : []),
        { atMin: 60, feedback: feedback() },
        ...(retestAt === null ? [{ atMin: 15 + 180 + 45, feedback: null }] : [{ atMin: retestAt + 50, feedback: feedback() }]),
      ];
      out.push({
        ...base,
        ecg: { finding: 'no-stemi-or-new-lbbb', atMin: late ? 40 : 5 },
        timi: { score: 1 + Math.floor(r() * 4), atMin: late ? 42 : 10 },
        baseline: { value: baselineValue, atMin: 15, coding },
        retest: retestAt === null ? null : { value: retestValue, atMin: retestAt },
        evals,
        ...(lab ? { labEpisodeId: `lab-episode-${seed}-${i}` } : {}),
        ...(r() < 0.01 ? { failureAtMin: 50 } : {}),
      });
    }
  }
  return out;
}
