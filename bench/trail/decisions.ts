/**
 * Decisions for the synthetic trail, without deciding the same case a million times. A case is what the
 * engine sees: the episode's resources, with their times relative to the evaluation time. Each distinct
 * case is decided once by the real engine (at a fixed evaluation time, for placeholder patient and
 * encounter ids); a repeat of the case in another episode reuses that decision with its times shifted and
 * its ids replaced (every time in a decision is an ISO 8601 instant in UTC, and the ids appear as text).
 * A sample of the repeats (one in `checkEvery`) is decided again by the engine and must give exactly the
 * same decision, or the run stops: the reuse never departs from what the engine says. At a million records
 * the trail holds about 175 000 distinct cases among 785 000 evaluations; the `maxCases` most recently used
 * are kept (a case evicted is decided again when it comes back).
 */
import { LRUCache } from 'lru-cache';
import type { Decision } from '../../src/engine/types.js';
import type { PathwayRuntime } from '../../src/engine/catalogue.js';
import { instantFromEpochMs } from '../../src/engine/time.js';
import { decideResources } from '../../src/decide.js';
import type { EpisodeSpec } from './episodes.js';
import { observations } from './records.js';

/** The evaluation time every case is decided at. */
const CASE_AT_MS = Date.parse('2024-06-01T12:00:00Z');
const CASE_PATIENT = 'pt-CASE';
const CASE_ENCOUNTER = 'enc-CASE';
const ISO_UTC = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z/g;

/** The episode as it stands at `atMs`, moved to the case's time and ids. */
function caseOf(e: EpisodeSpec, atMs: number): EpisodeSpec {
  return { ...e, patientId: CASE_PATIENT, encounterId: CASE_ENCOUNTER, startMs: e.startMs - atMs + CASE_AT_MS };
}

/** The decision's text with every instant moved by `shiftMs` and the case's ids replaced by the episode's. */
function rebase(text: string, shiftMs: number, e: EpisodeSpec): string {
  return text
    .replace(ISO_UTC, (iso: string, millis: string | undefined) => {
      const moved = new Date(Date.parse(iso) + shiftMs).toISOString();
      return millis === undefined ? `${moved.slice(0, 19)}Z` : moved;
    })
    .replaceAll(CASE_ENCOUNTER, e.encounterId)
    .replaceAll(CASE_PATIENT, e.patientId);
}

export interface DecisionSource {
  decide(e: EpisodeSpec, atMs: number): Promise<Decision>;
  readonly stats: { decided: number; reused: number; checked: number };
}

/** The engine itself, every time (for small trails and as the reference). */
export function engineDecisions(rt: PathwayRuntime): DecisionSource {
  const stats = { decided: 0, reused: 0, checked: 0 };
  return {
    stats,
    decide(e, atMs) {
      stats.decided += 1;
      return decideResources(rt, observations(e, atMs), { now: instantFromEpochMs(atMs), encounterId: e.encounterId });
    },
  };
}

/** Each distinct case decided once by the engine; repeats reused (see the file's comment). */
export function caseDecisions(rt: PathwayRuntime, checkEvery = 50, maxCases = 120_000): DecisionSource {
  const engine = engineDecisions(rt);
  // Bounded: a case's decision text is about 5 kB.
  const texts = new LRUCache<string, string>({ max: maxCases });
  const stats = { decided: 0, reused: 0, checked: 0 };
  return {
    stats,
    async decide(e, atMs) {
      const c = caseOf(e, atMs);
      const key = JSON.stringify(observations(c, CASE_AT_MS));
      let text = texts.get(key);
      if (text === undefined) {
        text = JSON.stringify(await engine.decide(c, CASE_AT_MS));
        texts.set(key, text);
        stats.decided += 1;
      } else stats.reused += 1;
      const own = rebase(text, atMs - CASE_AT_MS, e);
      if ((stats.decided + stats.reused) % checkEvery === 0) {
        stats.checked += 1;
        const direct = JSON.stringify(await engine.decide(e, atMs));
        if (direct !== own) throw new Error(`the reused decision of ${e.encounterId} at ${new Date(atMs).toISOString()} differs from the engine's:\n${own}\n${direct}`);
      }
      return JSON.parse(own) as Decision;
    },
  };
}
