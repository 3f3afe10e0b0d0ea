/**
 * Pathway files, compiled. `compilePathway` checks what a JSON Schema cannot (references, acyclicity,
 * that every decision point has exactly one branch for every combination of its facts) and turns the
 * classification rules into a decision table, all with json-rules-engine, once, at load. Pure: no IO.
 */
import { Engine, type RuleProperties } from 'json-rules-engine';
import { Big } from 'big.js';
import type { OutcomeCode } from './types.js';
import { NS_PER_HOUR, NS_PER_MINUTE } from './time.js';
import { type CompiledSerial, compileSerial } from './serial-pathway.js';
import { compileClassification } from './classification.js';
import { checkAssemblyOutcomes, checkMissingNames, checkThresholdSources } from './pathway-checks.js';
import { type Wording, compileWording, withSettingsText } from './wording.js';

export const OUTCOME_CODES: readonly OutcomeCode[] = [
  'acute-mi-pathway',
  'consistent-with-mi',
  'indeterminate',
  'needs-input',
  'awaiting-retest',
  'not-consistent-with-mi',
  'low-risk-pathway',
  'rule-in',
  'observe',
  'rule-out',
];

export type { CellFactName, GraphEdge, GraphFactName, GraphNode, PathwayFile, Scalar } from './pathway-file.js';
import type { GraphEdge, GraphFactName, GraphNode, PathwayFile, Scalar } from './pathway-file.js';

export type Position = 'below' | 'at' | 'above';
export type Direction = 'rise' | 'fall' | 'none';

export interface ClassificationEntry {
  readonly outcome: OutcomeCode;
  readonly ruleId: string;
  readonly text: string;
}

export interface CompiledPathway {
  readonly file: PathwayFile;
  readonly id: string;
  readonly version: string;
  readonly sha256: string;
  readonly episodeWindow: bigint;
  readonly futureTolerance: bigint;
  readonly retestInterval: bigint;
  readonly retestEarlyTolerance: bigint;
  /** The relative change threshold as a percentage, exact. */
  readonly changeThresholdPercent: Big;
  /** 0 = most serious. */
  readonly severityRank: ReadonlyMap<OutcomeCode, number>;
  readonly nodes: ReadonlyMap<string, GraphNode>;
  readonly edgesFrom: ReadonlyMap<string, readonly GraphEdge[]>;
  /** One json-rules-engine rule per edge, named by the edge id. */
  readonly edgeRules: readonly RuleProperties[];
  /** Decision table of the classification rules, keyed by cellKey(). */
  readonly classificationTable: ReadonlyMap<string, ClassificationEntry>;
  /** Graph facts the pathway's conditions use. */
  readonly graphFacts: ReadonlySet<GraphFactName>;
  /** The sample-window reading (pathways with `serial`), or null. */
  readonly serial: CompiledSerial | null;
  /** The outcomes' indicators and summaries, and the names of missing items (wording.ts). */
  readonly wording: Wording;
}

export function cellKey(b: Position, l: Position, d: Direction, c: boolean): string {
  return `${b}|${l}|${d}|${c ? 'change' : 'no-change'}`;
}

export class PathwayProblem extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'PathwayProblem';
  }
}

export function factsOf(cond: unknown, into: Set<string>): Set<string> {
  if (cond !== null && typeof cond === 'object') {
    const c = cond as Record<string, unknown>;
    if (typeof c['fact'] === 'string') into.add(c['fact']);
    for (const k of ['all', 'any']) {
      const list = c[k];
      if (Array.isArray(list)) for (const x of list) factsOf(x, into);
    }
    if (c['not'] !== undefined) factsOf(c['not'], into);
  }
  return into;
}

function* combinations(domains: readonly (readonly [string, readonly Scalar[]])[]): Generator<Record<string, Scalar>> {
  if (domains.length === 0) {
    yield {};
    return;
  }
  const [[name, values], ...rest] = domains as [readonly [string, readonly Scalar[]], ...(readonly [string, readonly Scalar[]])[]];
  for (const v of values) for (const tail of combinations(rest)) yield { [name]: v, ...tail };
}

export async function firedRules(rules: readonly RuleProperties[], facts: Record<string, Scalar>): Promise<string[]> {
  const engine = new Engine([...rules], { allowUndefinedFacts: false });
  const { events } = await engine.run(facts);
  return events.map((e) => e.type).sort();
}

/**
 * Compile a schema-valid pathway file. Throws PathwayProblem (TemplateProblem for a bad placeholder) naming the field when the file is
 * inconsistent; the loader turns it into TNP_ERR_PATHWAY_INVALID.
 */
export async function compilePathway(raw: PathwayFile, sha256: string): Promise<CompiledPathway> {
  if ((raw.classification === undefined) === (raw.serial === undefined)) {
    throw new PathwayProblem('a pathway has exactly one of "classification" (a baseline and a retest) and "serial" (samples in timing windows)', raw.serial === undefined ? 'classification' : 'serial');
  }
  // Labels and texts that state a setting say the file's own value (`file` is what everyone reads).
  const file = withSettingsText(raw);
  checkThresholdSources(raw);
  checkMissingNames(file);
  checkAssemblyOutcomes(file);
  const nodes = new Map<string, GraphNode>();
  file.graph.nodes.forEach((n, i) => {
    if (nodes.has(n.id)) throw new PathwayProblem(`duplicate node id "${n.id}"`, `graph.nodes[${i}].id`);
    nodes.set(n.id, n);
  });
  const start = nodes.get(file.graph.start);
  if (start?.kind !== 'start') throw new PathwayProblem(`graph.start "${file.graph.start}" is not a node of kind "start"`, 'graph.start');

  const edgeIds = new Set<string>();
  const edgesFrom = new Map<string, GraphEdge[]>();
  file.graph.edges.forEach((e, i) => {
    if (edgeIds.has(e.id)) throw new PathwayProblem(`duplicate edge id "${e.id}"`, `graph.edges[${i}].id`);
    edgeIds.add(e.id);
    const from = nodes.get(e.from);
    if (from === undefined) throw new PathwayProblem(`edge "${e.id}" starts at unknown node "${e.from}"`, `graph.edges[${i}].from`);
    if (!nodes.has(e.to)) throw new PathwayProblem(`edge "${e.id}" ends at unknown node "${e.to}"`, `graph.edges[${i}].to`);
    if (from.kind === 'outcome') throw new PathwayProblem(`edge "${e.id}" leaves outcome node "${e.from}"`, `graph.edges[${i}].from`);
    for (const f of factsOf(e.conditions, new Set())) {
      if (!(f in file.facts)) throw new PathwayProblem(`edge "${e.id}" uses fact "${f}", which the pathway does not declare in "facts"`, `graph.edges[${i}].conditions`);
    }
    const list = edgesFrom.get(e.from) ?? [];
    list.push(e);
    edgesFrom.set(e.from, list);
  });
  for (const n of nodes.values()) {
    if (n.kind !== 'outcome' && (edgesFrom.get(n.id) ?? []).length === 0) {
      throw new PathwayProblem(`node "${n.id}" is not an outcome but has no outgoing edge`, 'graph.nodes');
    }
  }
  // Acyclic, and every node reachable from the start.
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, trail: string[]): void => {
    const s = state.get(id);
    if (s === 'done') return;
    if (s === 'visiting') throw new PathwayProblem(`the graph has a cycle: ${[...trail, id].join(' -> ')}`, 'graph.edges');
    state.set(id, 'visiting');
    for (const e of edgesFrom.get(id) ?? []) visit(e.to, [...trail, id]);
    state.set(id, 'done');
  };
  visit(start.id, []);
  for (const n of nodes.values()) {
    if (!state.has(n.id)) throw new PathwayProblem(`node "${n.id}" cannot be reached from the start`, 'graph.nodes');
  }

  const edgeRules: RuleProperties[] = file.graph.edges.map((e) => ({
    name: e.id,
    conditions: e.conditions,
    event: { type: e.id },
  }));

  // Totality: at every decision point, exactly one branch for every combination of its facts.
  for (const [nodeId, edges] of edgesFrom) {
    const used = new Set<string>();
    for (const e of edges) factsOf(e.conditions, used);
    const domains = [...used].sort().map((f) => [f, file.facts[f as GraphFactName]?.domain ?? []] as const);
    const rules = edgeRules.filter((r) => edges.some((e) => e.id === r.name));
    for (const combo of combinations(domains)) {
      const fired = await firedRules(rules, combo);
      if (fired.length !== 1) {
        throw new PathwayProblem(
          `at node "${nodeId}", the facts ${JSON.stringify(combo)} match ${fired.length === 0 ? 'no branch' : `several branches (${fired.join(', ')})`}: every combination must match exactly one`,
          'graph.edges',
        );
      }
    }
  }

  const severityRank = new Map<OutcomeCode, number>(file.severity.map((o, i) => [o, i]));
  for (const o of file.severity) if (file.outcomes[o] === undefined) throw new PathwayProblem(`severity lists "${o}", which has no entry in "outcomes"`, 'outcomes');
  for (const o of Object.keys(file.outcomes)) if (!severityRank.has(o as OutcomeCode)) throw new PathwayProblem(`outcome "${o}" is not ranked in "severity"`, 'severity');
  for (const n of nodes.values()) {
    if (n.outcome !== undefined && !severityRank.has(n.outcome)) throw new PathwayProblem(`node "${n.id}" ends on "${n.outcome}", which the pathway does not rank in "severity"`, 'graph.nodes');
  }
  const table = file.classification === undefined ? new Map<string, ClassificationEntry>() : await compileClassification(file.classification, severityRank);
  const serial = file.serial === undefined ? null : await compileSerial(file, severityRank);

  if (!(file.assembly.needsInputOutcome in file.outcomes)) {
    throw new PathwayProblem(`assembly.needsInputOutcome "${file.assembly.needsInputOutcome}" is not an outcome`, 'assembly.needsInputOutcome');
  }
  file.assembly.independentReadings.forEach((r, i) => {
    if (!(r.fact in file.facts)) throw new PathwayProblem(`independent reading uses undeclared fact "${r.fact}"`, `assembly.independentReadings[${i}].fact`);
  });
  if (file.inputs.timi !== undefined && file.inputs.timi.min > file.inputs.timi.max) throw new PathwayProblem('inputs.timi.min is above inputs.timi.max', 'inputs.timi');

  const s = file.settings;
  if (file.classification !== undefined) {
    if (s.retestIntervalMinutes === undefined || s.retestEarlyToleranceMinutes === undefined || s.changeThresholdPercent === undefined) {
      throw new PathwayProblem('a pathway with a classification needs retestIntervalMinutes, retestEarlyToleranceMinutes and changeThresholdPercent', 'settings');
    }
    if (s.retestEarlyToleranceMinutes >= s.retestIntervalMinutes) {
      throw new PathwayProblem('the early tolerance must be shorter than the retest interval', 'settings.retestEarlyToleranceMinutes');
    }
    file.classification.earlyResultCounts.forEach((o, i) => {
      if (!severityRank.has(o)) throw new PathwayProblem(`an early result counts with "${o}", which the pathway does not rank in "severity"`, `classification.earlyResultCounts[${i}]`);
    });
  }
  const graphFacts = new Set<GraphFactName>();
  for (const e of file.graph.edges) for (const f of factsOf(e.conditions, new Set())) graphFacts.add(f as GraphFactName);
  for (const r of file.assembly.independentReadings) graphFacts.add(r.fact);

  return {
    file,
    id: file.id,
    version: file.version,
    sha256,
    episodeWindow: BigInt(s.episodeWindowHours) * NS_PER_HOUR,
    futureTolerance: BigInt(s.futureToleranceMinutes) * NS_PER_MINUTE,
    retestInterval: BigInt(s.retestIntervalMinutes ?? s.thirdSampleMinutes ?? 0) * NS_PER_MINUTE,
    retestEarlyTolerance: BigInt(s.retestEarlyToleranceMinutes ?? 0) * NS_PER_MINUTE,
    changeThresholdPercent: new Big(s.changeThresholdPercent ?? '0'),
    severityRank,
    nodes,
    edgesFrom,
    edgeRules,
    classificationTable: table,
    graphFacts,
    serial,
    wording: compileWording(file),
  };
}
