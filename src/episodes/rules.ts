/**
 * The rules the worklist and the alerts follow, read from the pathway file and the settings, so that a
 * site running another pathway (ESC 0/1 h, High-STEACS: `rule-in`, `observe`, `rule-out`) needs no code
 * change. Written down (README "Laboratory results", docs/safety/hazard-log.md L-rows):
 *
 * - **Episode window**: results of one patient (and encounter) within the pathway's `episodeWindowHours`
 *   of the episode's results belong to it (the pathway's own episode rule, C2 rule 3); once the latest
 *   result is older than the window, no result can join and the episode closes (`window-passed`). An
 *   episode is never evaluated later than its window's end (a late correction, a late timer): past it,
 *   its results would age out of the pathway's episode rule and it would read as `needs-input`.
 * - **Final**: an outcome is final when the pathway waits for nothing: it is neither `needs-input` nor
 *   `awaiting-retest` (the two waiting outcomes every pathway contract defines) and the decision names no
 *   `retestDue`. A final outcome closes the episode (`final-outcome`); a later result reopens it.
 * - **Alert-worthy**: each notification lists the outcome codes it wants (and `retest-overdue`); without
 *   a list, the pathway's outcomes whose indicator is `critical` or `warning`, and `retest-overdue`.
 *   Codes are checked against the pathway file at start: a code the pathway never gives stops the start.
 */
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Decision } from '../engine/types.js';
import { TnpError } from '../errors.js';
import type { NotificationSettings } from '../settings.js';

export const RETEST_OVERDUE = 'retest-overdue';
/** The outcomes that wait for something (data or a sample): every pathway contract defines both. */
export const WAITING_OUTCOMES: readonly string[] = ['needs-input', 'awaiting-retest'];

export interface EpisodeRules {
  readonly windowMs: number;
  /** Every outcome code the pathway can give, most serious first. */
  readonly outcomes: readonly string[];
  isFinal(d: Pick<Decision, 'outcome' | 'retestDue'>): boolean;
  /** The notifications with the events each wants. */
  readonly notifications: readonly { readonly url: string; readonly secret: string; readonly events: ReadonlySet<string> }[];
}

/** What the service reads from the pathway file for the worklist (one place, so an engine change touches one file). */
function pathwayData(runtime: PathwayRuntime): { windowHours: number; severity: readonly string[]; indicators: ReadonlyMap<string, string> } {
  const file = runtime.pathway.file as unknown as { settings?: { episodeWindowHours?: unknown }; severity?: unknown; outcomes?: Record<string, { indicator?: unknown }> };
  const hours = typeof file.settings?.episodeWindowHours === 'number' ? file.settings.episodeWindowHours : 24;
  const severity = Array.isArray(file.severity) ? (file.severity as unknown[]).filter((x): x is string => typeof x === 'string') : [];
  const indicators = new Map<string, string>();
  for (const [code, o] of Object.entries(file.outcomes ?? {})) if (typeof o.indicator === 'string') indicators.set(code, o.indicator);
  return { windowHours: hours, severity, indicators };
}

/** @throws TnpError TNP_ERR_SETTINGS_INVALID when a notification names an outcome the pathway never gives. */
export function episodeRules(runtime: PathwayRuntime, notifications: readonly NotificationSettings[]): EpisodeRules {
  const { windowHours, severity, indicators } = pathwayData(runtime);
  const known = new Set([...severity, RETEST_OVERDUE]);
  const alertDefault = new Set([...severity.filter((o) => indicators.get(o) === 'critical' || indicators.get(o) === 'warning'), RETEST_OVERDUE]);
  const list = notifications.map((n, i) => {
    for (const [j, o] of (n.outcomes ?? []).entries()) {
      if (!known.has(o)) throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "notifications[${i}].outcomes[${j}]" is "${o}", which the pathway ${runtime.identity.id} never gives (it gives ${[...known].join(', ')})`);
    }
    return { url: n.url, secret: n.secret, events: n.outcomes === undefined ? alertDefault : new Set(n.outcomes) };
  });
  return {
    windowMs: windowHours * 3_600_000,
    outcomes: severity,
    isFinal: (d) => !WAITING_OUTCOMES.includes(d.outcome) && d.retestDue === undefined,
    notifications: list,
  };
}
