/**
 * What the card reads from a pathway file, in one place: small accessors over the file as data, so the
 * card code does not depend on the shape of the engine's pathway type (which changes as pathways are
 * added). Each accessor reads defensively and says what it returns.
 */
import type { PathwayRuntime } from '../engine/catalogue.js';
import { isObject } from '../util/guards.js';

type Json = Record<string, unknown>;
const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((v): v is string => typeof v === 'string') : []);

/** The pathway file as plain data. */
export function fileOf(runtime: PathwayRuntime): unknown {
  return runtime.pathway.file;
}

/** The file's `cards` section (undefined when it has none). */
export function cardsSectionOf(file: unknown): unknown {
  return isObject(file) ? file['cards'] : undefined;
}

/** The file's id, for messages. */
export function pathwayIdOf(file: unknown): string {
  return isObject(file) && typeof file['id'] === 'string' ? file['id'] : '(no id)';
}

/**
 * Every outcome the pathway can reach: those it declares, ranks by severity, ends its graph on, gives
 * for missing input, counts from independent readings, or classifies results into.
 */
export function reachableOutcomesOf(file: unknown): string[] {
  if (!isObject(file)) return [];
  const found = new Set<string>();
  if (isObject(file['outcomes'])) for (const k of Object.keys(file['outcomes'])) found.add(k);
  for (const o of strings(file['severity'])) found.add(o);
  const graph = file['graph'];
  if (isObject(graph) && Array.isArray(graph['nodes'])) {
    for (const n of graph['nodes']) if (isObject(n) && typeof n['outcome'] === 'string') found.add(n['outcome']);
  }
  const assembly = file['assembly'];
  if (isObject(assembly)) {
    if (typeof assembly['needsInputOutcome'] === 'string') found.add(assembly['needsInputOutcome']);
    if (Array.isArray(assembly['independentReadings'])) for (const r of assembly['independentReadings']) if (isObject(r)) for (const o of strings(r['counts'])) found.add(o);
  }
  const classification = file['classification'];
  if (isObject(classification)) {
    const rules: unknown[] = [...(Array.isArray(classification['rules']) ? (classification['rules'] as unknown[]) : []), classification['otherwise']];
    for (const r of rules) if (isObject(r) && typeof r['outcome'] === 'string') found.add(r['outcome']);
  }
  return [...found].sort();
}

/** Every item the pathway can report missing: the `needsInput` of its graph's edges. */
export function missingItemsOf(file: unknown): string[] {
  const graph = isObject(file) ? file['graph'] : undefined;
  if (!isObject(graph) || !Array.isArray(graph['edges'])) return [];
  const found = new Set<string>();
  for (const e of graph['edges']) if (isObject(e) && typeof e['needsInput'] === 'string') found.add(e['needsInput']);
  return [...found].sort();
}

function settingsOf(file: unknown): Json {
  const s = isObject(file) ? file['settings'] : undefined;
  return isObject(s) ? s : {};
}

/** The retest interval in minutes (the pathway's `settings.retestIntervalMinutes`), or undefined. */
export function retestIntervalMinutesOf(file: unknown): number | undefined {
  const v = settingsOf(file)['retestIntervalMinutes'];
  return typeof v === 'number' ? v : undefined;
}

/** The relative change threshold in percent, as written (`settings.changeThresholdPercent`), or undefined. */
export function changeThresholdPercentOf(file: unknown): string | undefined {
  const v = settingsOf(file)['changeThresholdPercent'];
  return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

/** The pathway's title. */
export function titleOf(runtime: PathwayRuntime): string | undefined {
  const file = fileOf(runtime);
  return isObject(file) && typeof file['title'] === 'string' ? file['title'] : undefined;
}

/** The outcome's label (the file's `outcomes[code].label`), or the code. */
export function outcomeLabelOf(runtime: PathwayRuntime, outcome: string): string {
  const file = fileOf(runtime);
  const o = isObject(file) && isObject(file['outcomes']) ? file['outcomes'][outcome] : undefined;
  return isObject(o) && typeof o['label'] === 'string' ? o['label'] : outcome;
}

/** The first evidence source with a URL: the card's `source.url`. */
export function sourceUrlOf(runtime: PathwayRuntime): string | undefined {
  const file = fileOf(runtime);
  const ev = isObject(file) && Array.isArray(file['evidence']) ? file['evidence'] : [];
  for (const e of ev) if (isObject(e) && typeof e['url'] === 'string') return e['url'];
  return undefined;
}
