/**
 * Building real FHIR R4 resources for clinical cases in tests, and running them through the real
 * mapping and engine. Times are written relative to a fixed baseline so that cases read like the chart.
 */
import type { Bundle, Observation, Patient, Resource } from 'fhir/r4.js';
import { loadCatalogue, loadPathway, runtimeFrom } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';
import { decide } from '../../src/decide.js';
import type { PathwayRuntime } from '../../src/engine/catalogue.js';
import type { Decision } from '../../src/engine/types.js';

export const T0 = Date.parse('2026-03-14T09:00:00Z');
export const PRODUCT = 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain';
export const ROCHE = { system: 'http://loinc.org', code: '67151-1' };
export const ABBOTT = { system: 'http://loinc.org', code: '89579-7' };

/** ISO time at `minutes` after T0. */
export function at(minutes: number): string {
  return new Date(T0 + minutes * 60_000).toISOString().replace('.000Z', 'Z');
}

let counter = 0;
function nextId(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

export interface TroponinOptions {
  unit?: string | null;
  code?: string | null;
  system?: string | null;
  comparator?: string;
  status?: string;
  assay?: { system: string; code: string } | { system: string; code: string }[];
  encounter?: string;
  id?: string;
  identifier?: string;
  lastUpdated?: string;
  issued?: string;
  effective?: Record<string, unknown> | null;
}

export function troponin(value: number | null, minutes: number, o: TroponinOptions = {}): Observation {
  const unit = o.unit === undefined ? 'ng/L' : o.unit;
  const code = o.code === undefined ? unit : o.code;
  const assays = o.assay === undefined ? [ROCHE] : Array.isArray(o.assay) ? o.assay : [o.assay];
  const q: Record<string, unknown> = { value };
  if (o.comparator !== undefined) q['comparator'] = o.comparator;
  if (unit !== null) q['unit'] = unit;
  if (o.system !== null) q['system'] = o.system ?? 'http://unitsofmeasure.org';
  if (code !== null) q['code'] = code;
  const obs: Record<string, unknown> = {
    resourceType: 'Observation',
    id: o.id ?? nextId('trop'),
    status: o.status ?? 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: assays },
    subject: { reference: 'Patient/p1' },
    ...(o.effective === null ? {} : o.effective !== undefined ? o.effective : { effectiveDateTime: at(minutes) }),
    ...(o.issued !== undefined ? { issued: o.issued } : {}),
    ...(o.encounter !== undefined ? { encounter: { reference: `Encounter/${o.encounter}` } } : {}),
    ...(o.identifier !== undefined ? { identifier: [{ system: 'http://lab.example.org/result-id', value: o.identifier }] } : {}),
    ...(o.lastUpdated !== undefined ? { meta: { lastUpdated: o.lastUpdated } } : {}),
  };
  if (value !== null) obs['valueQuantity'] = q;
  return obs as unknown as Observation;
}

export function haemolysed(minutes: number, o: TroponinOptions = {}): Observation {
  const obs = troponin(null, minutes, o) as unknown as Record<string, unknown>;
  obs['dataAbsentReason'] = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'error' }], text: 'Haemolysed sample' };
  return obs as unknown as Observation;
}

export function ecg(codes: string | { system: string; code: string }[], minutes: number, o: { status?: string; encounter?: string; id?: string } = {}): Observation {
  const coding = typeof codes === 'string' ? [{ system: PRODUCT, code: codes }] : codes;
  return {
    resourceType: 'Observation',
    id: o.id ?? nextId('ecg'),
    status: (o.status ?? 'final') as Observation['status'],
    code: { coding: [{ system: 'http://loinc.org', code: '8601-7', display: 'EKG impression' }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: at(minutes),
    valueCodeableConcept: { coding },
    ...(o.encounter !== undefined ? { encounter: { reference: `Encounter/${o.encounter}` } } : {}),
  };
}

export const SNOMED = 'http://snomed.info/sct';

export function timi(score: unknown, minutes: number, o: { status?: string; id?: string } = {}): Observation {
  return {
    resourceType: 'Observation',
    id: o.id ?? nextId('timi'),
    status: (o.status ?? 'final') as Observation['status'],
    code: { coding: [{ system: PRODUCT, code: 'timi-risk-score' }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: at(minutes),
    valueInteger: score as number,
  };
}

export function patient(gender: Patient['gender'] = 'female'): Patient {
  return { resourceType: 'Patient', id: 'p1', gender, birthDate: '1961-05-02' };
}

export function bundle(...resources: Resource[]): Bundle {
  return { resourceType: 'Bundle', type: 'collection', entry: resources.map((r) => ({ fullUrl: `urn:uuid:${r.id ?? 'x'}`, resource: r })) };
}

/** The usual context: ECG without STEMI, TIMI 2, so the troponin branch decides. */
export function workedUp(): Resource[] {
  return [patient(), ecg('no-stemi-or-new-lbbb', -10), timi(2, -5)];
}

const runtimes = new Map<string, Promise<PathwayRuntime>>();

export function runtime(settings: Record<string, unknown> = {}): Promise<PathwayRuntime> {
  const key = JSON.stringify(settings);
  let rt = runtimes.get(key);
  if (rt === undefined) {
    const site = loadSettings({ object: settings });
    rt = loadPathway(site.pathway).then((p) => runtimeFrom(p, loadCatalogue(), site));
    runtimes.set(key, rt);
  }
  return rt;
}

/** Decide at `nowMinutes` after T0. */
export async function run(resources: Resource[], nowMinutes: number, opts: { encounter?: string; settings?: Record<string, unknown> } = {}): Promise<Decision> {
  const rt = await runtime(opts.settings);
  return decide(rt, bundle(...resources), { now: at(nowMinutes), encounterId: opts.encounter ?? null });
}
