/**
 * The pathway fixture folders of fhir-fixtures/ (one per pathway id, e.g. `esc-0h1h/`): each holds the
 * worked vignettes of its contract as `<vignette id>.json` Bundles with `<vignette id>.expected.json`, and
 * `vignettes.json`, the list of the contract's vignettes the folder must cover (fhir-fixtures/README.md).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES_DIR, type Expected } from './fixtures.js';

export interface PathwayExpected extends Expected {
  pathway?: string;
  vignette?: { spec: string; specVersion: string; section: string; number: number; id: string };
  onset?: { time: string | null; basis: 'recorded' | 'period-end' | 'unknown' };
  threshold?: { url99: string; basis: 'female' | 'male' | 'sex-unknown' };
}

export interface VignetteTroponin {
  minutes: number;
  assay: string;
  value: string;
  comparator?: string;
  unit: string;
  status?: string;
}

export interface VignetteRecord {
  number: number;
  id: string;
  outcome: string;
  rules: string[];
  evaluatedAtMinutes: number;
  retestDueMinutes: number | null;
  troponins: VignetteTroponin[];
}

export interface VignetteList {
  description: string;
  pathway: string;
  spec: string;
  specVersion: string;
  section: string;
  specVignetteCount: number;
  zeroHourDraw: string;
  assays: Record<string, { system: string; code: string }>;
  vignettes: VignetteRecord[];
}

export interface PathwayFixture {
  name: string;
  dir: string;
  expected: PathwayExpected;
  doc: unknown;
}

/** The pathway folders: every directory under fhir-fixtures/. */
export function pathwayFolders(): string[] {
  return readdirSync(FIXTURES_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

export function folderDir(folder: string | null): string {
  return folder === null ? FIXTURES_DIR : join(FIXTURES_DIR, folder);
}

/** The names of the fixtures of a folder (null: the top-level Chart 2 fixtures). */
export function folderFixtureNames(folder: string | null): string[] {
  return readdirSync(folderDir(folder))
    .filter((f) => f.endsWith('.expected.json'))
    .map((f) => f.slice(0, -'.expected.json'.length))
    .sort();
}

/** The Bundles of a folder: every `.json` that is neither an expected file nor the vignette list. */
export function folderBundleNames(folder: string | null): string[] {
  return readdirSync(folderDir(folder))
    .filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json') && f !== 'vignettes.json')
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

export function loadPathwayFixture(folder: string | null, name: string): PathwayFixture {
  const dir = folderDir(folder);
  return {
    name,
    dir,
    expected: JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as PathwayExpected,
    doc: JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as unknown,
  };
}

export function loadVignetteList(folder: string): VignetteList | null {
  const path = join(FIXTURES_DIR, folder, 'vignettes.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as VignetteList) : null;
}
