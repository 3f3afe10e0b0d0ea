/**
 * The map of the pathway: for one assay, baseline value and TIMI score, the outcome over every retest
 * value, and a baseline x retest heat map. Every point is a real evaluation: synthetic FHIR resources
 * (an ECG without ST-elevation, the TIMI score, the baseline, a retest at the retest interval) go through
 * decideResources, the same code the CDS service runs, so the map shows exactly what runs.
 */
import { Big } from 'big.js';
import type { Resource } from 'fhir/r4.js';
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
  if (ep.sex !== undefined) out.push({ resourceType: 'Patient', id: 'map-patient', gender: ep.sex } as Resource);
  return out;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Compute the map with the real engine. Throws TNP_ERR_CONSOLE_REQUEST_INVALID for an unknown assay. */
export async function computeMap(rt: PathwayRuntime, body: MapBody): Promise<MapResponse> {
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
  const timiCode = file.inputs.timi.codes[0];
  if (ecgCode === undefined || ecgValue === undefined || timiCode === undefined) {
    throw new TnpError('TNP_ERR_CONSOLE_REQUEST_INVALID', 'invalid map request: the pathway file names no ECG or TIMI code to write a case with');
  }
  const ep: Episode = {
    assayCoding: { system: coding.slice(0, bar), code: coding.slice(bar + 1) },
    timi: body.timi,
    sex: body.sex,
    intervalMinutes: file.settings.retestIntervalMinutes,
    ecg: ecgCode,
    ecgValue: { system: ecgValue.system, code: ecgValue.code },
    timiCode,
  };
  const sex = body.sex ?? null;
  const { url } = urlFor(assay, rt.sexSpecificUrls, sex);
  const entered = new Big(String(body.baseline));
  const effective = entered.lt(assay.lod) ? assay.lod : entered;
  const pct = rt.pathway.changeThresholdPercent;
  const fall = effective.times(new Big(100).minus(pct)).div(100);
  const rise = effective.times(new Big(100).plus(pct)).div(100);
  const now = iso(T0_MS + (ep.intervalMinutes + 10) * 60_000);
  const baselineText = text6(entered);

  let evaluations = 0;
  const outcomeOf = async (b: string, r: string | null): Promise<OutcomeCode> => {
    evaluations += 1;
    if (evaluations % 200 === 0) await yieldToLoop();
    const d = await decideResources(rt, resourcesFor(ep, b, r), { now });
    return d.outcome;
  };

  // Outcome over the retest value: a uniform sweep plus every boundary and its close neighbours.
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
  for (const v of sorted) samples.push({ value: text6(v), outcome: await outcomeOf(baselineText, text6(v)) });

  // The heat map: cell centres of a square grid (same scale on both axes, so the change lines are rays).
  const gMax = new Big(niceCeil(Math.max(2.5 * url.toNumber(), 1.25 * effective.toNumber(), 4 * assay.lod.toNumber())));
  const gStep = gMax.div(GRID_CELLS);
  const centres = Array.from({ length: GRID_CELLS }, (_, i) => text6(gStep.times(i + 0.5)));
  const outcomes: OutcomeCode[][] = [];
  for (const b of centres) {
    const row: OutcomeCode[] = [];
    for (const r of centres) row.push(await outcomeOf(b, r));
    outcomes.push(row);
  }

  return {
    assay: { id: assay.id, name: assay.name, lod: assay.lod.toFixed() },
    url: url.toFixed(),
    baseline: baselineText,
    timi: body.timi,
    sex,
    thresholdPercent: pct.toFixed(),
    retestIntervalMinutes: ep.intervalMinutes,
    lines: { url: url.toFixed(), lod: assay.lod.toFixed(), baseline: text6(effective), fall: text6(fall), rise: text6(rise) },
    retest: { max: rMax.toFixed(), samples },
    grid: { max: gMax.toFixed(), step: text6(gStep), baselines: centres, retests: centres, outcomes },
    evaluations,
  };
}

/** A small cache of computed maps: they hold no patient data, and the same inputs give the same map. */
export class MapCache {
  private readonly entries = new Map<string, Promise<MapResponse>>();
  constructor(private readonly max = 32) {}

  get(rt: PathwayRuntime, body: MapBody): Promise<MapResponse> {
    const key = JSON.stringify([body.assay, String(body.baseline), body.timi, body.sex ?? null]);
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const p = computeMap(rt, body);
    p.catch(() => this.entries.delete(key));
    this.entries.set(key, p);
    while (this.entries.size > this.max) {
      const first = this.entries.keys().next();
      if (first.done === true) break;
      this.entries.delete(first.value);
    }
    return p;
  }
}
