/**
 * `npm run bench`: the cost of one evaluation (FHIR mapping plus the engine) for every pathway file in
 * pathways/ (new files show up by themselves), next to a bare json-rules-engine run of the pathway's own
 * edge conditions in the same process (the anchor), printed as a ratio; the cost at 1, 10, 1,000 and
 * 10,000 observations; how it grows with 1, 2, 5 and 20 troponin results; and, at 1,000 and 10,000
 * observations, per kind (rule 16: troponins at distinct times and at one time, ECGs, TIMI scores,
 * resources the pathway ignores). Episodes are written with the codes each pathway file and the
 * catalogue declare. Goals: ratio <= 3, growth no faster than linear; 1,000 observations under 10 ms and
 * 10,000 under 100 ms. Runs a fixed number of iterations and stops by itself.
 */
import { Engine } from 'json-rules-engine';
import type { FhirResource as Resource } from 'fhir/r4.js';
import { decide } from '../src/decide.js';
import type { PathwayRuntime } from '../src/engine/catalogue.js';
import { listPathwayFiles, loadCatalogue, loadPathway, runtimeFrom } from '../src/pathways/load.js';
import { loadSettings } from '../src/settings.js';

const T0 = Date.parse('2026-03-14T09:00:00Z');
const at = (m: number): string => new Date(T0 + m * 60_000).toISOString();

interface Codes {
  readonly ecg: { system: string; code: string };
  readonly ecgNone: { system: string; code: string };
  readonly timi: { system: string; code: string };
  readonly troponin: { system: string; code: string };
}

/** The codes an episode is written with: the pathway file's ECG and TIMI codes, the catalogue's first assay. */
function codesOf(rt: PathwayRuntime): Codes {
  const file = rt.pathway.file;
  const ecg = file.inputs.ecg.codes[0];
  const ecgNone = file.inputs.ecg.values.find((v) => v.meaning === 'no-stemi-or-new-lbbb');
  // A pathway that reads no TIMI score still gets the observation, as one it does not read (listed as ignored).
  const timi = file.inputs.timi === undefined ? { system: 'urn:hs-troponin-cds:bench', code: 'timi-not-read' } : file.inputs.timi.codes[0];
  const troponin = [...rt.codeMaps.assayByCoding.keys()].sort().find((k) => k.startsWith('http://loinc.org|'));
  if (ecg === undefined || ecgNone === undefined || timi === undefined || troponin === undefined) throw new Error(`pathway ${file.id} names no ECG, ECG value, TIMI or troponin code to write an episode with`);
  const bar = troponin.lastIndexOf('|');
  return { ecg, ecgNone: { system: ecgNone.system, code: ecgNone.code }, timi, troponin: { system: troponin.slice(0, bar), code: troponin.slice(bar + 1) } };
}

/** An ECG, a TIMI score and `troponins` results: the baseline, then one per 30 min from the retest time. */
function episode(c: Codes, retestMinutes: number, troponins: number): Resource[] {
  const rs: Resource[] = [
    { resourceType: 'Patient', id: 'p1', gender: 'female' },
    { resourceType: 'Observation', id: 'ecg', status: 'final', code: { coding: [c.ecg] }, effectiveDateTime: at(-10), valueCodeableConcept: { coding: [c.ecgNone] } },
    { resourceType: 'Observation', id: 'timi', status: 'final', code: { coding: [c.timi] }, effectiveDateTime: at(-5), valueInteger: 2 },
  ];
  for (let i = 0; i < troponins; i++) rs.push(troponin(c, `t${i}`, i === 0 ? 0 : retestMinutes + (i - 1) * 30, 10 + i, `R${i}`));
  return rs;
}

function troponin(c: Codes, id: string, minutes: number, value: number, identifier?: string): Resource {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    ...(identifier === undefined ? {} : { identifier: [{ system: 'http://lab.example.org/result-id', value: identifier }] }),
    code: { coding: [c.troponin] },
    effectiveDateTime: at(minutes),
    valueQuantity: { value, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
  };
}

type Kind = 'distinct' | 'one-time' | 'ecg' | 'timi' | 'ignored';
const KIND_TEXT: Record<Kind, string> = { distinct: 'troponins at distinct times', 'one-time': 'troponins drawn at one time', ecg: 'ECGs', timi: 'TIMI scores', ignored: 'ignored resources' };

/** Exactly `n` observations (n >= 1): an ECG, a TIMI score and troponins, then `kind` resources to make up n. */
function observations(c: Codes, retestMinutes: number, kind: Kind, n: number): Resource[] {
  if (n === 1) return [troponin(c, 't0', 0, 10)];
  const rs: Resource[] = episode(c, retestMinutes, Math.min(2, n - 2)).slice(1);
  for (let i = rs.length; i < n; i++) {
    const minutes = kind === 'one-time' ? 0 : (i * (retestMinutes + 10)) / n;
    if (kind === 'ecg') rs.push({ resourceType: 'Observation', id: `e${i}`, status: 'final', code: { coding: [c.ecg] }, effectiveDateTime: at(-10 - (i % 100)), valueCodeableConcept: { coding: [c.ecgNone] } });
    else if (kind === 'timi') rs.push({ resourceType: 'Observation', id: `s${i}`, status: 'final', code: { coding: [c.timi] }, effectiveDateTime: at(-5 - (i % 100)), valueInteger: i % 8 });
    else if (kind === 'ignored') rs.push({ resourceType: 'Condition', id: `c${i}`, subject: { reference: 'Patient/p1' } });
    else rs.push(troponin(c, `n${i}`, minutes, 10 + i / 10000));
  }
  return rs;
}

async function timePerOp(label: string, iterations: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(500, iterations); i++) await fn(); // warm up
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    rounds.push(Number(process.hrtime.bigint() - start) / 1000 / iterations);
  }
  rounds.sort((a, b) => a - b);
  const median = rounds[2] ?? 0;
  console.log(`  ${label.padEnd(58)} ${median.toFixed(1).padStart(8)} µs/op  ${Math.round(1e6 / median).toLocaleString('en-GB').padStart(8)} ops/s`);
  return median;
}

async function benchPathway(id: string): Promise<void> {
  const pathway = await loadPathway(id);
  const rt = runtimeFrom(pathway, loadCatalogue(), loadSettings({ object: {} }));
  const c = codesOf(rt);
  // The second sample: Chart 2's retest interval, or the nominal time of a serial pathway's first window.
  const retest = pathway.file.settings.retestIntervalMinutes ?? pathway.file.settings.windows?.[0]?.nominalMinutes ?? 180;
  const now = at(retest + 20);
  const check = await decide(rt, episode(c, retest, 2), { now });
  console.log(`\npathway ${pathway.id} ${pathway.version} (sha256 ${pathway.sha256.slice(0, 12)}…); episode outcome: ${check.outcome}`);

  // The anchor: the pathway's Engine built once, one run with the facts the 2-troponin episode derives.
  const facts: Record<string, unknown> = {};
  for (const step of check.trace) for (const [k, v] of Object.entries(step.facts ?? {})) if (pathway.graphFacts.has(k as never)) facts[k] = v;
  console.log('anchor and full evaluation:');
  const prebuilt = new Engine([...pathway.edgeRules], { allowUndefinedFacts: true });
  const bare = await timePerOp(`bare json-rules-engine run of the pathway's ${pathway.edgeRules.length} edge rules`, 3000, () => prebuilt.run(facts));
  const resources2 = episode(c, retest, 2);
  const full = await timePerOp('full evaluation: FHIR mapping + engine (ECG, TIMI, 2 troponins)', 3000, () => decide(rt, resources2, { now }));
  const ratio = full / bare;
  console.log(`ratio full / bare: ${ratio.toFixed(2)} (goal <= 3.00): ${ratio <= 3 ? 'met' : 'NOT MET'}`);

  console.log('cost by the number of observations (ECG, TIMI and troponins at distinct times):');
  for (const n of [1, 10, 1000, 10000]) {
    const rs = observations(c, retest, 'distinct', n);
    const us = await timePerOp(`${n.toLocaleString('en-GB')} observation${n > 1 ? 's' : ''}`, n >= 10000 ? 3 : n >= 1000 ? 20 : 2000, () => decide(rt, rs, { now }));
    if (n >= 1000) {
      const goal = n >= 10000 ? 100_000 : 10_000;
      console.log(`    ${(us / 1000).toFixed(1)} ms (goal < ${goal / 1000} ms): ${us < goal ? 'met' : 'NOT MET'}`);
    }
  }

  console.log('growth with the number of troponin results:');
  const costs = new Map<number, number>();
  for (const n of [1, 2, 5, 20]) {
    const rs = episode(c, retest, n);
    costs.set(n, await timePerOp(`${n} troponin result${n > 1 ? 's' : ''}`, n >= 20 ? 1000 : 2000, () => decide(rt, rs, { now: at(retest + 20 + n * 30) })));
  }
  const c1 = costs.get(1) ?? 1;
  const c5 = costs.get(5) ?? 1;
  const c20 = costs.get(20) ?? 1;
  console.log(`marginal cost per added result (5 -> 20): ${((c20 - c5) / 15).toFixed(1)} µs`);
  console.log(`cost(20)/cost(5) = ${(c20 / c5).toFixed(2)} for 4x the results; cost(5)/cost(1) = ${(c5 / c1).toFixed(2)} for 5x: ${c20 / c5 <= 4 && c5 / c1 <= 5 ? 'no faster than linear' : 'FASTER THAN LINEAR'}`);

  console.log('large inputs by kind (rule 16 bounds; goal: 1,000 observations under 10 ms, 10,000 under 100 ms):');
  for (const n of [1000, 10000]) {
    for (const kind of ['distinct', 'one-time', 'ecg', 'timi', 'ignored'] as const) {
      const rs = observations(c, retest, kind, n);
      const us = await timePerOp(`${n.toLocaleString('en-GB')} observations, mostly ${KIND_TEXT[kind]}`, n >= 10000 ? 3 : 20, () => decide(rt, rs, { now }));
      const goal = n >= 10000 ? 100_000 : 10_000;
      console.log(`    ${(us / 1000).toFixed(1)} ms (goal < ${goal / 1000} ms): ${us < goal ? 'met' : 'NOT MET'}`);
    }
  }
}

const ids = listPathwayFiles().map((f) => f.replace(/\.json$/, ''));
console.log(`hs-troponin-cds benchmark (Node ${process.version}); pathways: ${ids.join(', ')}`);
for (const id of ids) {
  try {
    await benchPathway(id);
  } catch (e) {
    console.log(`\npathway ${id}: not benchmarked: ${(e as Error).message}`);
  }
}
