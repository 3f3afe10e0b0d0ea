/**
 * H-65 and S-60: a card's console link carries the chest-pain onset (esc-0h1h-0h2h.md rule 4; high-steacs.md
 * rule 4), signed with the rest of the case, so that the console decides as the card did for an early
 * presenter; and the link stays within its 8 kB bound however many onsets a record holds (10x and 1,000x),
 * keeping the onset the decision used when it is summarised.
 */
import type { Resource } from 'fhir/r4.js';
import { describe, expect, it } from 'vitest';
import { caseLinkUrl, MAX_LINK_LENGTH, readCaseParam } from '../../src/cds/case-link-codec.js';
import { caseToResources } from '../../src/cds/case-resources.js';
import { decideResources } from '../../src/decide.js';
import { extractResources } from '../../src/fhir/mapping.js';
import { runtime } from '../support/cases.js';
import { loadPathwayFixture } from '../support/vignettes.js';

const KEY = Buffer.from('a-key-for-signing-onset-case-links');
const ONSET_CODE = { system: 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain', code: 'chest-pain-onset' };

async function throughLink(pathway: string, resources: Resource[], now: string) {
  const rt = await runtime({ pathway });
  const card = await decideResources(rt, resources, { now });
  const url = caseLinkUrl({ publicBaseUrl: 'https://cds.example', key: KEY, resources, decision: card, runtime: rt, encounterId: null });
  const read = readCaseParam(new URLSearchParams(new URL(url).hash.slice(1)).get('case') ?? '', KEY);
  const rebuilt = caseToResources(read.case);
  const opened = await decideResources(rt, rebuilt.resources, { now: rebuilt.now, encounterId: rebuilt.encounterId });
  return { rt, url, read, card, rebuilt, opened };
}

/** Minutes from the onset the decision used to its 0 h draw. */
function onsetMinutes(d: Awaited<ReturnType<typeof decideResources>>): number | null {
  if (d.onset === undefined || d.onset.time === null || d.troponin.baseline === null) return null;
  return (Date.parse(d.troponin.baseline.drawTime) - Date.parse(d.onset.time)) / 60_000;
}

const isOnset = (r: unknown): boolean => JSON.stringify((r as { code?: unknown }).code ?? null).includes('chest-pain-onset');

describe('a card link carries the chest-pain onset (H-65)', () => {
  it('an early presenter (onset 2 h before the 0 h draw, ESC 0 h/1 h pair rule-out): the link decides rule-out, as the card; without the onset it would not', async () => {
    const f = loadPathwayFixture('esc-0h1h', 'esc1-pair-rule-out');
    const { card, opened, rebuilt, rt } = await throughLink('esc-0h1h', extractResources(f.doc), f.expected.now);
    expect(card.outcome).toBe('rule-out');
    expect(opened.outcome).toBe(card.outcome);
    expect(opened.onset).toEqual({ time: expect.any(String), basis: 'recorded' });
    expect(onsetMinutes(opened)).toBe(120);
    // The onset is what keeps it a rule-out: the same case without it is an early presenter, awaiting the 3 h sample.
    const withoutOnset = await decideResources(rt, rebuilt.resources.filter((r) => !isOnset(r)), { now: rebuilt.now });
    expect(withoutOnset.outcome).toBe('awaiting-retest');
  });

  it('High-STEACS, onset 3 h 1 min before the presentation sample: the single-sample rule-out survives the link', async () => {
    const f = loadPathwayFixture('high-steacs', 'hs-onset-3h-1min');
    const { card, opened } = await throughLink('high-steacs', extractResources(f.doc), f.expected.now);
    expect({ outcome: opened.outcome, minutes: onsetMinutes(opened) }).toEqual({ outcome: card.outcome, minutes: 181 });
    expect(card.outcome).toBe('rule-out');
  });

  for (const n of [10, 1000]) {
    it(`${n} recorded onsets (${n === 10 ? '10x' : '1,000x'} a record's one): the link is at most ${MAX_LINK_LENGTH} characters and keeps the onset the card used`, async () => {
      const f = loadPathwayFixture('esc-0h1h', 'esc1-pair-rule-out');
      const resources = extractResources(f.doc);
      const { identifier: _identifier, ...real } = resources.find(isOnset) as unknown as Record<string, unknown>;
      // Earlier onsets, each its own record: the latest (the real one, 2 h before) counts (rule 4).
      const more = Array.from({ length: n }, (_, i) => ({
        ...real,
        id: `onset-extra-${i}`,
        code: { coding: [ONSET_CODE] },
        valueDateTime: new Date(Date.parse(String(real['valueDateTime'])) - (i + 1) * 60_000).toISOString(),
      })) as unknown as Resource[];
      const { url, read, card, opened } = await throughLink('esc-0h1h', [...resources, ...more], f.expected.now);
      expect(url.length).toBeLessThanOrEqual(MAX_LINK_LENGTH);
      expect(card.outcome).toBe('rule-out');
      expect(opened.outcome).toBe(card.outcome);
      expect(onsetMinutes(opened)).toBe(onsetMinutes(card));
      if (n === 1000) {
        expect(read.case.summary?.dropped.onset ?? 0).toBeGreaterThan(0);
        expect(read.case.summary?.observations).toBe(resources.filter((r) => r.resourceType === 'Observation').length + n);
      } else {
        expect(read.case.summary).toBeUndefined();
        expect(read.case.observations.filter((o) => o.dt !== undefined)).toHaveLength(n + 1);
      }
    });
  }
});
