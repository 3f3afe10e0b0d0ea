/**
 * Profiles the large-input cases of `npm run bench` (rule 16) for one pathway, without the rest of the
 * bench: `node --cpu-prof --cpu-prof-dir=<dir> --import tsx bench/engine-profile.ts [pathway] [kind] [n]
 * [rounds]`, then `npx tsx bench/profile-summary.ts <dir>`. Kinds: distinct (default), one-time, ecg, timi,
 * ignored; n defaults to 10,000. Prints the median wall-clock time of the rounds and the median CPU time of
 * this process (`process.cpuUsage()`), which a loaded machine disturbs less.
 */
import type { FhirResource as Resource } from 'fhir/r4.js';
import { decide } from '../src/decide.js';
import { loadCatalogue, loadPathway, runtimeFrom } from '../src/pathways/load.js';
import { loadSettings } from '../src/settings.js';

const [id = 'chart2', kind = 'distinct', nText = '10000', roundsText = '20'] = process.argv.slice(2);
const n = Number(nText);
const rounds = Number(roundsText);
const T0 = Date.parse('2026-03-14T09:00:00Z');
const at = (m: number): string => new Date(T0 + m * 60_000).toISOString();

const pathway = await loadPathway(id);
const rt = runtimeFrom(pathway, loadCatalogue(), loadSettings({ object: {} }));
const file = pathway.file;
const ecg = file.inputs.ecg.codes[0];
const ecgNone = file.inputs.ecg.values.find((v) => v.meaning === 'no-stemi-or-new-lbbb');
const timi = file.inputs.timi?.codes[0] ?? { system: 'urn:hs-troponin-cds:bench', code: 'timi-not-read' };
const tropKey = [...rt.codeMaps.assayByCoding.keys()].sort().find((k) => k.startsWith('http://loinc.org|'));
if (ecg === undefined || ecgNone === undefined || tropKey === undefined) throw new Error(`pathway ${id}: no codes to write an episode with`);
const trop = { system: tropKey.slice(0, tropKey.lastIndexOf('|')), code: tropKey.slice(tropKey.lastIndexOf('|') + 1) };
const retest = file.settings.retestIntervalMinutes ?? file.settings.windows?.[0]?.nominalMinutes ?? 180;
const troponin = (rid: string, minutes: number, value: number): Resource => ({
  resourceType: 'Observation',
  id: rid,
  status: 'final',
  code: { coding: [trop] },
  effectiveDateTime: at(minutes),
  valueQuantity: { value, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
});
const rs: Resource[] = [
  { resourceType: 'Observation', id: 'ecg', status: 'final', code: { coding: [ecg] }, effectiveDateTime: at(-10), valueCodeableConcept: { coding: [{ system: ecgNone.system, code: ecgNone.code }] } },
  { resourceType: 'Observation', id: 'timi', status: 'final', code: { coding: [timi] }, effectiveDateTime: at(-5), valueInteger: 2 },
  troponin('t0', 0, 10),
  troponin('t1', retest, 11),
];
for (let i = rs.length; i < n; i++) {
  if (kind === 'ecg') rs.push({ resourceType: 'Observation', id: `e${i}`, status: 'final', code: { coding: [ecg] }, effectiveDateTime: at(-10 - (i % 100)), valueCodeableConcept: { coding: [{ system: ecgNone.system, code: ecgNone.code }] } });
  else if (kind === 'timi') rs.push({ resourceType: 'Observation', id: `s${i}`, status: 'final', code: { coding: [timi] }, effectiveDateTime: at(-5 - (i % 100)), valueInteger: i % 8 });
  else if (kind === 'ignored') rs.push({ resourceType: 'Condition', id: `c${i}`, subject: { reference: 'Patient/p1' } });
  else rs.push(troponin(`n${i}`, kind === 'one-time' ? 0 : (i * (retest + 10)) / n, 10 + i / 10000));
}
const now = at(retest + 20);
const times: number[] = [];
const cpu: number[] = [];
for (let r = 0; r < rounds; r++) {
  const start = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  await decide(rt, rs, { now });
  const c = process.cpuUsage(c0);
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
  cpu.push((c.user + c.system) / 1000);
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
console.log(`${id}: ${n} observations, mostly ${kind}: median ${median(times).toFixed(2)} ms wall, ${median(cpu).toFixed(2)} ms CPU over ${rounds} rounds`);
