/**
 * A site's copy of Chart 2 with another change threshold (25% for 20%) and retest interval (2 hours for 3),
 * run by the real service (buildApp over real HTTP, the copy's folder as the pathway folder): the engine
 * decides with the new numbers (a 22% change is no change; a retest at 2 hours is on time), and everything
 * a person reads says them: the CDS card, the decision's summary and trace in the audit record, the
 * discovery document, and the console's API (the pathway it draws the chart and rules from, its
 * evaluation with the chart's annotations, and its map), and the rules page's table of the file's
 * thresholds. Nothing of these says 20%, 3 h or 180 minutes (the rules page's written specification
 * is the shipped pathway's: the table above it says the file decides).
 */
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from 'fhir/r4.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATHWAYS_DIR } from '../../src/pathways/load.js';
import type { CardView, EvaluateResponse, PathwayResponse } from '../../src/console/web/api-types.js';
import { at, bundle, run, troponin, workedUp } from '../support/cases.js';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { admin, call, DISCOVERY_PATH, EHR_ISS, hookBody, searchset, SERVICE_PATH, startApp, type RunningApp, type WireJson } from '../support/cds-app.js';

/** The old numbers, in any of the forms a person would read them. */
const OLD_NUMBERS = /\b20 ?%|\b3 ?h\b|\b3 hours?\b|\b3-hour\b|\b180\b/;

/** A copy of the shipped pathways folder whose chart2.json has a 25% threshold and a 120-minute retest. */
function changedFolder(): { dir: string; sha256: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tnp-pathways-'));
  for (const f of readdirSync(PATHWAYS_DIR)) if (f.endsWith('.json')) copyFileSync(join(PATHWAYS_DIR, f), join(dir, f));
  const doc = JSON.parse(readFileSync(join(PATHWAYS_DIR, 'chart2.json'), 'utf8')) as { settings: Record<string, unknown> };
  expect(doc.settings['changeThresholdPercent']).toBe('20');
  expect(doc.settings['retestIntervalMinutes']).toBe(180);
  doc.settings['changeThresholdPercent'] = '25';
  doc.settings['retestIntervalMinutes'] = 120;
  const bytes = `${JSON.stringify(doc, null, 2)}\n`;
  writeFileSync(join(dir, 'chart2.json'), bytes);
  return { dir, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** What a person reads of the answers: the card (without its signed console link), the audit record's body, the console's evaluation. */
function readable(card: CardView, record: WireJson, console: EvaluateResponse): string[] {
  return [JSON.stringify({ ...card, links: undefined }), JSON.stringify(record.body), JSON.stringify(console)];
}

/** Everything of the pathway file a person reads, without its evidence (the sources' own words and numbers). */
function withoutEvidence(p: PathwayResponse['pathway']): unknown {
  return { ...p, evidence: undefined };
}

describe('a copy of Chart 2 with a 25% threshold and a 2-hour retest, run by the service', () => {
  let now = Date.parse(at(30));
  const clock = (): Date => new Date(now);
  let ehr: CdsTestClient;
  let app: RunningApp;
  let sha256 = '';

  beforeAll(async () => {
    const folder = changedFolder();
    sha256 = folder.sha256;
    ehr = await createCdsClient({ iss: EHR_ISS, alg: 'RS384', now: clock });
    app = await startApp({ clients: [ehr], now: clock, pathwaysDir: folder.dir, settings: { pathway: 'chart2' } });
  });
  afterAll(async () => {
    await app?.close();
  });

  /** The CDS answer, its audit record and the console's evaluation of the same case at `minutes` after the baseline. */
  async function evaluate(resources: Resource[], minutes: number): Promise<{ card: CardView; record: WireJson; console: EvaluateResponse }> {
    now = Date.parse(at(minutes));
    const observations = resources.filter((r) => r.resourceType === 'Observation');
    const cds = await call(app, ehr, 'POST', SERVICE_PATH, { ...hookBody('p1'), prefetch: { observations: searchset(observations) } });
    expect(cds.status, cds.text).toBe(200);
    const card = (cds.json.cards as CardView[])[0] as CardView;
    const ext = card.extension?.['hs-troponin-cds'] as { auditId: string; pathway: { sha256: string } };
    expect(ext.pathway.sha256).toBe(sha256);
    const record = await admin(app, `/audit/${ext.auditId}`);
    expect(record.status).toBe(200);
    expect(record.json.body.pathway.sha256).toBe(sha256);
    const res = await fetch(`${app.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle: bundle(...resources), now: at(minutes) }) });
    expect(res.status).toBe(200);
    return { card, record: record.json, console: (await res.json()) as EvaluateResponse };
  }

  it('the discovery document and the console\'s pathway say 25% and 2 hours, and name the copy by its sha256', async () => {
    const d = await call(app, ehr, 'GET', DISCOVERY_PATH);
    expect(d.status).toBe(200);
    const service = d.json.services[0];
    expect(service.description).toContain('a retest at 2 hours with a 25% change rule');
    expect(service.extension['hs-troponin-cds'].pathway).toEqual({ id: 'chart2', version: expect.any(String), sha256 });
    expect(JSON.stringify(service)).not.toMatch(OLD_NUMBERS);

    const res = await fetch(`${app.url}/console/api/pathway`);
    const body = (await res.json()) as PathwayResponse;
    expect(body.identity.sha256).toBe(sha256);
    const p = body.pathway;
    // The chart's nodes and branches, the outcome labels and the classification rules: the copy's numbers.
    expect(p.graph.nodes.find((n) => n.id === 'retest-below')?.label).toBe('Retest in 2 hours');
    expect(p.graph.nodes.find((n) => n.id === 'awaiting-retest')?.label).toBe('Awaiting the 2-hour retest');
    expect(p.graph.edges.find((e) => e.id === 'above-not-consistent')?.label).toBe('Change < 25%');
    expect(p.graph.edges.find((e) => e.id === 'below-consistent')?.label).toBe('Rise ≥ 25% to > URL');
    expect(p.outcomes['awaiting-retest']?.label).toBe('Retest in 2 hours');
    expect(JSON.stringify(p.classification)).toContain('a change of 25% or more (rise or fall)');
    expect(JSON.stringify(withoutEvidence(p))).not.toMatch(OLD_NUMBERS);
  });

  it('a baseline alone: the retest is due 2 hours after it, on the card, the summary, the trace and the console', async () => {
    const resources = [...workedUp(), troponin(8, 0)];
    const { card, record, console } = await evaluate(resources, 30);
    expect(record.body.outcome).toBe('awaiting-retest');
    expect(record.body.retestDue).toBe(at(120));
    expect(card.summary).toBe('Retest hs-troponin due 11:00 (Europe/London)');
    expect(card.detail).toContain('2 hours after the baseline');
    expect(card.detail).toContain('change threshold 25%');
    expect(record.body.summary).toBe(`Retest high-sensitivity troponin due at ${at(120)} (baseline + 2 h).`);
    expect(JSON.stringify(record.body.trace)).toContain('(baseline + 120 min)');
    expect(console.decision.summary).toBe(record.body.summary);
    expect(console.cards[0]?.summary).toBe(card.summary);
    for (const text of readable(card, record, console)) expect(text).not.toMatch(OLD_NUMBERS);
  });

  it('a retest 2 hours after the baseline is on time: it is classified, not noted as early', async () => {
    const resources = [...workedUp(), troponin(8, 0), troponin(8.5, 120)];
    const { card, record, console } = await evaluate(resources, 130);
    expect(record.body.outcome).toBe('not-consistent-with-mi');
    expect(record.body.troponin.later[0]).toMatchObject({ role: 'retest', minutesAfterBaseline: '120' });
    expect(console.decision.outcome).toBe('not-consistent-with-mi');
    expect(JSON.stringify(record.body.trace)).toContain('change under 25%');
    expect(console.annotations?.['retest-below']?.join(' ')).toContain('retest 8.5 ng/L at +120 min');
    for (const text of readable(card, record, console)) expect(text).not.toMatch(OLD_NUMBERS);
  });

  it('a 22% change from a baseline above the URL is no change at 25%: not consistent with MI (the shipped 20% would say consistent)', async () => {
    const resources = [...workedUp(), troponin(20, 0), troponin(24.4, 125)];
    // The shipped pathway (20%, 3 hours), at 3 hours: the same change counts.
    expect((await run([...workedUp(), troponin(20, 0), troponin(24.4, 185)], 190)).outcome).toBe('consistent-with-mi');
    const { card, record, console } = await evaluate(resources, 130);
    expect(record.body.troponin.later[0]).toMatchObject({ role: 'retest', changePercent: '+22' });
    expect(record.body.outcome).toBe('not-consistent-with-mi');
    expect(record.body.indicator).toBe('warning');
    expect(card.indicator).toBe('warning');
    expect(record.body.summary).toBe('Not consistent with MI, but the baseline was above the URL: consider other causes of myocardial injury.');
    expect(JSON.stringify(record.body.trace)).toContain('Baseline above the URL; change under 25%');
    expect(console.decision.outcome).toBe('not-consistent-with-mi');
    for (const text of readable(card, record, console)) expect(text).not.toMatch(OLD_NUMBERS);
  });

  it('the console\'s rules page lists the file\'s thresholds with their values and evidence', async () => {
    const res = await fetch(`${app.url}/console/rules`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/<code>\/settings\/changeThresholdPercent<\/code><\/td>\s*<td><code>&quot;25&quot;<\/code><\/td>\s*<td>S37: /);
    expect(html).toMatch(/<code>\/settings\/retestIntervalMinutes<\/code><\/td>\s*<td><code>120<\/code><\/td>\s*<td>S1: /);
  });

  it('the console\'s map is drawn with 25% lines and a 2-hour retest', async () => {
    const res = await fetch(`${app.url}/console/api/map`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ assay: 'roche-elecsys-hs-tnt', baseline: '20', timi: 2 }) });
    expect(res.status).toBe(200);
    const m = (await res.json()) as { thresholdPercent: string; retestIntervalMinutes: number; lines: { fall: string; rise: string } };
    expect(m.thresholdPercent).toBe('25');
    expect(m.retestIntervalMinutes).toBe(120);
    expect(m.lines).toMatchObject({ fall: '15', rise: '25' });
  });
});
