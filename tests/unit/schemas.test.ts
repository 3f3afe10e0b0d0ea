/* eslint-disable @typescript-eslint/no-explicit-any -- these tests break raw JSON documents on purpose */
/**
 * Pathways and the catalogue are data, validated at load: every shipped file validates, and broken
 * ones are refused with an error that names the field.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PATHWAYS_DIR, compilePathwayDocument, listPathwayFiles, loadCatalogue, loadPathway, runtimeFrom, validateCatalogueDocument } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';
import { TnpError } from '../../src/errors.js';

const chart2Text = readFileSync(join(PATHWAYS_DIR, 'chart2.json'), 'utf8');
const chart2 = (): Record<string, any> => JSON.parse(chart2Text);
const catalogue = (): Record<string, any> => JSON.parse(readFileSync(join(PATHWAYS_DIR, 'assays.json'), 'utf8'));

async function refusal(doc: unknown): Promise<TnpError> {
  try {
    await compilePathwayDocument(doc, JSON.stringify(doc), 'test.json');
  } catch (e) {
    expect(e).toBeInstanceOf(TnpError);
    return e as TnpError;
  }
  throw new Error('the broken pathway was accepted');
}

describe('pathway files', () => {
  it('every shipped pathway validates and compiles', async () => {
    const files = listPathwayFiles();
    expect(files).toEqual(['chart2.json', 'esc-0h1h.json', 'esc-0h2h.json', 'high-steacs.json']);
    for (const f of files) {
      const p = await loadPathway(f.replace(/\.json$/, ''));
      // Chart 2 classifies a baseline and a retest (54 cells); the others read samples in timing windows:
      // every combination of timing, onset band and comparison sides has its reading.
      if (p.file.classification !== undefined) expect(p.classificationTable.size).toBe(54);
      else expect(p.serial?.table.size).toBe(3 * (p.file.settings.earlyPresenterMinutes === undefined ? 2 : 3) * 2 ** (p.file.serial?.comparisons.length ?? 0));
    }
  });

  it('the pathway hash is the sha256 of the file', async () => {
    const { createHash } = await import('node:crypto');
    const p = await loadPathway('chart2');
    expect(p.sha256).toBe(createHash('sha256').update(readFileSync(join(PATHWAYS_DIR, 'chart2.json'))).digest('hex'));
  });

  it('refuses an unknown key, naming it', async () => {
    const e = await refusal({ ...chart2(), colour: 'red' });
    expect(e.code).toBe('TNP_ERR_PATHWAY_INVALID');
    expect(e.message).toMatch(/unknown key "colour"/);
  });

  it('refuses a bad settings value, naming the field', async () => {
    const doc = chart2();
    doc.settings.retestIntervalMinutes = -3;
    expect((await refusal(doc)).message).toMatch(/settings\.retestIntervalMinutes/);
  });

  it('refuses a json-rules-engine `path` condition (jsonpath-plus is forbidden)', async () => {
    const doc = chart2();
    doc.graph.edges[1].conditions.all[0].path = '$.x';
    expect((await refusal(doc)).message).toMatch(/graph\.edges\[1\]\.conditions/);
  });

  it('refuses an operator outside the allow-list', async () => {
    const doc = chart2();
    doc.graph.edges[1].conditions.all[0].operator = 'regex';
    expect((await refusal(doc)).code).toBe('TNP_ERR_PATHWAY_INVALID');
  });

  it('refuses an edge to an unknown node', async () => {
    const doc = chart2();
    doc.graph.edges[1].to = 'nowhere';
    expect((await refusal(doc)).message).toMatch(/unknown node "nowhere"/);
  });

  it('refuses a decision point that leaves a combination of facts without a branch', async () => {
    const doc = chart2();
    doc.graph.edges = doc.graph.edges.filter((e: { id: string }) => e.id !== 'timi-one');
    expect((await refusal(doc)).message).toMatch(/at node "timi".*no branch/);
  });

  it('refuses a decision point with two branches for the same facts', async () => {
    const doc = chart2();
    const e = doc.graph.edges.find((x: { id: string }) => x.id === 'timi-above-one');
    e.conditions.all[1].value = 1;
    expect((await refusal(doc)).message).toMatch(/several branches/);
  });

  it('refuses a cycle', async () => {
    const doc = chart2();
    doc.graph.edges.push({ id: 'loop', from: 'retest-below', to: 'ecg', label: 'x', conditions: { all: [{ fact: 'troponinReading', operator: 'equal', value: 'nothing' }] } });
    expect((await refusal(doc)).message).toMatch(/cycle/);
  });

  it('refuses classification rules that overlap', async () => {
    const doc = chart2();
    doc.classification.rules.push({ id: 'dup', outcome: 'indeterminate', text: 'x', conditions: { all: [{ fact: 'baselineVsLimit', operator: 'equal', value: 'above' }] } });
    expect((await refusal(doc)).message).toMatch(/matches several rules/);
  });

  it('refuses a severity order that is not a permutation of the outcomes', async () => {
    const doc = chart2();
    doc.severity[6] = doc.severity[0];
    expect((await refusal(doc)).code).toBe('TNP_ERR_PATHWAY_INVALID');
  });
});

describe('the assay catalogue', () => {
  it('the shipped catalogue validates, with a source for every assay', () => {
    const { catalogue: c } = loadCatalogue();
    expect(c.assays.map((a) => a.id)).toEqual(['roche-elecsys-hs-tnt', 'abbott-architect-hs-tni']);
    for (const a of c.assays) expect(a.sources.length).toBeGreaterThan(0);
  });

  it('refuses a URL written as a binary number, naming the field', () => {
    const doc = catalogue();
    doc.assays[1].url99.overall = 26.2;
    expect(() => validateCatalogueDocument(doc, 'x')).toThrow(/assays\[1\]\.url99\.overall/);
  });

  it('refuses a limit of detection of 0', () => {
    const doc = catalogue();
    doc.assays[0].lod = '0';
    expect(() => validateCatalogueDocument(doc, 'x')).toThrow(/assays\[0\]\.lod/);
  });

  it('refuses an assay without a source', () => {
    const doc = catalogue();
    doc.assays[0].sources = [];
    expect(() => validateCatalogueDocument(doc, 'x')).toThrow(/sources/);
  });

  it('refuses a site mapping to an unknown assay', async () => {
    const p = await loadPathway('chart2');
    expect(() => runtimeFrom(p, loadCatalogue(), loadSettings({ object: { assayCodeMappings: [{ system: 's', code: 'c', assay: 'nope' }] } }))).toThrow(/unknown assay "nope"/);
  });
});

describe('site settings', () => {
  it('defaults trust no CDS client', () => {
    const s = loadSettings({ env: {} });
    expect(s.cdsClients).toEqual([]);
    expect(s.sexSpecificUrls).toBe(false);
    expect(Object.isFrozen(s)).toBe(true);
  });

  it('an unknown key stops the start, named', () => {
    expect(() => loadSettings({ object: { sexSpecificURLs: true } })).toThrow(/unknown key "sexSpecificURLs"/);
  });

  it('a bad value stops the start, named', () => {
    expect(() => loadSettings({ object: { storage: { kind: 'sqlite' } } })).toThrow(/storage/);
    expect(() => loadSettings({ object: { fhirPullTimeoutMs: 'fast' } })).toThrow(/fhirPullTimeoutMs/);
    expect(() => loadSettings({ object: { displayTimeZone: 'Mars/Olympus' } })).toThrow(/displayTimeZone/);
  });

  it('a settings file that is not JSON is refused with its path', () => {
    expect(() => loadSettings({ env: { HS_TROPONIN_CDS_SETTINGS: '/nonexistent/settings.json' } })).toThrow(/\/nonexistent\/settings\.json/);
  });
});
