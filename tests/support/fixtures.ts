/**
 * The clinical fixtures in fhir-fixtures/: each `<name>.json` Bundle with its `<name>.expected.json`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES_DIR = fileURLToPath(new URL('../../fhir-fixtures/', import.meta.url));

export interface Expected {
  description: string;
  rules: string[];
  now: string;
  encounter?: string;
  settings?: Record<string, unknown>;
  outcome: string;
  missing: string[];
  retestDue?: string;
}

export interface Fixture {
  name: string;
  path: string;
  expected: Expected;
  doc: unknown;
}

export function fixtureNames(): string[] {
  return readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith('.expected.json'))
    .map((f) => f.replace(/\.expected\.json$/, ''))
    .sort();
}

export function loadFixture(name: string): Fixture {
  const path = join(FIXTURES_DIR, `${name}.json`);
  return {
    name,
    path,
    expected: JSON.parse(readFileSync(join(FIXTURES_DIR, `${name}.expected.json`), 'utf8')) as Expected,
    doc: JSON.parse(readFileSync(path, 'utf8')) as unknown,
  };
}

export function allFixtures(): Fixture[] {
  return fixtureNames().map(loadFixture);
}
