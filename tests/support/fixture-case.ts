/**
 * A clinical fixture as a CDS call needs it: the patient id, the Observations for the prefetch and the
 * evaluation time the fixture expects.
 */
import { loadFixture } from './fixtures.js';

export interface FixtureCase {
  readonly patientId: string;
  readonly observations: Record<string, unknown>[];
  /** The evaluation time of the fixture (ISO). */
  readonly now: string;
}

export function fixtureCase(name: string): FixtureCase {
  const f = loadFixture(name);
  const resources = (f.doc as { entry: { resource: Record<string, unknown> }[] }).entry.map((e) => e.resource);
  const patient = resources.find((r) => r['resourceType'] === 'Patient');
  if (patient === undefined || typeof patient['id'] !== 'string') throw new Error(`fixture ${name} has no Patient with an id`);
  return { patientId: patient['id'], observations: resources.filter((r) => r['resourceType'] === 'Observation'), now: f.expected.now };
}
