/**
 * The map of the pathway: for one assay, baseline value and TIMI score, the outcome over every retest
 * value, and a baseline x retest heat map. Every point is a real evaluation: synthetic FHIR resources
 * (an ECG without ST-elevation, the TIMI score, the baseline, a retest at the retest interval) go through
 * decideResources, the same code the CDS service runs, so the map shows exactly what runs.
 *
 * The cost is bounded (the console API is public): the heat map does not depend on the baseline, only
 * on its scale (a few "nice" values), so it is computed once per assay, TIMI score, sex and scale; a
 * new baseline costs the retest sweep only (about 255 evaluations instead of 1,855). Both are kept in
 * LRU caches of fixed size, and one map is computed at a time, yielding to the event loop often, so
 * that CDS calls are served between its evaluations (docs/console.md, "Limits").
 */
import { Big } from 'big.js';
import type { Resource } from 'fhir/r4.js';
import { LRUCache } from 'lru-cache';
import { decideResources } from '../decide.js';
import { urlFor, type PathwayRuntime } from '../engine/catalogue.js';
import { TnpError } from '../errors.js';
import type { MapResponse, OutcomeCode } from './web/api-types.js';
import type { MapBody } from './schemas.js';

/** Synthetic episode times: the baseline at T0, the retest at the interval, evaluated 10 minutes later. */
const T0_MS = Date.UTC(2000, 0, 1, 8, 0, 0);
const RETEST_SAMPLES = 240;
const GRID_CELLS = 40;
const UCUM = 'http://unitsofmeasure.org';

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k at or above x. */
export function niceCeil(x: number): number {
  if (!(x > 0)) return 1;
  const k = Math.floor(Math.log10(x));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    const v = m * 10 ** k;
    if (v >= x * (1 - 1e-12)) return Number(v.toPrecision(12));
  }
  return 10 ** (k + 1);
}

/** Exact decimal text of a value rounded to 6 decimals (FHIR numbers stay within double precision). */
function text6(x: Big): string {
  return x.round(6, Big.roundHalfEven).toFixed().replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

interface Episode {
  readonly assayCoding: { readonly system: string; readonly code: string };
  readonly timi: number;
  readonly sex: MapBody['sex'];
  readonly intervalMinutes: number;
  readonly ecg: { readonly system: string; readonly code: string };
  readonly ecgValue: { readonly system: string; readonly code: string };
  readonly timiCode: { readonly system: string; readonly code: string };
}

/** The map's synthetic patient, whose case every point is. */
const MAP_PATIENT = 'map-patient';

function resourcesFor(ep: Episode, baseline: string, retest: string | null): Resource[] {
  const at = (minutes: number): string => iso(T0_MS + minutes * 60_000);
  const obs = (id: string, code: { system: string; code: string }, minutes: number, value: Record<string, unknown>): Resource =>
    ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ ...code }] }, effectiveDateTime: at(minutes), ...value }) as unknown as Resource;
  const tn = (id: string, v: string, minutes: number): Resource => obs(id, ep.assayCoding, minutes, { valueQuantity: { value: Number(v), unit: 'ng/L', system: UCUM, code: 'ng/L' } });
  const out: Resource[] = [
    obs('map-ecg', ep.ecg, -5, { valueCodeableConcept: { coding: [{ ...ep.ecgValue }] } }),
    obs('map-timi', ep.timiCode, -5, { valueInteger: ep.timi }),
    tn('map-baseline', baseline, 0),
  ];
  if (retest !== null) out.push(tn('map-retest', retest, ep.intervalMinutes));
  if (ep.sex !== undefined) out.push({ resourceType: 'Patient', id: MAP_PATIENT, gender: ep.sex } as Resource);
  return out;
}

/** Evaluations between two yields to the event loop (a few milliseconds of engine time). */
const EVALUATIONS_PER_SLICE = 25;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What one map request fixes: the assay, the synthetic episode, the lines. */
interface MapContext {
  readonly rt: PathwayRuntime;
  readonly body: MapBody;
  readonly assay: { readonly id: string; readonly name: string; readonly lod: Big };
  readonly ep: Episode;
  readonly url: Big;
  readonly effective: Big;
  readonly fall: Big;
  readonly rise: Big;
  readonly pct: Big;
  readonly now: string;
  readonly baselineText: string;
  /** The heat map's scale: depends on the baseline only beyond 2 URL, in "nice" steps. */
  readonly gMax: Big;
}

function contextFor(rt: PathwayRuntime, body: MapBody): MapContext {
  const assay = rt.assays.get(body.assay);
  if (assay === undefined) {
    throw new TnpError('TNP_ERR_CONSOLE_REQUEST_INVALID', `invalid map request: unknown assay "${body.assay}" (known: ${[...rt.assays.keys()].join(', ')})`, { expression: ['assay'] });
  }
  const file = rt.pathway.file;
  const coding = [...rt.codeMaps.assayByCoding.entries()].filter(([, v]) => v.assayId === assay.id).map(([k]) => k).sort()[0];
  if (coding === undefined) throw new TnpError('TNP_ERR_CONSOLE_REQUEST_INVALID', `invalid map request: assay "${assay.id}" has no coding to write a result with`, { expression: ['assay'] });
  const bar = coding.lastIndexOf('|');
  const ecgCode = file.inputs.ecg.codes[0];
  const ecgValue = file.inputs.ecg.values.find((v) => v.meaning === 'no-stemi-or-new-lbbb');
  const timiCode = file.inputs.timi?.codes[0];
  const intervalMinutes = file.settings.retestIntervalMinutes;
  if (file.classification === undefined || intervalMinutes === undefined) {
    throw new TnpError('TNP_ERR_CONSOLE_REQUEST_INVALID', `invalid map request: the map is drawn for a pathway with a baseline/retest classification; ${file.id} reads samples in timing windows`);
  }
  if (ecgCode === undefined || ecgValue === undefined || timiCode === undefined) {
    throw new TnpError('TNP_ERR_CONSOLE_REQUEST_INVALID', 'invalid map request: the pathway file names no ECG or TIMI code to write a case with');
  }
  const ep: Episode = {
    assayCoding: { system: coding.slice(0, bar), code: coding.slice(bar + 1) },
    timi: body.timi,
    sex: body.sex,
    intervalMinutes,
    ecg: ecgCode,
    ecgValue: { system: ecgValue.system, code: ecgValue.code },
    timiCode,
  };
  const { url } = urlFor(assay, rt.sexSpecificUrls, body.sex ?? null);
  const entered = new Big(String(body.baseline));
  const effective = entered.lt(assay.lod) ? assay.lod : entered;
  const pct = rt.pathway.changeThresholdPercent;
  return {
    rt,
    body,
    assay,
    ep,
    url,
    effective,
    pct,
    fall: effective.times(new Big(100).minus(pct)).div(100),
    rise: effective.times(new Big(100).plus(pct)).div(100),
    now: iso(T0_MS + (ep.intervalMinutes + 10) * 60_000),
    baselineText: text6(entered),
    gMax: new Big(niceCeil(Math.max(2.5 * url.toNumber(), 1.25 * effective.toNumber(), 4 * assay.lod.toNumber()))),
  };
}

/** Evaluates points one after another, yielding to the event loop every few, and counts them. */
class Evaluator {
  count = 0;
  constructor(private readonly ctx: MapContext) {}

  async outcome(b: string, r: string | null): Promise<OutcomeCode> {
    this.count += 1;
    if (this.count % EVALUATIONS_PER_SLICE === 0) await yieldToLoop();
    const d = await decideResources(this.ctx.rt, resourcesFor(this.ctx.ep, b, r), { now: this.ctx.now, patientId: MAP_PATIENT });
    return d.outcome;
  }
}

type Sweep = MapResponse['retest'];
type Grid = MapResponse['grid'];

/** Outcome over the retest value: a uniform sweep plus every boundary and its close neighbours. */
async function computeSweep(ctx: MapContext, ev: Evaluator): Promise<Sweep> {
  const { url, rise, assay, effective, fall } = ctx;
  const rMax = new Big(niceCeil(Math.max(2 * url.toNumber(), 1.5 * rise.toNumber(), 4 * assay.lod.toNumber())));
  const step = rMax.div(RETEST_SAMPLES);
  const eps = step.div(50);
  const values = new Map<string, Big>();
  const add = (x: Big): void => {
    if (x.gte(0) && x.lte(rMax)) values.set(text6(x), new Big(text6(x)));
  };
  for (let i = 0; i <= RETEST_SAMPLES; i++) add(step.times(i));
  for (const x of [assay.lod, url, effective, fall, rise]) {
    add(x);
    add(x.minus(eps));
    add(x.plus(eps));
  }
  const sorted = [...values.values()].sort((a, b) => a.cmp(b));
  const samples: { value: string; outcome: OutcomeCode }[] = [];
  for (const v of sorted) samples.push({ value: text6(v), outcome: await ev.outcome(ctx.baselineText, text6(v)) });
  return { max: rMax.toFixed(), samples };
}

/** The heat map: cell centres of a square grid (same scale on both axes, so the change lines are rays). */
async function computeGrid(ctx: MapContext, ev: Evaluator): Promise<Grid> {
  const gStep = ctx.gMax.div(GRID_CELLS);
  const centres = Array.from({ length: GRID_CELLS }, (_, i) => text6(gStep.times(i + 0.5)));
  const outcomes: OutcomeCode[][] = [];
  for (const b of centres) {
    const row: OutcomeCode[] = [];
    for (const r of centres) row.push(await ev.outcome(b, r));
    outcomes.push(row);
  }
  return { max: ctx.gMax.toFixed(), step: text6(gStep), baselines: centres, retests: centres, outcomes };
}

function responseOf(ctx: MapContext, retest: Sweep, grid: Grid): MapResponse {
  const { assay, url, effective, fall, rise, body } = ctx;
  return {
    assay: { id: assay.id, name: assay.name, lod: assay.lod.toFixed() },
    url: url.toFixed(),
    baseline: ctx.baselineText,
    timi: body.timi,
    sex: body.sex ?? null,
    thresholdPercent: ctx.pct.toFixed(),
    retestIntervalMinutes: ctx.ep.intervalMinutes,
    lines: { url: url.toFixed(), lod: assay.lod.toFixed(), baseline: text6(effective), fall: text6(fall), rise: text6(rise) },
    retest,
    grid,
    evaluations: retest.samples.length + grid.outcomes.length * grid.outcomes.length,
  };
}

/** Compute a map with the real engine, uncached. Throws TNP_ERR_CONSOLE_REQUEST_INVALID for an unknown assay. */
export async function computeMap(rt: PathwayRuntime, body: MapBody): Promise<MapResponse> {
  const ctx = contextFor(rt, body);
  const ev = new Evaluator(ctx);
  return responseOf(ctx, await computeSweep(ctx, ev), await computeGrid(ctx, ev));
}

export interface MapCacheOptions {
  /** Heat maps kept (default 64: each is 1,600 outcomes, about 20 kB). */
  readonly grids?: number;
  /** Retest sweeps kept (default 256: each about 255 samples, about 10 kB). */
  readonly sweeps?: number;
  /** Told the number of engine evaluations of each computation (metrics), and the cache sizes after it. */
  readonly onComputed?: (evaluations: number, size: { grids: number; sweeps: number }) => void;
}

/**
 * Maps with bounded cost: heat maps and retest sweeps in LRU caches of fixed size (they hold no patient
 * data, and the same inputs give the same map), computed one at a time.
 */
export class MapCache {
  private readonly grids: LRUCache<string, Promise<Grid>>;
  private readonly sweeps: LRUCache<string, Promise<Sweep>>;
  private queue: Promise<unknown> = Promise.resolve();
  /** How many heat maps and sweeps were computed (cache misses). */
  readonly computed = { grids: 0, sweeps: 0 };

  constructor(private readonly opts: MapCacheOptions = {}) {
    this.grids = new LRUCache({ max: opts.grids ?? 64 });
    this.sweeps = new LRUCache({ max: opts.sweeps ?? 256 });
  }

  get size(): { grids: number; sweeps: number } {
    return { grids: this.grids.size, sweeps: this.sweeps.size };
  }

  /** Runs computations one at a time, in order of arrival. */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private cached<T>(cache: LRUCache<string, Promise<T>>, key: string, kind: 'grids' | 'sweeps', compute: (ev: Evaluator) => Promise<T>, ctx: MapContext): Promise<T> {
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const p = this.serial(async () => {
      const ev = new Evaluator(ctx);
      const out = await compute(ev);
      this.computed[kind] += 1;
      this.opts.onComputed?.(ev.count, this.size);
      return out;
    });
    cache.set(key, p);
    p.catch(() => cache.delete(key));
    return p;
  }

  async get(rt: PathwayRuntime, body: MapBody): Promise<MapResponse> {
    const ctx = contextFor(rt, body);
    const sex = body.sex ?? null;
    const sweep = this.cached(this.sweeps, JSON.stringify([ctx.assay.id, ctx.baselineText, body.timi, sex]), 'sweeps', (ev) => computeSweep(ctx, ev), ctx);
    const grid = this.cached(this.grids, JSON.stringify([ctx.assay.id, body.timi, sex, ctx.gMax.toFixed()]), 'grids', (ev) => computeGrid(ctx, ev), ctx);
    return responseOf(ctx, await sweep, await grid);
  }
}
