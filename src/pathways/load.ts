/**
 * Loading the clinical content: pathway files and the assay catalogue under `pathways/`, each validated
 * against its JSON Schema, hashed (sha256 of the file's bytes, as `sha256sum` prints it) and compiled.
 * A bad file stops start-up with TNP_ERR_PATHWAY_INVALID / TNP_ERR_CATALOGUE_INVALID naming the field.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsImport from 'ajv-formats';
import { TnpError } from '../errors.js';
import { canonicalJson, sha256Hex } from '../util/canonical-json.js';
import { deepFreeze } from '../util/freeze.js';
import { describeSchemaErrors, decisionSettingsOf, type DecisionSettings } from '../settings.js';
import { type CompiledPathway, type PathwayFile, PathwayProblem, compilePathway } from '../engine/pathway.js';
import { type CatalogueFile, CatalogueProblem, type PathwayRuntime, buildRuntime } from '../engine/catalogue.js';
import { prepareCardText } from '../cds/card-text.js';
import { TemplateProblem } from '../engine/template.js';
import { pointerSegment } from '../engine/pathway-checks.js';

const addFormats = addFormatsImport as unknown as (ajv: Ajv2020) => Ajv2020;

/** The shipped `pathways/` folder, wherever the code runs from (src/ under tests, dist/ in production). */
export const PATHWAYS_DIR = fileURLToPath(new URL('../../pathways/', import.meta.url));

function readJson(path: string, code: 'TNP_ERR_PATHWAY_INVALID' | 'TNP_ERR_CATALOGUE_INVALID'): { doc: unknown; bytes: Buffer } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw new TnpError(code, `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    return { doc: JSON.parse(bytes.toString('utf8')) as unknown, bytes };
  } catch (cause) {
    throw new TnpError(code, `${path} is not JSON: ${(cause as Error).message}`, { cause });
  }
}

function validator(schemaFile: string) {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  addFormats(ajv);
  const schema = JSON.parse(readFileSync(join(PATHWAYS_DIR, schemaFile), 'utf8')) as Record<string, unknown>;
  return ajv.compile(schema);
}

let pathwayValidator: ReturnType<typeof validator> | null = null;
let catalogueValidator: ReturnType<typeof validator> | null = null;

/** A field named as a path ("graph.edges[3].to") as a JSON pointer ("/graph/edges/3/to"); a pointer stays as it is. */
export function jsonPointer(field: string): string {
  if (field.startsWith('/')) return field;
  return field
    .split(/\.|\[(\d+)\]/)
    .filter((part): part is string => part !== undefined && part !== '')
    .map((part) => `/${pointerSegment(part)}`)
    .join('');
}

/** Validate a parsed pathway document against pathways/pathway.schema.json and compile it. */
export async function compilePathwayDocument(doc: unknown, bytes: Buffer | string, name: string): Promise<CompiledPathway> {
  pathwayValidator ??= validator('pathway.schema.json');
  if (!pathwayValidator(doc)) {
    const problems = describeSchemaErrors(pathwayValidator.errors ?? []);
    throw new TnpError('TNP_ERR_PATHWAY_INVALID', `pathway ${name} is invalid: ${problems.join('; ')}`, { details: problems });
  }
  try {
    const compiled = deepFreeze(await compilePathway(doc as PathwayFile, sha256Hex(bytes)));
    // The card text, compiled once with the pathway: every outcome it can reach, every placeholder known.
    prepareCardText(compiled);
    return compiled;
  } catch (e) {
    if (e instanceof PathwayProblem || e instanceof TemplateProblem) throw new TnpError('TNP_ERR_PATHWAY_INVALID', `pathway ${name} is invalid at ${jsonPointer(e.field)}: ${e.message}`, { cause: e, expression: [e.field] });
    throw e;
  }
}

/** Validate a parsed catalogue against pathways/assays.schema.json. */
export function validateCatalogueDocument(doc: unknown, name: string): CatalogueFile {
  catalogueValidator ??= validator('assays.schema.json');
  if (!catalogueValidator(doc)) {
    const problems = describeSchemaErrors(catalogueValidator.errors ?? []);
    throw new TnpError('TNP_ERR_CATALOGUE_INVALID', `catalogue ${name} is invalid: ${problems.join('; ')}`, { details: problems });
  }
  return doc as CatalogueFile;
}

/** The ids of the pathway files shipped in a folder (every *.json but schemas and the catalogue). */
export function listPathwayFiles(dir = PATHWAYS_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json') && f !== 'assays.json')
    .sort();
}

export async function loadPathway(id: string, dir = PATHWAYS_DIR): Promise<CompiledPathway> {
  const file = `${id}.json`;
  if (!listPathwayFiles(dir).includes(file)) {
    throw new TnpError('TNP_ERR_PATHWAY_UNKNOWN', `no pathway "${id}" in ${dir} (available: ${listPathwayFiles(dir).map((f) => f.replace(/\.json$/, '')).join(', ')})`);
  }
  const { doc, bytes } = readJson(join(dir, file), 'TNP_ERR_PATHWAY_INVALID');
  const compiled = await compilePathwayDocument(doc, bytes, file);
  if (compiled.id !== id) throw new TnpError('TNP_ERR_PATHWAY_INVALID', `pathway ${file} declares id "${compiled.id}"; the file name and the id must agree`, { expression: ['id'] });
  return compiled;
}

export function loadCatalogue(dir = PATHWAYS_DIR): { catalogue: CatalogueFile; sha256: string } {
  const { doc, bytes } = readJson(join(dir, 'assays.json'), 'TNP_ERR_CATALOGUE_INVALID');
  return { catalogue: deepFreeze(validateCatalogueDocument(doc, 'assays.json')), sha256: sha256Hex(bytes) };
}

/** sha256 of the settings that bear on decisions, in canonical JSON. */
export function settingsSha256(settings: DecisionSettings): string {
  return sha256Hex(canonicalJson(decisionSettingsOf(settings)));
}

/** Build a runtime from parts already loaded (the console and tests use this). */
export function runtimeFrom(pathway: CompiledPathway, catalogue: { catalogue: CatalogueFile; sha256: string }, settings: DecisionSettings): PathwayRuntime {
  try {
    return deepFreeze(
      buildRuntime(pathway, catalogue.catalogue, decisionSettingsOf(settings), {
        catalogueSha256: catalogue.sha256,
        settingsSha256: settingsSha256(settings),
      }),
    );
  } catch (e) {
    if (e instanceof CatalogueProblem) throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "${e.field}": ${e.message}`, { cause: e, expression: [e.field] });
    throw e;
  }
}

/** Load the pathway named in the settings, the catalogue, and bind the site's decision settings. */
export async function loadRuntime(settings: DecisionSettings & { readonly pathway: string }, dir = PATHWAYS_DIR): Promise<PathwayRuntime> {
  const pathway = await loadPathway(settings.pathway, dir);
  return runtimeFrom(pathway, loadCatalogue(dir), settings);
}
