/**
 * Rule 2: the TIMI score of the episode (the highest usable score counts), and a raised cardiac marker
 * (TIMI item 7: some usable troponin is, or may be, above its URL), which settles the TIMI branch. Pure.
 */
import { TEXT_BOUND, clip, listText, listTextOf } from './bounds.js';
import type { UsableTroponin } from './later-results.js';
import { intervalText, mayBeAbove } from './ranges.js';
import { formatInstant } from './time.js';
import { Log, type LogView } from './trace.js';
import type { Instant, Missing, TimiFact } from './types.js';

export interface TimiReading {
  readonly score: number | null;
  readonly raisedMarker: boolean;
  readonly missing: readonly Missing[];
  readonly log: LogView;
}

export function readTimi(timis: readonly TimiFact[], start: Instant, end: Instant, usable: readonly UsableTroponin[]): TimiReading {
  const log = new Log();
  let best: TimiFact | null = null;
  const problems: string[] = [];
  const missing: Missing[] = [];
  for (const t of timis) {
    const time = t.drawTime ?? t.issued;
    if (time !== null && time < start) {
      log.use(t.ref, 'timi', 'outside-episode', `recorded ${formatInstant(time)}, before the episode began (rule 3)`);
      continue;
    }
    let why: string | null = null;
    if (t.status === 'listed') why = `status ${t.statusText ?? ''} (rule 12)`;
    else if (t.status === 'invalid') why = t.statusText === null ? 'no status (rule 12)' : `status "${t.statusText}" (rule 12)`;
    else if (time === null) why = 'no draw or issued time (rule 3)';
    else if (time > end) why = `recorded ${formatInstant(time)}, after the evaluation time (rule 3)`;
    else if (t.score === null) why = `${t.valueProblem ?? 'no score'} (rule 2)`;
    if (why !== null || t.score === null) {
      problems.push(`${t.ref}: ${why ?? 'unusable'}`);
      log.use(t.ref, 'timi', 'not-used', `unusable: ${why ?? ''}`);
      continue;
    }
    log.use(t.ref, 'timi', 'used', `TIMI score ${t.score}`);
    if (best === null || (best.score ?? -1) < t.score) best = t;
  }
  if (best === null) {
    missing.push({ item: 'timi', text: clip(problems.length === 0 ? 'no TIMI score recorded in this episode' : `no usable TIMI score (${listText(problems, 5, '; ')})`, 2 * TEXT_BOUND) });
    log.step({ rule: '2', node: 'timi', text: problems.length === 0 ? 'No TIMI score in the episode.' : `No usable TIMI score: ${listText(problems, 5, '; ')}.`, facts: { timiScore: null } });
  } else {
    const text = `TIMI score ${best.score ?? ''} (${best.ref}${timis.length > 1 ? '; the highest usable score counts' : ''}) (rule 2).`;
    log.step({ rule: '2', node: 'timi', text, facts: { timiScore: best.score } });
    log.reason(text);
  }
  // Rule 2 (item 7): a raised cardiac marker.
  const raised = usable.filter((u) => mayBeAbove(u.value, u.url));
  if (raised.length > 0) {
    log.step({
      rule: '2',
      text: `Raised cardiac marker (TIMI item 7): ${listTextOf(raised, (u) => `${u.fact.ref} ${intervalText(u.value)} ng/L is or may be above the URL ${u.url.toFixed()} ng/L`, 5, '; ')}. The TIMI score is at least 1, which settles the branch.`,
      facts: { raisedMarker: true },
    });
  }
  return { score: best?.score ?? null, raisedMarker: raised.length > 0, missing, log };
}
