/**
 * The chart's walk (rule 0): from the start node to an outcome, one json-rules-engine run per node
 * visited, of the conditions of the edges leaving it over the derived facts; then the assembly (the walk, needs-input when
 * anything on its path is missing, and the readings that count on their own; the most serious counts).
 * Pure apart from the pool of idle Engines per node of a pathway (each run is on an Engine of its own).
 */
import { Engine, Fact, type RuleProperties, type RuleResult } from 'json-rules-engine';
import { PathwayDefect } from './defect.js';
import { type CompiledPathway, type GraphFactName, type Scalar, factsOf } from './pathway.js';
import { moreSerious } from './severity.js';
import { Log, type LogView } from './trace.js';
import type { Indicator, Missing, MissingItem, OutcomeCode } from './types.js';
import { missingName, outcomeWords } from './wording.js';

/** A decision point's edges as json-rules-engine rules, and the facts their conditions name. */
interface NodeRules {
  readonly rules: readonly RuleProperties[];
  readonly facts: readonly GraphFactName[];
  /** Per edge, the facts its conditions name, in their order (the trace step's facts). */
  readonly edgeFacts: ReadonlyMap<string, readonly GraphFactName[]>;
  /** Constant facts already made, per fact and value: a Fact with a constant value is never changed by a run. */
  readonly constants: Map<GraphFactName, Map<Scalar | undefined, Fact>>;
  /** Idle engines holding these rules (more are built when evaluations overlap, and dropped after). */
  readonly idle: Engine[];
}

const nodeRules = new WeakMap<CompiledPathway, Map<string, NodeRules>>();
/** Idle engines kept per node; more are built when more evaluations overlap, and dropped after. */
const POOL_BOUND = 8;
/** Constant facts kept per fact of a node (its values come from small domains; past this, made per run). */
const CONSTANTS_BOUND = 64;

/** The rules of the edges leaving each node (named by the edge ids), made once per pathway. */
function rulesOf(p: CompiledPathway, nodeId: string): NodeRules {
  let byNode = nodeRules.get(p);
  if (byNode === undefined) {
    byNode = new Map();
    const ruleOf = new Map(p.edgeRules.map((r) => [r.name, r]));
    for (const [from, edges] of p.edgesFrom) {
      const facts = new Set<string>();
      for (const e of edges) factsOf(e.conditions, facts);
      const rules = edges.map((e) => {
        const r = ruleOf.get(e.id);
        if (r === undefined) throw new PathwayDefect(`edge "${e.id}" has no rule`);
        return r;
      });
      const edgeFacts = new Map(edges.map((e) => [e.id, [...factsOf(e.conditions, new Set())] as GraphFactName[]]));
      byNode.set(from, { rules, facts: [...facts] as GraphFactName[], edgeFacts, constants: new Map(), idle: [] });
    }
    nodeRules.set(p, byNode);
  }
  const n = byNode.get(nodeId);
  if (n === undefined) throw new PathwayDefect(`node "${nodeId}" has no outgoing edge`);
  return n;
}

/**
 * Run the rules of the edges leaving one node, with the facts they name, on an Engine no other
 * evaluation is using: a json-rules-engine Engine keeps per-run state, so overlapping runs on one
 * Engine lose or mix events. Only the nodes the walk visits are run (json-rules-engine copies each
 * rule's conditions on every run, so a run of every edge of the pathway paid for edges never reached).
 */
async function runNode(n: NodeRules, facts: Readonly<Record<string, Scalar>>): Promise<RuleResult[]> {
  const engine = n.idle.pop() ?? new Engine([...n.rules], { allowUndefinedFacts: true });
  // Constant facts, uncached: the almanac then keeps each value as given instead of hashing a cache key
  // for it on every run (the values are read once per condition either way). Set on this Engine, which
  // no other run is using, they replace the previous run's.
  for (const k of n.facts) engine.addFact(constantFact(n, k, facts[k]));
  try {
    return (await engine.run()).results;
  } finally {
    if (n.idle.length < POOL_BOUND) n.idle.push(engine);
  }
}

function constantFact(n: NodeRules, name: GraphFactName, value: Scalar | undefined): Fact {
  let byValue = n.constants.get(name);
  if (byValue === undefined) {
    byValue = new Map();
    n.constants.set(name, byValue);
  }
  let fact = byValue.get(value);
  if (fact === undefined) {
    fact = new Fact(name, value, { cache: false });
    if (byValue.size < CONSTANTS_BOUND) byValue.set(value, fact);
  }
  return fact;
}

/** The facts of one reading of the data, and what exactly its parts found missing. */
export interface WalkFacts {
  readonly graphFacts: Readonly<Record<GraphFactName, Scalar>>;
  /** What exactly is missing, per item, from the parts that found it missing. */
  readonly missingDetails: readonly Missing[];
}

/** What the walk needs besides the graph facts: for the indicator and the summary (the pathway's words, wording.ts). */
export interface WalkInputs extends WalkFacts {
  /**
   * For a reading with the non-final results read as if final: the facts of the readings without them.
   * Non-final results can only escalate (rule 12): they choose the walk's branches, but an item that is
   * missing without them, at a decision point the walk passes, is still missing.
   */
  readonly withoutNonFinal?: readonly WalkFacts[];
  readonly retestDue: string | undefined;
  readonly retestOverdue: boolean;
  readonly baselineAboveLimit: boolean;
}

export interface Walked {
  readonly outcome: OutcomeCode;
  readonly indicator: Indicator;
  readonly summary: string;
  readonly missing: readonly MissingItem[];
  readonly missingDetails: readonly Missing[];
  readonly path: { readonly nodes: readonly string[]; readonly edges: readonly string[] };
  /** Items missing without the non-final results, for which this reading's non-final results stood (rule 12). */
  readonly standIns: readonly MissingItem[];
  readonly log: LogView;
}

export async function walk(p: CompiledPathway, w: WalkInputs): Promise<Walked> {
  const log = new Log();
  const values: Readonly<Record<string, Scalar>> = w.graphFacts;
  const nodes: string[] = [];
  const edges: string[] = [];
  const needsInput: MissingItem[] = [];
  // Missing items found only in the readings without the non-final results, with what exactly is missing.
  const extraDetails: Missing[] = [];
  const standIns: MissingItem[] = [];
  let nodeId = p.file.graph.start;
  let leaf: OutcomeCode | null = null;
  for (let guard = 0; guard <= p.nodes.size; guard++) {
    const node = p.nodes.get(nodeId);
    if (node === undefined) throw new PathwayDefect(`the walk reached unknown node ${nodeId}`);
    nodes.push(node.id);
    if (node.kind === 'outcome') {
      leaf = node.outcome ?? null;
      break;
    }
    const fired = new Set<string>();
    const n = rulesOf(p, node.id);
    for (const r of await runNode(n, values)) if (typeof r.name === 'string') fired.add(r.name);
    const taken = (p.edgesFrom.get(node.id) ?? []).filter((e) => fired.has(e.id));
    if (taken.length !== 1) {
      throw new PathwayDefect(`at node "${node.id}" ${taken.length} branches match the facts ${JSON.stringify(Object.fromEntries([...p.graphFacts].map((f) => [f, values[f]])))}`);
    }
    let edge = taken[0] as (typeof taken)[number];
    // Rule 12: non-final results can only escalate, never stand for a missing item. Where a reading without
    // them needs an input at this decision point, this reading needs it too, and takes that branch (a
    // branch that needs input only continues the walk or ends it in needs-input, so nothing is hidden).
    let standIn: { readonly facts: Record<string, string | number | boolean | null> } | null = null;
    if (node.kind === 'decision' && edge.needsInput === undefined) {
      for (const base of w.withoutNonFinal ?? []) {
        const baseFired = new Set<string>();
        for (const r of await runNode(n, base.graphFacts)) if (typeof r.name === 'string') baseFired.add(r.name);
        const baseEdge = (p.edgesFrom.get(node.id) ?? []).find((e) => baseFired.has(e.id) && e.needsInput !== undefined);
        if (baseEdge?.needsInput === undefined) continue;
        const baseDetail = base.missingDetails.find((m) => m.item === baseEdge.needsInput);
        if (baseDetail !== undefined) extraDetails.push(baseDetail);
        const facts: Record<string, string | number | boolean | null> = {};
        for (const f of n.edgeFacts.get(baseEdge.id) ?? []) facts[f] = base.graphFacts[f] ?? null;
        standIn = { facts };
        standIns.push(baseEdge.needsInput);
        edge = baseEdge;
        break;
      }
    }
    edges.push(edge.id);
    const used: Record<string, string | number | boolean | null> = standIn?.facts ?? {};
    // The facts the edge's conditions name, with their values in this evaluation (never read back from the engine's rule objects).
    if (standIn === null) for (const f of n.edgeFacts.get(edge.id) ?? []) used[f] = values[f] ?? null;
    if (edge.needsInput !== undefined && !needsInput.includes(edge.needsInput)) needsInput.push(edge.needsInput);
    if (node.kind === 'decision') {
      const text = `Chart: ${node.label} -> ${edge.label}${standIn !== null ? ' without the non-final results' : ''}${edge.needsInput !== undefined ? `; needs ${missingName(p.wording, edge.needsInput)}` : ''}${standIn !== null ? ': a non-final result can only escalate, never stand for a missing item (rule 12)' : edge.silent !== undefined ? `. Where the chart is silent: ${edge.silent.replace(/\.$/, '')}` : ''}.`;
      log.step({ rule: standIn !== null ? '12' : (node.rule ?? p.file.assembly.rule), node: node.id, text, facts: used, result: edge.to });
      if (standIn !== null) log.reason(text);
    }
    nodeId = edge.to;
  }
  if (leaf === null) throw new PathwayDefect('the walk did not reach an outcome');

  // Rule 0: assembly. The walk (needs-input when anything on its path is missing), and the readings
  // that count on their own.
  const walkOutcome: OutcomeCode = needsInput.length > 0 ? p.file.assembly.needsInputOutcome : leaf;
  let outcome = walkOutcome;
  const assemblyNotes: string[] = [`the chart's walk gives ${walkOutcome}`];
  for (const reading of p.file.assembly.independentReadings) {
    const v = w.graphFacts[reading.fact];
    if (typeof v === 'string' && (reading.counts as readonly string[]).includes(v)) {
      assemblyNotes.push(`${reading.text.toLowerCase()} give ${v}`);
      outcome = moreSerious(p, outcome, v as OutcomeCode);
    }
  }
  log.step({ rule: p.file.assembly.rule, text: `Assembly: ${assemblyNotes.join('; ')}. The most serious counts: ${outcome}.`, result: outcome });

  const detail = new Map([...extraDetails, ...w.missingDetails].map((m) => [m.item, m.text]));
  const missing: Missing[] = needsInput.map((item) => ({ item, text: detail.get(item) ?? missingName(p.wording, item) }));
  // The indicator and summary are the pathway's: its outcome's, or a variant's whose conditions hold.
  const { indicator, summary } = outcomeWords(p.wording, outcome, { retestDue: w.retestDue, retestOverdue: w.retestOverdue, missing: needsInput, baselineAboveLimit: w.baselineAboveLimit });
  return { outcome, indicator, summary, missing: needsInput, missingDetails: missing, path: { nodes, edges }, standIns, log };
}
