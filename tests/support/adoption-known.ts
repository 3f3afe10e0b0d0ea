/**
 * A known audit trail for the adoption report: twelve January episodes written out by hand (below), each
 * repeated five times for five different patients so that no count is small, with every measure worked out
 * by hand in EXPECTED. Times are minutes after each episode's arrival; the baseline is drawn at 15 and the
 * Chart 2 retest is due 180 minutes after it (at 195).
 */
import type { EpisodeSpec, FeedbackSpec } from '../../bench/trail/episodes.js';

export const COPIES = 5;
const JAN = Date.parse('2026-01-05T08:00:00Z');

function std(i: number, copy: number, o: { dev: number | null; base?: number; retest?: number; coding?: 'site' | 'default'; fb?: [FeedbackSpec, FeedbackSpec]; lab?: boolean; failure?: boolean }): EpisodeSpec {
  const retestAt = o.dev === null ? null : 195 + o.dev;
  return {
    patientId: `known-patient-${i}-${copy}`,
    encounterId: `known-encounter-${i}-${copy}`,
    startMs: JAN + (i * 24 + copy) * 3_600_000,
    ecg: { finding: 'no-stemi-or-new-lbbb', atMin: 5 },
    timi: { score: 2, atMin: 10 },
    baseline: { value: o.base ?? 6, atMin: 15, coding: o.coding ?? 'site' },
    retest: retestAt === null ? null : { value: o.retest ?? 7, atMin: retestAt },
    evals: [{ atMin: 60, feedback: o.fb?.[0] ?? null }, { atMin: retestAt === null ? 240 : retestAt + 50, feedback: o.fb?.[1] ?? null }],
    ...(o.lab === true ? { labEpisodeId: `known-lab-episode-${i}-${copy}` } : {}),
    ...(o.failure === true ? { failureAtMin: 50 } : {}),
  };
}

/** The twelve episodes of one copy. */
export function knownEpisodes(copy: number): EpisodeSpec[] {
  const base = (i: number) => ({ patientId: `known-patient-${i}-${copy}`, encounterId: `known-encounter-${i}-${copy}`, startMs: JAN + (i * 24 + copy) * 3_600_000 });
  return [
    std(1, copy, { dev: 10, fb: ['accepted', null] }), // not consistent at 255: 240 min; on time
    std(2, copy, { dev: 20, fb: [null, { overridden: 'clinical-judgement' }], failure: true }), // not consistent: 250; on time
    std(3, copy, { dev: -20 }), // retest drawn 20 min early: still awaiting (overdue at 225); early
    std(4, copy, { dev: 60 }), // not consistent: 290; late
    std(5, copy, { dev: 5, base: 20, retest: 45, fb: [null, { overridden: null }] }), // consistent with MI: 235; on time
    std(6, copy, { dev: null }), // never drawn: awaiting twice (overdue at 240)
    { ...base(7), ecg: { finding: 'stemi-or-new-lbbb', atMin: 2 }, timi: null, baseline: null, retest: null, evals: [{ atMin: 8, feedback: 'accepted' }] },
    { ...base(8), ecg: { finding: 'no-stemi-or-new-lbbb', atMin: 5 }, timi: { score: 0, atMin: 12 }, baseline: { value: 4, atMin: 15, coding: 'site' }, retest: null, evals: [{ atMin: 25, feedback: null }] },
    { ...base(9), ecg: { finding: 'no-stemi-or-new-lbbb', atMin: 40 }, timi: { score: 2, atMin: 42 }, baseline: { value: 6, atMin: 15, coding: 'site' }, retest: { value: 7, atMin: 195 }, evals: [{ atMin: 3, feedback: null }, { atMin: 60, feedback: null }, { atMin: 245, feedback: 'accepted' }] },
    { ...base(10), ecg: { finding: 'no-stemi-or-new-lbbb', atMin: 5 }, timi: { score: 2, atMin: 10 }, baseline: { value: 6, atMin: 15, coding: 'bad-unit' }, retest: null, evals: [{ atMin: 70, feedback: null }] },
    std(11, copy, { dev: 10, coding: 'default', fb: ['accepted', null] }), // two results on the catalogue's default code
    std(12, copy, { dev: 15, lab: true }), // evaluated on laboratory results: 245; on time
  ];
}

export function knownTrail(): EpisodeSpec[] {
  return Array.from({ length: COPIES }, (_, c) => knownEpisodes(c)).flat();
}

const x = (n: number): number => n * COPIES;

/** Every count of the January cell (and of the whole range: the trail has nothing else), by entry path. */
export const EXPECTED: Readonly<Record<string, number>> = {
  episodes: x(12),
  evaluations: x(22),
  'evaluationsByTrigger/cds-hooks': x(20),
  'evaluationsByTrigger/lab-result': x(2),
  'firstOutcome/awaiting-retest': x(8),
  'firstOutcome/acute-mi-pathway': x(1),
  'firstOutcome/low-risk-pathway': x(1),
  'firstOutcome/needs-input': x(1),
  'firstOutcome/indeterminate': x(1),
  'firstOutcome/consistent-with-mi': 0,
  'firstOutcome/not-consistent-with-mi': 0,
  'finalOutcome/not-consistent-with-mi': x(6),
  'finalOutcome/consistent-with-mi': x(1),
  'finalOutcome/awaiting-retest': x(2),
  'finalOutcome/acute-mi-pathway': x(1),
  'finalOutcome/low-risk-pathway': x(1),
  'finalOutcome/indeterminate': x(1),
  'finalOutcome/needs-input': 0,
  'decided/yes': x(10),
  'decided/no': x(2),
  'timeToDecision/measured': x(8),
  'timeToDecision/noBaseline': x(2),
  'timeToDecision/bins/0-60': x(1),
  'timeToDecision/bins/210-240': x(2),
  'timeToDecision/bins/240-270': x(4),
  'timeToDecision/bins/270-300': x(1),
  'retestTiming/due': x(10),
  'retestTiming/notDue': x(2),
  'retestTiming/drawn': x(8),
  'retestTiming/notDrawn': x(2),
  'retestTiming/early': x(1),
  'retestTiming/onTime': x(6),
  'retestTiming/late': x(1),
  'retestTiming/bins/-30--15': x(1),
  'retestTiming/bins/0-15': x(4),
  'retestTiming/bins/15-30': x(2),
  'retestTiming/bins/60-120': x(1),
  'ruleOut/ruledOut': x(1),
  'ruleOut/notRuledOut': x(11),
  'evaluationOutcome/awaiting-retest': x(11),
  'evaluationOutcome/not-consistent-with-mi': x(6),
  'evaluationOutcome/consistent-with-mi': x(1),
  'evaluationOutcome/acute-mi-pathway': x(1),
  'evaluationOutcome/low-risk-pathway': x(1),
  'evaluationOutcome/needs-input': x(1),
  'evaluationOutcome/indeterminate': x(1),
  // What the records list as missing: the first evaluation of episode 9 misses the ECG, the TIMI score and
  // the baseline; episode 10's only baseline is unreadable, so its indeterminate record lists the baseline.
  'missing/ecg': x(1),
  'missing/timi': x(1),
  'missing/baseline-troponin': x(2),
  'overdueAtEvaluation/retestDue': x(12),
  'overdueAtEvaluation/overdue': x(2),
  'overdueAtEvaluation/notOverdue': x(10),
  'feedback/total': x(6),
  'feedback/accepted': x(4),
  'feedback/overridden': x(2),
  'overrideReasons/clinical-judgement': x(1),
  'overrideReasons/none': x(1),
  'dataQuality/uninterpretableResults': x(1),
  'dataQuality/uninterpretableByRule/rule-10-11': x(1),
  'dataQuality/unmappedCodes': x(2),
  'dataQuality/evaluationFailures': x(1),
  'dataQuality/failuresByCode/TNP_ERR_FHIR_TIMEOUT': x(1),
  'dataQuality/unrecognisedResources': 0,
  'dataQuality/evaluationsWithoutPatient': 0,
};

export const EXPECTED_STATS = {
  timeToDecisionMedianMinutes: 240,
  timeToDecisionP25Minutes: 233.8,
  timeToDecisionP75Minutes: 246.3,
  retestDeviationMedianMinutes: 10,
  indeterminateRate: 1 / 22,
  needsInputRate: 1 / 22,
  overdueAtEvaluationRate: 2 / 12,
  retestOnTimeRate: 6 / 10,
  feedbackAcceptedRate: 4 / 6,
};
