/**
 * Card text as pathway data (the `cards` section): compiled once at load, checked there (every
 * outcome the pathway can reach has text, every placeholder is one the decision provides where it is
 * used), and the card says the pathway's own numbers: a copy of the pathway with another retest
 * interval and change threshold gives cards that say the new values.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cardsFor } from '../../src/cds/cards.js';
import { TemplateProblem, compileTemplate, fill } from '../../src/engine/template.js';
import { compileCardText } from '../../src/cds/card-text.js';
import { decide } from '../../src/decide.js';
import { isTnpError } from '../../src/errors.js';
import { PATHWAYS_DIR, compilePathwayDocument, loadCatalogue, runtimeFrom } from '../../src/pathways/load.js';
import { loadSettings } from '../../src/settings.js';
import { at, bundle, troponin, workedUp } from '../support/cases.js';

type Json = Record<string, unknown>;
const original = (): Json => JSON.parse(readFileSync(join(PATHWAYS_DIR, 'chart2.json'), 'utf8')) as Json;
const cardsOf = (doc: Json): Json => doc['cards'] as Json;
const outcomesOf = (doc: Json): Record<string, Json> => cardsOf(doc)['outcomes'] as Record<string, Json>;

async function runtimeOf(doc: Json) {
  const pathway = await compilePathwayDocument(doc, JSON.stringify(doc), 'chart2-copy.json');
  return runtimeFrom(pathway, loadCatalogue(), loadSettings({ object: {} }));
}

/** The load error for a changed copy of the pathway: its message and the field it names. */
async function loadError(change: (doc: Json) => void): Promise<{ message: string; field: string }> {
  const doc = original();
  change(doc);
  try {
    await compilePathwayDocument(doc, JSON.stringify(doc), 'chart2-copy.json');
  } catch (e) {
    if (!isTnpError(e) || e.code !== 'TNP_ERR_PATHWAY_INVALID') throw e;
    return { message: e.message, field: e.expression?.[0] ?? '' };
  }
  throw new Error('the changed pathway loaded');
}

describe('the card says the pathway file\'s numbers', () => {
  it('a copy with a 2-hour retest and a 25% threshold: the summary, next step, assay line and order say so', async () => {
    const doc = original();
    const settings = doc['settings'] as Json;
    settings['retestIntervalMinutes'] = 120;
    settings['changeThresholdPercent'] = '25';
    const rt = await runtimeOf(doc);
    const resources = [...workedUp(), troponin(8, 0)];
    const decision = await decide(rt, bundle(...resources), { now: at(30), encounterId: null });
    expect(decision.retestDue).toBe(at(120));
    const [card] = cardsFor(decision, { newId: () => '00000000-0000-4000-8000-000000000001', publicBaseUrl: 'https://cds.example.org', displayTimeZone: 'Europe/London', auditId: null, runtime: rt, resources });
    expect(card!.summary).toBe('Retest hs-troponin due 11:00 (Europe/London)');
    expect(card!.detail).toContain('**Next step:** Take the repeat hs-troponin at 11:00, 2 hours after the baseline, with the same assay.');
    expect(card!.detail).toContain('change threshold 25%.');
    expect(card!.detail).not.toMatch(/\b3 hours\b|\b3 h\b|20%|180/);
    const order = card!.suggestions![0]!;
    expect(order.label).toBe('Order repeat hs-troponin for 11:00 (Europe/London)');
    const sr = order.actions![0]!.resource as { code: { text: string }; reasonCode: { text: string }[] };
    expect(sr.code.text).toBe('High-sensitivity troponin (repeat at 2 hours)');
    expect(sr.reasonCode[0]!.text).toContain('2 hours after the baseline');
    expect(JSON.stringify(card)).not.toMatch(/3 hours/);
  });

  it('a 90-minute interval reads 1.5 hours; the shipped file reads 3 hours', async () => {
    const doc = original();
    (doc['settings'] as Json)['retestIntervalMinutes'] = 90;
    const rt = await runtimeOf(doc);
    const decision = await decide(rt, bundle(...workedUp(), troponin(8, 0)), { now: at(100), encounterId: null });
    const [card] = cardsFor(decision, { newId: () => 'id', publicBaseUrl: 'https://cds.example.org', displayTimeZone: 'Europe/London', auditId: null, runtime: rt });
    expect(card!.summary).toBe('Retest hs-troponin now: it was due 10:30 (Europe/London)');
    expect(card!.detail).toContain('1.5 hours after the baseline');
    const shipped = await runtimeOf(original());
    const d3 = await decide(shipped, bundle(...workedUp(), troponin(8, 0)), { now: at(30), encounterId: null });
    expect(cardsFor(d3, { newId: () => 'id', publicBaseUrl: 'https://x.example', displayTimeZone: 'Europe/London', auditId: null, runtime: shipped })[0]!.detail).toContain('3 hours after the baseline');
  });

  it('changed wording in the file is the wording on the card', async () => {
    const doc = original();
    outcomesOf(doc)['consistent-with-mi']!['summary'] = 'Rise and fall of troponin: myocardial infarction likely';
    const rt = await runtimeOf(doc);
    const resources = [...workedUp(), troponin(8, 0), troponin(31, 190)];
    const decision = await decide(rt, bundle(...resources), { now: at(200), encounterId: null });
    expect(cardsFor(decision, { newId: () => 'id', publicBaseUrl: 'https://x.example', displayTimeZone: 'Europe/London', auditId: null, runtime: rt })[0]!.summary).toBe('Rise and fall of troponin: myocardial infarction likely');
  });
});

describe('validation at load', () => {
  it('refuses a pathway with no cards section', async () => {
    const e = await loadError((doc) => delete doc['cards']);
    expect(e.field).toBe('cards');
    expect(e.message).toMatch(/no "cards" section/);
  });

  it('refuses a reachable outcome with no card text, naming it', async () => {
    const e = await loadError((doc) => delete outcomesOf(doc)['low-risk-pathway']);
    expect(e.field).toBe('cards.outcomes.low-risk-pathway');
    expect(e.message).toMatch(/outcome "low-risk-pathway" can be reached but has no card text/);
  });

  it('refuses card text for an outcome the pathway does not have', async () => {
    const e = await loadError((doc) => (outcomesOf(doc)['rule-out'] = { summary: 'x', nextStep: 'y' }));
    expect(e.field).toBe('cards.outcomes.rule-out');
    expect(e.message).toMatch(/not an outcome of this pathway/);
  });

  it('refuses an unknown placeholder, naming the field and the placeholders allowed there', async () => {
    const e = await loadError((doc) => (outcomesOf(doc)['consistent-with-mi']!['nextStep'] = 'Refer within {retestInterval} hours.'));
    expect(e.field).toBe('cards.outcomes.consistent-with-mi.nextStep');
    expect(e.message).toMatch(/unknown placeholder \{retestInterval\}.*\{retestIntervalHours\}/);
  });

  it('refuses a placeholder the decision may not provide there (the retest time outside a variant that has one)', async () => {
    const e = await loadError((doc) => (outcomesOf(doc)['awaiting-retest']!['summary'] = 'Retest due {retestDue}'));
    expect(e.field).toBe('cards.outcomes.awaiting-retest.summary');
    expect(e.message).toMatch(/unknown placeholder \{retestDue\}/);
    const v = await loadError((doc) => ((outcomesOf(doc)['needs-input']!['variants'] as Json[])[2]!['nextStep'] = 'Retest at {retestDue}.'));
    expect(v.field).toBe('cards.outcomes.needs-input.variants[2].nextStep');
  });

  it('refuses a missing item of the graph with no words, a link in a summary, and stray braces', async () => {
    expect((await loadError((doc) => delete (cardsOf(doc)['missingItems'] as Json)['ecg-lbbb-new'])).field).toBe('cards.missingItems.ecg-lbbb-new');
    expect((await loadError((doc) => (outcomesOf(doc)['indeterminate']!['summary'] = 'See {rulesUrl}'))).message).toMatch(/unknown placeholder \{rulesUrl\}/);
    expect((await loadError((doc) => (outcomesOf(doc)['indeterminate']!['nextStep'] = 'Review {now'))).message).toMatch(/"\{" without "\}"/);
    expect((await loadError((doc) => (outcomesOf(doc)['indeterminate']!['nextStep'] = 'Review} now'))).message).toMatch(/"\}" without "\{"/);
  });

  it('the schema refuses an unknown key in the cards section', async () => {
    const e = await loadError((doc) => (cardsOf(doc)['colour'] = 'red'));
    expect(e.message).toMatch(/colour|additional/i);
  });

  it('compiles the shipped file: every outcome it can reach has text', () => {
    const text = compileCardText(original());
    expect([...text.outcomes.keys()].sort()).toEqual(Object.keys(original()['outcomes'] as Json).sort());
  });
});

describe('templates', () => {
  it('compile once into parts, fill with escaped values, and refuse names not allowed', () => {
    const t = compileTemplate('Due {retestDue} ({timeZone}).', new Set(['retestDue', 'timeZone']), 'f');
    expect(t.texts).toEqual(['Due ', ' (', ').']);
    expect(t.names).toEqual(['retestDue', 'timeZone']);
    expect(fill(t, { retestDue: '12:00', timeZone: 'Europe/London' })).toBe('Due 12:00 (Europe/London).');
    expect(fill(t, { retestDue: '*', timeZone: 'x' }, (v) => v.replace('*', '\\*'))).toBe('Due \\* (x).');
    expect(() => compileTemplate('{nope}', new Set(['retestDue']), 'f')).toThrow(TemplateProblem);
    expect(() => compileTemplate('{ retestDue }', new Set(['retestDue']), 'f')).toThrow(/not a placeholder/);
    expect(() => fill(t, { timeZone: 'x' })).toThrow(/no value for \{retestDue\}/);
  });
});
