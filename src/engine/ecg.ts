/**
 * Rule 1: the ECG finding of the episode. ST-elevation or new LBBB on any usable ECG wins; an LBBB of
 * unknown age counts until a product classification drawn at or after it answers it; an ECG that
 * escalates counts whatever its status, time or encounter (contract 1.1, episode.ts). Pure.
 */
import { TEXT_BOUND, clip, listText, listTextOf } from './bounds.js';
import { formatInstant } from './time.js';
import { Log, type LogView } from './trace.js';
import type { EcgFact, Instant, Missing } from './types.js';

export type EcgFinding = 'stemi-or-new-lbbb' | 'no-stemi-or-new-lbbb' | 'lbbb-age-unknown' | 'missing';

export interface EcgReading {
  readonly finding: EcgFinding;
  /** What exactly is missing or unusable, for people (clipped: it may quote the data). */
  readonly missing: readonly Missing[];
  readonly log: LogView;
}

export function readEcg(ecgs: readonly EcgFact[], start: Instant, end: Instant, escalating: ReadonlySet<EcgFact>): EcgReading {
  const log = new Log();
  const usable: { fact: EcgFact; time: Instant }[] = [];
  const problems: string[] = [];
  for (const e of ecgs) {
    const time = e.drawTime ?? e.issued;
    let why: string | null = null;
    if (escalating.has(e) && time !== null) {
      usable.push({ fact: e, time });
      continue;
    }
    if (time !== null && time < start) {
      log.use(e.ref, 'ecg', 'outside-episode', `taken ${formatInstant(time)}, before the episode began (rule 3)`);
      continue;
    }
    if (e.status === 'listed') why = `status ${e.statusText ?? ''} (rule 12)`;
    else if (e.status === 'invalid') why = e.statusText === null ? 'no status (rule 12)' : `status "${e.statusText}" (rule 12)`;
    else if (time === null) why = `no draw or issued time (rule 3)`;
    else if (time > end) why = `taken ${formatInstant(time)}, after the evaluation time (rule 3)`;
    else if (e.valueProblem !== null) why = `${e.valueProblem} (rule 1)`;
    if (why !== null || time === null) {
      problems.push(`${e.ref}: ${why ?? 'unusable'}`);
      log.use(e.ref, 'ecg', 'not-used', `unusable: ${why ?? ''}`);
      continue;
    }
    usable.push({ fact: e, time });
  }
  if (usable.length === 0) {
    const text = problems.length === 0 ? 'No ECG in the episode.' : `No usable ECG: ${listText(problems, 5, '; ')}.`;
    log.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'missing' }, result: 'missing' });
    const detail = problems.length === 0 ? 'no ECG recorded in this episode' : `no usable ECG (${listText(problems, 5, '; ')})`;
    return { finding: 'missing', missing: [{ item: 'ecg', text: clip(detail, 2 * TEXT_BOUND) }], log };
  }
  for (const u of usable) {
    log.use(u.fact.ref, 'ecg', 'used', `ECG: ${u.fact.meanings.join(', ')}`);
  }
  const stemi = usable.filter((u) => u.fact.meanings.includes('stemi-or-new-lbbb'));
  if (stemi.length > 0) {
    const text = `ECG shows ST-elevation or new LBBB (${listTextOf(stemi, (s) => `${s.fact.ref}, ${formatInstant(s.time)}`, 5, '; ')}): acute MI pathway, whatever else is known (rule 1).`;
    log.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'stemi-or-new-lbbb' }, result: 'stemi-or-new-lbbb' });
    log.reason(text);
    return { finding: 'stemi-or-new-lbbb', missing: [], log };
  }
  // An LBBB of unknown age is answered by a product classification drawn at or after it: by the latest one.
  const lastClassified = usable.reduce<Instant | null>((m, v) => (v.fact.productClassified && (m === null || v.time > m) ? v.time : m), null);
  const unresolved = usable.filter((u) => u.fact.meanings.includes('lbbb-age-unknown') && (lastClassified === null || lastClassified < u.time));
  if (unresolved.length > 0) {
    const refs = listText(unresolved.map((u) => u.fact.ref));
    const text = `LBBB of unknown age on ${refs} and no later classification says whether it is new (rule 1).`;
    log.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'lbbb-age-unknown' }, result: 'lbbb-age-unknown' });
    log.reason(text);
    return { finding: 'lbbb-age-unknown', missing: [{ item: 'ecg-lbbb-new', text: clip(`whether the LBBB on ${refs} is new`, 2 * TEXT_BOUND) }], log };
  }
  const answered = usable.some((u) => u.fact.meanings.includes('lbbb-age-unknown'));
  const text = `ECG: no ST-elevation or new LBBB (${listTextOf(usable, (u) => `${u.fact.ref}, ${formatInstant(u.time)}`, 5, '; ')})${answered ? '; the LBBB of unknown age is answered by a classification drawn at or after it' : ''} (rule 1).`;
  log.step({ rule: '1', node: 'ecg', text, facts: { ecgFinding: 'no-stemi-or-new-lbbb' }, result: 'no-stemi-or-new-lbbb' });
  log.reason(text);
  return { finding: 'no-stemi-or-new-lbbb', missing: [], log };
}
