/**
 * The assay catalogue and the site's code maps, compiled for lookup. Pure.
 */
import { Big } from 'big.js';
import type { EcgMeaning, PathwayIdentity, Sex } from './types.js';
import type { CompiledPathway } from './pathway.js';
import { type CutoffTable, tablesOf } from './cutoffs.js';

export interface AssayDefinition {
  readonly id: string;
  readonly name: string;
  readonly analyte: 'T' | 'I';
  readonly codings: readonly { readonly system: string; readonly code: string }[];
  readonly url99: { readonly overall: string; readonly female?: string; readonly male?: string };
  readonly lod: string;
  readonly sources: readonly string[];
  readonly notes?: string;
  /** Cut-off tables of the sample-window pathways (esc-0h1h-0h2h.md and high-steacs.md, section 5). */
  readonly esc0h1h?: EscTableDefinition;
  readonly esc0h2h?: EscTableDefinition;
  readonly highSteacs?: { readonly ruleOut: string; readonly noDelta: string; readonly url99Female: string; readonly url99Male: string; readonly sources: readonly string[] };
}

export interface EscTableDefinition {
  readonly veryLow: string;
  readonly low: string;
  readonly noDelta: string;
  readonly high: string;
  readonly delta: string;
  readonly source: string;
}

export interface CatalogueFile {
  readonly version: string;
  readonly title: string;
  readonly assays: readonly AssayDefinition[];
}

export interface Assay {
  readonly id: string;
  readonly name: string;
  readonly analyte: 'T' | 'I';
  readonly urlOverall: Big;
  readonly urlFemale: Big | null;
  readonly urlMale: Big | null;
  readonly lod: Big;
  /** The catalogue's cut-off tables for this assay, by name (cutoffs.ts). */
  readonly tables: ReadonlyMap<string, CutoffTable>;
}

/** What the site settings say that bears on decisions (a subset of src/settings.ts, kept free of it). */
export interface DecisionOptions {
  readonly sexSpecificUrls: boolean;
  readonly assayCodeMappings: readonly { readonly system: string; readonly code: string; readonly assay: string }[];
  readonly assays: readonly AssayDefinition[];
  readonly replaceAssayCatalogue: boolean;
  readonly ecgCodeMappings: readonly { readonly system: string; readonly code: string; readonly meaning: EcgMeaning }[];
  readonly timiCodes: readonly { readonly system: string; readonly code: string }[];
}

export interface CodeMaps {
  /** "system|code" -> assay id and how it was mapped. */
  readonly assayByCoding: ReadonlyMap<string, { readonly assayId: string; readonly source: 'site-mapping' | 'catalogue-default' }>;
  readonly ecgCodes: ReadonlySet<string>;
  readonly ecgValues: ReadonlyMap<string, EcgMeaning>;
  readonly productSystem: string;
  readonly timiCodes: ReadonlySet<string>;
  readonly timiMin: number;
  readonly timiMax: number;
  /** Codings of the chest-pain onset observation (empty when the pathway reads none). */
  readonly onsetCodes: ReadonlySet<string>;
}

/** Everything an evaluation needs besides the facts and `now`: built once, shared, immutable. */
export interface PathwayRuntime {
  readonly pathway: CompiledPathway;
  readonly assays: ReadonlyMap<string, Assay>;
  readonly codeMaps: CodeMaps;
  readonly sexSpecificUrls: boolean;
  readonly identity: PathwayIdentity;
  /** True when the Patient bears on the decision: sex-specific URLs are on, or the pathway reads sex itself. */
  readonly needsPatient: boolean;
  /** True when the site has mapped none of its laboratory's codes: every result runs on catalogue defaults. */
  readonly usingDefaultCodes: boolean;
}

export const codingKey = (system: string, code: string): string => `${system}|${code}`;

export class CatalogueProblem extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'CatalogueProblem';
  }
}

function toAssay(d: AssayDefinition): Assay {
  return {
    id: d.id,
    name: d.name,
    analyte: d.analyte,
    urlOverall: new Big(d.url99.overall),
    urlFemale: d.url99.female === undefined ? null : new Big(d.url99.female),
    urlMale: d.url99.male === undefined ? null : new Big(d.url99.male),
    lod: new Big(d.lod),
    tables: tablesOf(d as unknown as Record<string, unknown>),
  };
}

/** Build the runtime from a compiled pathway, the catalogue file and the site's decision options. */
export function buildRuntime(
  pathway: CompiledPathway,
  catalogue: CatalogueFile,
  options: DecisionOptions,
  hashes: { readonly catalogueSha256: string; readonly settingsSha256: string },
): PathwayRuntime {
  const defs = new Map<string, AssayDefinition>();
  if (!options.replaceAssayCatalogue) for (const a of catalogue.assays) defs.set(a.id, a);
  for (const a of options.assays) defs.set(a.id, a);
  if (defs.size === 0) throw new CatalogueProblem('the effective assay catalogue is empty', 'assays');

  const assays = new Map<string, Assay>();
  const assayByCoding = new Map<string, { assayId: string; source: 'site-mapping' | 'catalogue-default' }>();
  for (const d of [...defs.values()].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))) {
    const a = toAssay(d);
    if (a.lod.lte(0)) throw new CatalogueProblem(`assay "${d.id}" has a limit of detection that is not above 0`, `assays.${d.id}.lod`);
    assays.set(d.id, a);
    for (const c of d.codings) {
      const k = codingKey(c.system, c.code);
      const prev = assayByCoding.get(k);
      if (prev !== undefined && prev.assayId !== d.id) {
        throw new CatalogueProblem(`coding ${k} is listed for two assays (${prev.assayId}, ${d.id})`, `assays.${d.id}.codings`);
      }
      assayByCoding.set(k, { assayId: d.id, source: 'catalogue-default' });
    }
  }
  options.assayCodeMappings.forEach((m, i) => {
    if (!assays.has(m.assay)) throw new CatalogueProblem(`assayCodeMappings[${i}] names unknown assay "${m.assay}"`, `assayCodeMappings[${i}].assay`);
    assayByCoding.set(codingKey(m.system, m.code), { assayId: m.assay, source: 'site-mapping' });
  });

  const inputs = pathway.file.inputs;
  const ecgValues = new Map<string, EcgMeaning>();
  for (const v of inputs.ecg.values) ecgValues.set(codingKey(v.system, v.code), v.meaning);
  for (const v of options.ecgCodeMappings) ecgValues.set(codingKey(v.system, v.code), v.meaning);
  const timiCodes = new Set((inputs.timi?.codes ?? []).map((c) => codingKey(c.system, c.code)));
  for (const c of options.timiCodes) timiCodes.add(codingKey(c.system, c.code));

  return {
    pathway,
    assays,
    codeMaps: {
      assayByCoding,
      ecgCodes: new Set(inputs.ecg.codes.map((c) => codingKey(c.system, c.code))),
      ecgValues,
      productSystem: inputs.productSystem,
      timiCodes,
      timiMin: inputs.timi?.min ?? 0,
      timiMax: inputs.timi?.max ?? 0,
      onsetCodes: new Set((inputs.onset?.codes ?? []).map((c) => codingKey(c.system, c.code))),
    },
    sexSpecificUrls: options.sexSpecificUrls,
    needsPatient: options.sexSpecificUrls || inputs.patient !== undefined,
    identity: {
      id: pathway.id,
      version: pathway.version,
      sha256: pathway.sha256,
      catalogueSha256: hashes.catalogueSha256,
      settingsSha256: hashes.settingsSha256,
    },
    usingDefaultCodes: options.assayCodeMappings.length === 0,
  };
}

/** Rule 14: the URL that applies to a result of this assay for this patient. */
export function urlFor(assay: Assay, sexSpecific: boolean, sex: Sex | null): { url: Big; basis: string } {
  if (!sexSpecific || (assay.urlFemale === null && assay.urlMale === null)) {
    return { url: assay.urlOverall, basis: sexSpecific ? 'overall URL (the assay publishes no sex-specific URLs)' : 'overall 99th percentile URL' };
  }
  if (sex === 'female' && assay.urlFemale !== null) return { url: assay.urlFemale, basis: 'female 99th percentile URL' };
  if (sex === 'male' && assay.urlMale !== null) return { url: assay.urlMale, basis: 'male 99th percentile URL' };
  const candidates = [assay.urlOverall, assay.urlFemale, assay.urlMale].filter((u): u is Big => u !== null);
  const lowest = candidates.reduce((a, b) => (b.lt(a) ? b : a));
  return { url: lowest, basis: `lowest of the assay's URLs (sex ${sex ?? 'not given'})` };
}
