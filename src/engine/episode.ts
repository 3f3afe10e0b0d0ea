/**
 * Rule 3: the episode. Which observations are live (rule 12: void ones out; rule 3: other encounters
 * out), which ECGs escalate whatever their status, time or encounter (rule 1, contract 1.1), and the
 * episode's window, anchored on the latest used troponin drawn in the window before the evaluation
 * time. Pure: the observations of one reading in, the episode and its log out.
 */
import type { CompiledPathway } from './pathway.js';
import type { Reading } from './readings.js';
import { formatInstant } from './time.js';
import { Log, type LogView } from './trace.js';
import type { EcgFact, Instant, ObservationFact, OnsetFact, TimiFact, TroponinFact } from './types.js';

export interface Episode {
  /** The observations of the reading that are neither void nor of another encounter, in canonical order. */
  readonly live: readonly ObservationFact[];
  readonly troponins: readonly TroponinFact[];
  readonly ecgs: readonly EcgFact[];
  readonly timis: readonly TimiFact[];
  /** Chest-pain onsets (pathways that read them, onset.ts). */
  readonly onsets: readonly OnsetFact[];
  /** ECGs meaning ST-elevation or new LBBB that count whatever their status, time or encounter (rule 1). */
  readonly escalating: ReadonlySet<EcgFact>;
  readonly start: Instant;
  /** The evaluation time plus the pathway's future tolerance. */
  readonly end: Instant;
  readonly log: LogView;
}

export function episodeOf(p: CompiledPathway, reading: Reading, now: Instant, encounterId: string | null): Episode {
  const log = new Log();
  const kept = reading.observations;
  const conflicted = reading.conflicted;
  // Rule 1 (1.1): an ECG meaning ST-elevation or new LBBB counts even when non-final, drawn after the
  // evaluation time or recorded in another encounter, if drawn (or issued) in the 24 h before now.
  const escalating = new Set<EcgFact>();
  for (const o of kept) {
    const t = o.drawTime ?? o.issued;
    if (o.kind === 'ecg' && (o.status === 'used' || o.status === 'listed') && t !== null && t >= now - p.episodeWindow && o.meanings.includes('stemi-or-new-lbbb')) escalating.add(o);
  }

  // Rule 12: status. Rule 3: encounter.
  const live: ObservationFact[] = [];
  for (const o of kept) {
    if (o.status === 'void' && !conflicted.has(o)) {
      log.use(o.ref, o.kind, 'void', `status ${o.statusText ?? ''}: void, ignored (rule 12)`);
      continue;
    }
    if (encounterId !== null && o.encounterId !== null && o.encounterId !== encounterId && !(o.kind === 'ecg' && escalating.has(o))) {
      log.use(o.ref, o.kind, 'other-encounter', `names encounter ${o.encounterId}, not ${encounterId} (rule 3)`);
      continue;
    }
    live.push(o);
  }

  // Rule 3: the episode, anchored on the latest used troponin drawn in the window before now.
  const windowStart = now - p.episodeWindow;
  const end = now + p.futureTolerance;
  let anchor: TroponinFact | null = null;
  for (const o of live) {
    if (o.kind === 'troponin' && o.status === 'used' && o.drawTime !== null && o.drawTime >= windowStart && o.drawTime <= now && !conflicted.has(o)) {
      if (anchor === null || (anchor.drawTime as Instant) < o.drawTime) anchor = o;
    }
  }
  const start = (anchor?.drawTime ?? now) - p.episodeWindow;
  const hours = p.file.settings.episodeWindowHours;
  log.step({
    rule: '3',
    text:
      anchor === null
        ? `No used troponin drawn in the ${hours} h before the evaluation time: the episode runs from ${formatInstant(start)} to ${formatInstant(end)}.`
        : `The episode is anchored on the latest troponin drawn in the ${hours} h before the evaluation time (${anchor.ref}, ${formatInstant(anchor.drawTime as Instant)}): it runs from ${formatInstant(start)} to ${formatInstant(end)}.`,
    facts: { evaluationTime: formatInstant(now), episodeStart: formatInstant(start), episodeEnd: formatInstant(end), encounter: encounterId },
  });
  return {
    live,
    troponins: live.filter((o): o is TroponinFact => o.kind === 'troponin'),
    ecgs: live.filter((o): o is EcgFact => o.kind === 'ecg'),
    timis: live.filter((o): o is TimiFact => o.kind === 'timi'),
    onsets: live.filter((o): o is OnsetFact => o.kind === 'onset'),
    escalating,
    start,
    end,
    log,
  };
}
