/** What the SQLite and PostgreSQL roll-up tables share. */
import type { EpisodeState } from './episodes.js';
import { factOf, type RecordLike } from './facts.js';
import type { CellRef } from './rollup.js';

/**
 * The roll-up's definitions version: a store rolled up under another version is rebuilt from seq 1 at the
 * next catch-up (raise it whenever what a record counts for changes).
 */
export const ROLLUP_VERSION = 1;

/** Episodes whose last evaluation is this much older than the newest one are no longer kept. */
export const EPISODE_RETENTION_MS = 7 * 86_400_000;

export function parseEpisode(text: string): EpisodeState {
  return JSON.parse(text) as EpisodeState;
}

/** The cell of an evaluation record (feedback is counted in it), or null when the record is not one. */
export function cellFromRow(r: RecordLike): CellRef | null {
  const f = factOf(r);
  return f !== null && f.kind === 'evaluation' ? { pathwayId: f.pathwayId, settingsHash: f.settingsHash, atMs: f.atMs } : null;
}
