/**
 * The scenario library: every fixture of fhir-fixtures/ with its expected outcome, and the outcome the
 * engine gives for it now, live. Fixtures are evaluated with the pathway the service runs, the shipped
 * assay catalogue and the default site settings, plus each fixture's own settings (fhir-fixtures/README.md).
 */
import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { decide } from '../decide.js';
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Decision } from '../engine/types.js';
import { TnpError } from '../errors.js';
import { loadCatalogue, runtimeFrom } from '../pathways/load.js';
import { loadSettings } from '../settings.js';
import type { ExpectedView, FixtureResponse, FixtureSummary, OutcomeCode } from './web/api-types.js';

/** fhir-fixtures/ at the root of the project, from src/ under tests and from dist/ in production. */
export const FIXTURES_DIR = fileURLToPath(new URL('../../fhir-fixtures/', import.meta.url));

/** A fixture name: letters, digits, hyphens and dots (e.g. `hs-single-4.9-ngml`); never a slash, so it stays in the folder. */
const NAME = /^[a-z0-9][a-z0-9.-]*$/;

export interface FixtureExpectation {
  readonly description: string;
  readonly rules: readonly string[];
  readonly now: string;
  readonly encounter?: string;
  readonly settings?: { readonly sexSpecificUrls?: boolean; readonly assays?: readonly unknown[] };
  readonly outcome: OutcomeCode;
  readonly missing: readonly string[];
  readonly retestDue?: string;
}

export const FIXTURE_BASIS = 'the pathway the service runs, the shipped assay catalogue and the default site settings, plus each fixture\'s own settings';

export class FixtureLibrary {
  private readonly runtimes = new Map<string, PathwayRuntime>();

  /** The fixtures of the pathway the service runs: fhir-fixtures/ for Chart 2, fhir-fixtures/<id>/ for the others. */
  readonly dir: string;

  constructor(
    private readonly runtime: PathwayRuntime,
    dir?: string,
  ) {
    this.dir = dir ?? (runtime.pathway.id === 'chart2' ? FIXTURES_DIR : join(FIXTURES_DIR, runtime.pathway.id));
  }

  /** The fixture names (files with a matching .expected.json), sorted. */
  async names(): Promise<string[]> {
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch {
      return [];
    }
    const set = new Set(files);
    return files
      .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json') && set.has(f.replace(/\.json$/, '.expected.json')))
      .map((f) => f.replace(/\.json$/, ''))
      .filter((n) => NAME.test(n))
      .sort();
  }

  private runtimeFor(settings: FixtureExpectation['settings']): PathwayRuntime {
    const sex = settings?.sexSpecificUrls ?? false;
    // A fixture's own site assays (an assay without cut-offs, fhir-fixtures/README.md) are its settings too.
    const object = { sexSpecificUrls: sex, ...(settings?.assays === undefined ? {} : { assays: settings.assays }) };
    const key = JSON.stringify(object);
    let rt = this.runtimes.get(key);
    if (rt === undefined) {
      rt = runtimeFrom(this.runtime.pathway, loadCatalogue(), loadSettings({ object }));
      this.runtimes.set(key, rt);
    }
    return rt;
  }

  private async read(name: string): Promise<{ bundle: unknown; expected: FixtureExpectation }> {
    if (!NAME.test(name) || !(await this.names()).includes(name)) {
      throw new TnpError('TNP_ERR_CONSOLE_FIXTURE_UNKNOWN', `no scenario fixture named "${name}"`);
    }
    const bundle = JSON.parse(await readFile(join(this.dir, `${name}.json`), 'utf8')) as unknown;
    const expected = JSON.parse(await readFile(join(this.dir, `${name}.expected.json`), 'utf8')) as FixtureExpectation;
    return { bundle, expected };
  }

  /** Evaluate one fixture as the fixture says (its time, encounter and settings). */
  async evaluate(name: string): Promise<{ bundle: unknown; expected: FixtureExpectation; decision: Decision; runtime: PathwayRuntime; summary: FixtureSummary }> {
    const { bundle, expected } = await this.read(name);
    const runtime = this.runtimeFor(expected.settings);
    const decision = await decide(runtime, bundle, { now: expected.now, encounterId: expected.encounter ?? null });
    return { bundle, expected, decision, runtime, summary: summarise(name, expected, decision) };
  }

  async list(): Promise<FixtureSummary[]> {
    const out: FixtureSummary[] = [];
    for (const name of await this.names()) {
      try {
        out.push((await this.evaluate(name)).summary);
      } catch (e) {
        // A fixture the engine refuses is a failing row, never a missing one.
        const { expected } = await this.read(name).catch(() => ({ expected: null }));
        out.push(brokenRow(name, expected, e));
      }
    }
    return out;
  }

  async one(name: string): Promise<FixtureResponse & { decision: Decision; runtime: PathwayRuntime }> {
    const r = await this.evaluate(name);
    return { ...r.summary, bundle: r.bundle, decision: r.decision, runtime: r.runtime };
  }
}

function expectedOf(x: FixtureExpectation): ExpectedView {
  return { outcome: x.outcome, missing: x.missing, ...(x.retestDue === undefined ? {} : { retestDue: x.retestDue }) };
}

export function summarise(name: string, expected: FixtureExpectation, d: Decision): FixtureSummary {
  const differences: string[] = [];
  if (d.outcome !== expected.outcome) differences.push(`outcome: expected ${expected.outcome}, got ${d.outcome}`);
  if (JSON.stringify(d.missing) !== JSON.stringify(expected.missing)) differences.push(`missing: expected [${expected.missing.join(', ')}], got [${d.missing.join(', ')}]`);
  if ((d.retestDue ?? null) !== (expected.retestDue ?? null)) differences.push(`retestDue: expected ${expected.retestDue ?? 'none'}, got ${d.retestDue ?? 'none'}`);
  return {
    name,
    description: expected.description,
    rules: expected.rules,
    now: expected.now,
    ...(expected.encounter === undefined ? {} : { encounter: expected.encounter }),
    ...(expected.settings === undefined ? {} : { settings: expected.settings }),
    expected: expectedOf(expected),
    actual: { outcome: d.outcome, missing: d.missing, ...(d.retestDue === undefined ? {} : { retestDue: d.retestDue }), indicator: d.indicator, summary: d.summary },
    pass: differences.length === 0,
    differences,
  };
}

function brokenRow(name: string, expected: FixtureExpectation | null, e: unknown): FixtureSummary {
  const why = e instanceof Error ? e.message : String(e);
  const exp: ExpectedView = expected === null ? { outcome: 'needs-input', missing: [] } : expectedOf(expected);
  return {
    name,
    description: expected?.description ?? '(the fixture cannot be read)',
    rules: expected?.rules ?? [],
    now: expected?.now ?? '',
    expected: exp,
    actual: null,
    pass: false,
    differences: [`not evaluated: ${why}`],
  };
}
