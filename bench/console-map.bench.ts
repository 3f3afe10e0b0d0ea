/**
 * `npm run bench:map`: the CPU time of one console map (POST /console/api/map), measured with
 * process.cpuUsage around the map alone, three ways: computed whole, as every request did before the
 * caches (the retest sweep and the 40 x 40 heat map: about 1,855 engine evaluations); a new baseline
 * whose heat map is cached (the sweep only, about 255 evaluations); and a map asked for again (cached).
 * Runs a fixed number of maps and stops by itself. Results: docs/console.md, "Limits".
 */
import { computeMap, MapCache } from '../src/console/map.js';
import { loadRuntime } from '../src/pathways/load.js';
import { loadSettings } from '../src/settings.js';

const rt = await loadRuntime(loadSettings({ object: {} }));
const assay = 'roche-elecsys-hs-tnt';

async function cpuMs(label: string, runs: number, fn: (i: number) => Promise<{ evaluations: number }>): Promise<void> {
  await fn(-1); // warm up
  const t0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) await fn(i);
  const t = process.cpuUsage(t0);
  const ms = (t.user + t.system) / 1000 / runs;
  console.log(`${label.padEnd(44)} ${ms.toFixed(1).padStart(7)} ms CPU per map (${runs} maps)`);
}

await cpuMs('whole map, uncached (before)', 10, (i) => computeMap(rt, { assay, baseline: String(11 + i / 10), timi: 2 }));
const cache = new MapCache();
let computed = 0;
await cpuMs('new baseline, heat map cached (after)', 40, async (i) => {
  const m = await cache.get(rt, { assay, baseline: String(1 + (i + 2) / 4), timi: 2 });
  computed = cache.computed.grids;
  return m;
});
await cpuMs('the same map again (after)', 1000, () => cache.get(rt, { assay, baseline: '2', timi: 2 }));
console.log(`heat maps computed for 41 baselines under 2 URL: ${computed}`);
