/**
 * Checks of a pathway file that its JSON Schema cannot make, about what a person reads and on what
 * evidence (issue 8, item 5). Each throws PathwayProblem naming the field as a JSON pointer. Pure.
 *
 * - Every clinical threshold of the file names its evidence: `thresholdSources` maps the JSON pointer of
 *   each threshold to ids of the file's `evidence` list (`thresholdPointers` lists the thresholds).
 * - Every item the graph can find missing has a name (`missingItems`), for the summary and the trace.
 * - Every outcome the assembly can give has an entry in `outcomes` (its label, indicator and advice);
 *   the graph's, the severity order's and the classification's outcomes are checked where they are compiled.
 */
import { PathwayProblem } from './pathway.js';
import type { PathwayFile } from './pathway-file.js';

/** The settings that are clinical thresholds (an episode's span and rule 16's bound are the contract's, not evidence). */
const CLINICAL_SETTINGS = ['retestIntervalMinutes', 'retestEarlyToleranceMinutes', 'changeThresholdPercent', 'windows', 'thirdSampleMinutes', 'singleSampleOnsetMinutes', 'earlyPresenterMinutes'] as const;

/** One segment of a JSON pointer (RFC 6901). */
export const pointerSegment = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

function hasNumber(cond: unknown): boolean {
  if (cond === null || typeof cond !== 'object') return false;
  const c = cond as Record<string, unknown>;
  if (typeof c['fact'] === 'string' && typeof c['value'] === 'number') return true;
  return ['all', 'any'].some((k) => Array.isArray(c[k]) && (c[k] as unknown[]).some(hasNumber)) || hasNumber(c['not']);
}

/**
 * The JSON pointers of the file's clinical thresholds: its clinical settings, the TIMI score's range, every
 * graph condition that compares a fact with a number (the TIMI thresholds), and the catalogue's cut-off
 * tables a sample-window pathway reads.
 */
export function thresholdPointers(file: PathwayFile): string[] {
  const out: string[] = [];
  for (const k of CLINICAL_SETTINGS) if (file.settings[k] !== undefined) out.push(`/settings/${k}`);
  if (file.inputs.timi !== undefined) out.push('/inputs/timi');
  file.graph.edges.forEach((e, i) => {
    if (hasNumber(e.conditions)) out.push(`/graph/edges/${i}/conditions`);
  });
  if (file.serial !== undefined) {
    out.push('/serial/zeroHourTable', '/serial/offTableTables');
    if (file.serial.sexSpecific !== undefined) out.push('/serial/sexSpecific');
  }
  return out;
}

/** The value at a JSON pointer, or undefined when there is none. */
export function valueAt(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  if (!pointer.startsWith('/')) return undefined;
  let v: unknown = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** Every clinical threshold names at least one source of `evidence`; every source named exists, for something that exists. */
export function checkThresholdSources(file: PathwayFile): void {
  const ids = new Set<string>();
  file.evidence.forEach((e, i) => {
    if (ids.has(e.id)) throw new PathwayProblem(`evidence id "${e.id}" is listed twice`, `/evidence/${i}/id`);
    ids.add(e.id);
  });
  for (const [pointer, sources] of Object.entries(file.thresholdSources)) {
    const field = `/thresholdSources/${pointerSegment(pointer)}`;
    if (valueAt(file, pointer) === undefined) throw new PathwayProblem(`names the sources of "${pointer}", which is not in the file`, field);
    sources.forEach((s, i) => {
      if (!ids.has(s)) throw new PathwayProblem(`source "${s}" is not in "evidence" (its ids: ${[...ids].join(', ')})`, `${field}/${i}`);
    });
  }
  for (const pointer of thresholdPointers(file)) {
    const sources = file.thresholdSources[pointer] ?? [];
    if (sources.length === 0) throw new PathwayProblem(`this clinical threshold names no source: add "${pointer}" to "thresholdSources" with ids of "evidence"`, pointer);
  }
}

/** Every item the graph can find missing has a name in `missingItems`. */
export function checkMissingNames(file: PathwayFile): void {
  file.graph.edges.forEach((e) => {
    if (e.needsInput !== undefined && file.missingItems[e.needsInput] === undefined) {
      throw new PathwayProblem(`edge "${e.id}" can find "${e.needsInput}" missing, which "missingItems" gives no name`, `/missingItems/${pointerSegment(e.needsInput)}`);
    }
  });
}

/** Every outcome an independent reading counts with has an entry (a label) in `outcomes`. */
export function checkAssemblyOutcomes(file: PathwayFile): void {
  file.assembly.independentReadings.forEach((r, i) => {
    r.counts.forEach((o, j) => {
      if (file.outcomes[o] === undefined) throw new PathwayProblem(`the assembly can give "${o}", which has no entry (label, indicator, advice) in "outcomes"`, `/assembly/independentReadings/${i}/counts/${j}`);
    });
  });
}
