/* eslint-disable @typescript-eslint/no-explicit-any -- these tests change raw JSON documents on purpose */
/**
 * Wording and evidence as pathway data, checked at load (issue 8, items 2 and 5): every clinical threshold
 * names a source of the file's `evidence`; every item the graph can find missing has a name; every outcome
 * the assembly can give has a label; the labels that state a setting say the file's value; the summary and
 * indicator of an outcome, and the outcomes an early result counts with (rule 8), are the file's; a changed
 * file has another sha256. Each refusal names the file and the JSON pointer of the field.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/decide.js';
import { TnpError } from '../../src/errors.js';
import { PATHWAYS_DIR, compilePathwayDocument, jsonPointer, loadCatalogue, runtimeFrom } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';
import { at, bundle, troponin, workedUp } from '../support/cases.js';

const shipped = (name: string): Record<string, any> => JSON.parse(readFileSync(join(PATHWAYS_DIR, `${name}.json`), 'utf8'));

async function refusal(doc: unknown, name = 'copy.json'): Promise<TnpError> {
  try {
    await compilePathwayDocument(doc, JSON.stringify(doc), name);
  } catch (e) {
    expect(e).toBeInstanceOf(TnpError);
    expect((e as TnpError).code).toBe('TNP_ERR_PATHWAY_INVALID');
    expect((e as TnpError).message).toContain(name);
    return e as TnpError;
  }
  throw new Error('the changed pathway loaded');
}

async function runtimeOf(doc: unknown) {
  return runtimeFrom(await compilePathwayDocument(doc, JSON.stringify(doc), 'copy.json'), loadCatalogue(), loadSettings({ object: {} }));
}

describe('every clinical threshold names its evidence', () => {
  it('refuses a threshold setting with no source, naming its pointer', async () => {
    const doc = shipped('chart2');
    delete doc.thresholdSources['/settings/changeThresholdPercent'];
    const e = await refusal(doc, 'chart2-copy.json');
    expect(e.message).toMatch(/^pathway chart2-copy\.json is invalid at \/settings\/changeThresholdPercent: this clinical threshold names no source/);
  });

  it('refuses a TIMI threshold of the graph with no source', async () => {
    const doc = shipped('chart2');
    const i = doc.graph.edges.findIndex((e: { id: string }) => e.id === 'timi-above-one');
    delete doc.thresholdSources[`/graph/edges/${i}/conditions`];
    expect((await refusal(doc)).message).toContain(`invalid at /graph/edges/${i}/conditions: this clinical threshold names no source`);
  });

  it('refuses a sample-window pathway whose catalogue tables name no source', async () => {
    const doc = shipped('esc-0h1h');
    delete doc.thresholdSources['/serial/zeroHourTable'];
    expect((await refusal(doc)).message).toContain('invalid at /serial/zeroHourTable: this clinical threshold names no source');
  });

  it('refuses a source that is not in the evidence list', async () => {
    const doc = shipped('chart2');
    doc.thresholdSources['/settings/retestIntervalMinutes'] = ['S1', 'S99'];
    expect((await refusal(doc)).message).toContain('invalid at /thresholdSources/~1settings~1retestIntervalMinutes/1: source "S99" is not in "evidence"');
  });

  it('refuses the sources of something the file does not have', async () => {
    const doc = shipped('esc-0h2h');
    doc.thresholdSources['/settings/changeThresholdPercent'] = ['S11'];
    expect((await refusal(doc)).message).toContain('which is not in the file');
  });

  it('refuses an evidence id listed twice', async () => {
    const doc = shipped('high-steacs');
    doc.evidence.push({ ...doc.evidence[0] });
    expect((await refusal(doc)).message).toMatch(/invalid at \/evidence\/\d+\/id: evidence id "S50" is listed twice/);
  });

  it('every shipped pathway names a source for each of its thresholds', async () => {
    for (const name of ['chart2', 'esc-0h1h', 'esc-0h2h', 'high-steacs']) {
      const p = await compilePathwayDocument(shipped(name), JSON.stringify(shipped(name)), `${name}.json`);
      const ids = new Set(p.file.evidence.map((e) => e.id));
      for (const sources of Object.values(p.file.thresholdSources)) for (const s of sources) expect(ids.has(s)).toBe(true);
    }
  });
});

describe('what a person reads is in the file', () => {
  it('refuses an item the graph can find missing with no name', async () => {
    const doc = shipped('chart2');
    delete doc.missingItems.timi;
    expect((await refusal(doc)).message).toContain('invalid at /missingItems/timi: edge "timi-missing" can find "timi" missing');
  });

  it('refuses an outcome the assembly can give with no label', async () => {
    const doc = shipped('chart2');
    doc.assembly.independentReadings[0].counts.push('rule-in');
    expect((await refusal(doc)).message).toContain('invalid at /assembly/independentReadings/0/counts/2: the assembly can give "rule-in", which has no entry (label, indicator, advice) in "outcomes"');
  });

  it('refuses an early-result outcome (rule 8) the pathway does not rank', async () => {
    const doc = shipped('chart2');
    doc.classification.earlyResultCounts = ['rule-in'];
    expect((await refusal(doc)).message).toContain('invalid at /classification/earlyResultCounts/0');
  });

  it('refuses a summary placeholder its variant cannot fill, and an unknown placeholder in a label', async () => {
    const doc = shipped('chart2');
    doc.outcomes['needs-input'].variants[0].summary = 'Needs {missing}; retest due {retestDue}.';
    expect((await refusal(doc)).message).toMatch(/invalid at \/outcomes\/needs-input\/variants\/0\/summary: unknown placeholder \{retestDue\}/);
    const doc2 = shipped('chart2');
    doc2.graph.nodes[6].label = 'Retest in {retestHours} hours';
    expect((await refusal(doc2)).message).toMatch(/invalid at \/graph\/nodes\/6\/label: unknown placeholder \{retestHours\}/);
  });

  it('refuses a setting placeholder in a pathway without that setting', async () => {
    const doc = shipped('high-steacs');
    doc.outcomes['awaiting-retest'].label = 'Retest at {retestIntervalHours} hours';
    expect((await refusal(doc)).message).toMatch(/invalid at \/outcomes\/awaiting-retest\/label: unknown placeholder \{retestIntervalHours\}/);
  });

  it('labels and rule texts that state a setting say the file\'s value', async () => {
    const doc = shipped('chart2');
    doc.settings.retestIntervalMinutes = 90;
    doc.settings.changeThresholdPercent = '30';
    const rt = await runtimeOf(doc);
    const f = rt.pathway.file;
    expect(f.graph.nodes.find((n) => n.id === 'retest-above')?.label).toBe('Retest in 1.5 hours');
    expect(f.graph.nodes.find((n) => n.id === 'awaiting-retest')?.silent).toContain('baseline draw + 90 min');
    expect(f.graph.edges.find((e) => e.id === 'above-consistent')?.label).toBe('Change ≥ 30%, rise or fall');
    expect(f.outcomes['awaiting-retest']?.label).toBe('Retest in 1.5 hours');
    expect(f.classification?.rules.map((r) => r.text).join(' ')).toContain('change under 30%');
    expect(JSON.stringify({ ...f, evidence: [], cards: undefined })).not.toMatch(/20%|3 h\b|3 hours|3-hour/);
    const d = await decide(rt, bundle(...workedUp(), troponin(8, 0)), { now: at(100), encounterId: null });
    expect(d.summary).toBe(`Retest high-sensitivity troponin now: it was due at ${at(90)} (baseline + 90 min).`);
  });

  it('the shipped labels and summaries read as before', async () => {
    const rt = await runtimeOf(shipped('chart2'));
    expect(rt.pathway.file.graph.nodes.find((n) => n.id === 'retest-below')?.label).toBe('Retest in 3 hours');
    expect(rt.pathway.file.graph.edges.find((e) => e.id === 'below-consistent')?.label).toBe('Rise ≥ 20% to > URL');
    const d = await decide(rt, bundle(...workedUp(), troponin(8, 0)), { now: at(30), encounterId: null });
    expect(d.summary).toBe(`Retest high-sensitivity troponin due at ${at(180)} (baseline + 3 h).`);
    const n = await decide(rt, bundle(troponin(8, 0)), { now: at(30), encounterId: null });
    expect(n.summary).toBe('Needs ECG, TIMI score before the pathway can advise.');
  });

  it('the indicator and summary of an outcome are its variants\', not code\'s', async () => {
    const doc = shipped('chart2');
    doc.outcomes['awaiting-retest'].variants[0].indicator = 'critical';
    doc.outcomes['needs-input'].variants[0].summary = 'Record {missing} first.';
    doc.missingItems.ecg = 'a 12-lead ECG';
    const rt = await runtimeOf(doc);
    const overdue = await decide(rt, bundle(...workedUp(), troponin(8, 0)), { now: at(200), encounterId: null });
    expect(overdue.indicator).toBe('critical');
    const missing = await decide(rt, bundle(troponin(8, 0)), { now: at(30), encounterId: null });
    expect(missing.summary).toBe('Record a 12-lead ECG, TIMI score first.');
    expect(missing.trace.map((t) => t.text).join(' ')).toContain('needs a 12-lead ECG');
  });

  it('the outcomes an early result counts with are the file\'s (rule 8)', async () => {
    // 8 -> 12 ng/L at +70 min is a rise of 50% that stays below the URL: indeterminate as a retest.
    const resources = [...workedUp(), troponin(8, 0), troponin(12, 70)];
    const shippedDecision = await decide(await runtimeOf(shipped('chart2')), bundle(...resources), { now: at(80), encounterId: null });
    expect(shippedDecision.outcome).toBe('awaiting-retest');
    const doc = shipped('chart2');
    doc.classification.earlyResultCounts = ['consistent-with-mi', 'indeterminate'];
    const d = await decide(await runtimeOf(doc), bundle(...resources), { now: at(80), encounterId: null });
    expect(d.outcome).toBe('indeterminate');
  });
});

describe('a changed pathway has another sha256', () => {
  it('one character changed gives another sha256, the sha256 of the bytes, and the decision reports it', async () => {
    const text = readFileSync(join(PATHWAYS_DIR, 'chart2.json'), 'utf8');
    const changed = text.replace('"label": "Needs input"', '"label": "Needs inputs"');
    expect(changed.length).toBe(text.length + 1);
    const a = await compilePathwayDocument(JSON.parse(text), text, 'chart2.json');
    const b = await compilePathwayDocument(JSON.parse(changed), changed, 'chart2.json');
    expect(a.sha256).toBe(createHash('sha256').update(text).digest('hex'));
    expect(b.sha256).toBe(createHash('sha256').update(changed).digest('hex'));
    expect(b.sha256).not.toBe(a.sha256);
    const rt = runtimeFrom(b, loadCatalogue(), loadSettings({ object: {} }));
    expect((await decide(rt, bundle(troponin(8, 0)), { now: at(30), encounterId: null })).pathway.sha256).toBe(b.sha256);
  });

  it('a field path is named as a JSON pointer', () => {
    expect(jsonPointer('graph.edges[3].to')).toBe('/graph/edges/3/to');
    expect(jsonPointer('cards.outcomes.needs-input.variants[2].nextStep')).toBe('/cards/outcomes/needs-input/variants/2/nextStep');
    expect(jsonPointer('/settings/windows')).toBe('/settings/windows');
  });
});
