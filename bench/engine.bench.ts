/**
 * `npm run bench`: evaluations per second of the FHIR mapping plus the engine on an episode of an ECG,
 * a TIMI score, a baseline and a 3-hour troponin, next to a bare json-rules-engine run of the
 * pathway's conditions in the same process (the anchor), printed as a ratio; and how the cost grows
 * with 1, 2, 5 and 20 troponin results, and with 1,000 and 10,000 observations (rule 16: troponins at
 * distinct times and at one time, ECGs, TIMI scores, resources the pathway ignores). Goals: ratio <= 3,
 * growth no faster than linear; 1,000 observations under 10 ms and 10,000 under 100 ms.
 * Runs a fixed number of iterations and stops by itself.
 */
import { Engine } from 'json-rules-engine';
import type { FhirResource as Resource } from 'fhir/r4.js';
import { decide } from '../src/decide.js';
import { loadCatalogue, loadPathway, runtimeFrom } from '../src/pathways/load.js';
import { loadSettings } from '../src/settings.js';

const T0 = Date.parse('2026-03-14T09:00:00Z');
const at = (m: number): string => new Date(T0 + m * 60_000).toISOString();
const PRODUCT = 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain';

function episode(troponins: number): Resource[] {
  const rs: Resource[] = [
    { resourceType: 'Patient', id: 'p1', gender: 'female' },
    { resourceType: 'Observation', id: 'ecg', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8601-7' }] }, effectiveDateTime: at(-10), valueCodeableConcept: { coding: [{ system: PRODUCT, code: 'no-stemi-or-new-lbbb' }] } },
    { resourceType: 'Observation', id: 'timi', status: 'final', code: { coding: [{ system: PRODUCT, code: 'timi-risk-score' }] }, effectiveDateTime: at(-5), valueInteger: 2 },
  ];
  for (let i = 0; i < troponins; i++) {
    const minutes = i === 0 ? 0 : 180 + (i - 1) * 30;
    rs.push({
      resourceType: 'Observation',
      id: `t${i}`,
      status: 'final',
      identifier: [{ system: 'http://lab.example.org/result-id', value: `R${i}` }],
      code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] },
      effectiveDateTime: at(minutes),
      valueQuantity: { value: 10 + i, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
    });
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

const pathway = await loadPathway('chart2');
const rt = runtimeFrom(pathway, loadCatalogue(), loadSettings({ object: {} }));
const now = at(200);

// The anchor: a bare json-rules-engine run of the pathway's own conditions with the same facts the
// evaluation derives for the 4-observation episode (a fresh Engine per run, as the evaluation does).
const facts = { ecgFinding: 'no-stemi-or-new-lbbb', raisedMarker: false, timiScore: 2, baselinePosition: 'below', troponinReading: 'not-consistent-with-mi' };
const check = await decide(rt, episode(2), { now });
console.log(`hs-troponin-cds benchmark (Node ${process.version}); episode outcome: ${check.outcome}`);
console.log('anchor and full evaluation:');
// The anchor, as the evaluation runs it: the pathway's Engine built once, one run with the facts.
const prebuilt = new Engine([...pathway.edgeRules], { allowUndefinedFacts: true });
const bare = await timePerOp(`bare json-rules-engine run of the pathway's ${pathway.edgeRules.length} edge rules`, 3000, () => prebuilt.run(facts));
await timePerOp(`  (for reference: the same, Engine built for every run)`, 2000, () => new Engine([...pathway.edgeRules], { allowUndefinedFacts: true }).run(facts));
await timePerOp(`  (for reference: a run of 6 of those rules, Engine built per run)`, 2000, () => new Engine(pathway.edgeRules.slice(1, 7), { allowUndefinedFacts: true }).run(facts));
const resources2 = episode(2);
const full = await timePerOp('full evaluation: FHIR mapping + engine (ECG, TIMI, 2 troponins)', 3000, () => decide(rt, resources2, { now }));
const ratio = full / bare;
console.log(`ratio full / bare: ${ratio.toFixed(2)} (goal <= 3.00): ${ratio <= 3 ? 'met' : 'NOT MET'}`);

console.log('growth with the number of troponin results:');
const costs = new Map<number, number>();
for (const n of [1, 2, 5, 20]) {
  const rs = episode(n);
  costs.set(n, await timePerOp(`${n} troponin result${n > 1 ? 's' : ''}`, n >= 20 ? 1000 : 2000, () => decide(rt, rs, { now: at(200 + n * 30) })));
}
const c1 = costs.get(1) ?? 1;
const c5 = costs.get(5) ?? 1;
const c20 = costs.get(20) ?? 1;
console.log(`marginal cost per added result (5 -> 20): ${((c20 - c5) / 15).toFixed(1)} µs`);
console.log(`cost(20)/cost(5) = ${(c20 / c5).toFixed(2)} for 4x the results; cost(5)/cost(1) = ${(c5 / c1).toFixed(2)} for 5x: ${c20 / c5 <= 4 && c5 / c1 <= 5 ? 'no faster than linear' : 'FASTER THAN LINEAR'}`);

console.log('large inputs (rule 16 bounds; goal: 1,000 observations under 10 ms, 10,000 under 100 ms):');
const PRODUCT_ECG = { system: 'http://loinc.org', code: '8601-7' };
function large(kind: 'distinct' | 'one-time' | 'ecg' | 'timi' | 'ignored', n: number): Resource[] {
  const rs = episode(2);
  for (let i = 0; i < n; i++) {
    const minutes = kind === 'one-time' ? 0 : (i * 190) / n;
    if (kind === 'ecg') rs.push({ resourceType: 'Observation', id: `e${i}`, status: 'final', code: { coding: [PRODUCT_ECG] }, effectiveDateTime: at(-10 - (i % 100)), valueCodeableConcept: { coding: [{ system: PRODUCT, code: 'no-stemi-or-new-lbbb' }] } });
    else if (kind === 'timi') rs.push({ resourceType: 'Observation', id: `s${i}`, status: 'final', code: { coding: [{ system: PRODUCT, code: 'timi-risk-score' }] }, effectiveDateTime: at(-5 - (i % 100)), valueInteger: i % 8 });
    else if (kind === 'ignored') rs.push({ resourceType: 'Condition', id: `c${i}`, subject: { reference: 'Patient/p1' } });
    else rs.push({ resourceType: 'Observation', id: `n${i}`, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] }, effectiveDateTime: at(minutes), valueQuantity: { value: 10 + i / 10000, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' } });
  }
  return rs;
}
for (const n of [1000, 10000]) {
  for (const kind of ['distinct', 'one-time', 'ecg', 'timi', 'ignored'] as const) {
    const rs = large(kind, n);
    const us = await timePerOp(`${n.toLocaleString('en-GB')} ${kind === 'distinct' ? 'troponins at distinct times' : kind === 'one-time' ? 'troponins drawn at one time' : kind === 'ecg' ? 'ECGs' : kind === 'timi' ? 'TIMI scores' : 'ignored resources'}`, n >= 10000 ? 3 : 20, () => decide(rt, rs, { now: at(200) }));
    const goal = n >= 10000 ? 100_000 : 10_000;
    console.log(`    ${(us / 1000).toFixed(1)} ms (goal < ${goal / 1000} ms): ${us < goal ? 'met' : 'NOT MET'}`);
  }
}
