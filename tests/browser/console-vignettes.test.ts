/**
 * Issue 8's acceptance, "every worked vignette of the three new specs passes by the console", through the
 * console page in real Chromium as a clinician works it: the site runs the pathway (settings `pathway`,
 * one per site), the page is opened, and each vignette of fhir-fixtures/<pathway>/ is entered into the
 * case form (the chest-pain onset included) when the form can say everything the vignette holds, or else
 * loaded from the scenario library and evaluated again from "Paste FHIR"; then Evaluate, and the outcome
 * the page shows is read from its outcome banner and checked against the vignette's.
 *
 * A vignette goes by the form only when the form writes the same inputs (one ECG, at most one onset that
 * the pathway used, troponin results of one catalogued assay in the form's units and statuses, times on
 * the minute); the others (several onsets, periods, dates alone, pending results, versions, TIMI, other
 * codings) go by the library; a failure says which way it went, and why the form could not say it.
 *
 * One browser and one page for every vignette (a page load per pathway); no fixed waits: each step waits
 * for the outcome banner (or the form's problems, which fail the test with what they say).
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AssayView, PathwayResponse } from '../../src/console/web/api-types.js';
import { instantOf, wallTime } from '../../src/console/web/time.js';
import { chromiumAvailable, CHROMIUM_PATH, launchChromium, startConsole, watchPage, type ConsoleApp, type PageWatch } from '../support/browser.js';
import { requireService } from '../support/services.js';
import { folderFixtureNames, loadPathwayFixture, type PathwayFixture } from '../support/vignettes.js';

const run = requireService(`Chromium at ${CHROMIUM_PATH}`, chromiumAvailable(), 'apt-get install chromium, or set CHROMIUM_PATH');
const PATHWAYS = ['esc-0h1h', 'esc-0h2h', 'high-steacs'] as const;
const WAIT = { timeout: 30_000 };
const UCUM = 'http://unitsofmeasure.org';
const PRODUCT = 'http://hs-troponin-cds.example/fhir/CodeSystem/chest-pain';
const FORM_UNITS = ['ng/L', 'pg/mL', 'ng/mL', 'ug/L'];
const FORM_STATUSES = ['final', 'amended', 'corrected', 'preliminary', 'registered', 'cancelled', 'entered-in-error'];
const ECG_OPTIONS: Readonly<Record<string, string>> = {
  [`${PRODUCT}|stemi-or-new-lbbb`]: 'stemi-or-new-lbbb',
  [`${PRODUCT}|no-stemi-or-new-lbbb`]: 'no-stemi-or-new-lbbb',
  'http://snomed.info/sct|164909002': 'lbbb-age-unknown',
};

type Json = Record<string, unknown>;

/** What a clinician types into the form for a vignette: times as the site's clock shows them. */
interface FormCase {
  readonly now: string;
  readonly ecg: { readonly finding: string; readonly at: string } | null;
  readonly sex: string;
  readonly onset: string | null;
  readonly assay: string;
  readonly results: readonly { readonly value: string; readonly comparator: string; readonly unit: string; readonly drawn: string; readonly status: string }[];
}

const codingsOf = (r: Json): { system?: string; code?: string }[] => ((r['code'] as { coding?: { system?: string; code?: string }[] } | undefined)?.coding ?? []);
const valueKeys = (r: Json): string[] => Object.keys(r).filter((k) => k.startsWith('value'));

/** The form's entry for a vignette, or why the form cannot say what the vignette holds. */
function formCaseOf(f: PathwayFixture, assays: readonly AssayView[], zone: string): FormCase | string {
  const wall = (iso: unknown): string | null => {
    const ms = typeof iso === 'string' && /[Zz]|[+-]\d{2}:\d{2}$/.test(iso) ? Date.parse(iso) : Number.NaN;
    if (!Number.isFinite(ms) || ms % 60_000 !== 0) return null;
    const w = wallTime(ms, zone);
    const back = instantOf(w, zone);
    return back.ok && back.ms === ms ? w : null;
  };
  if (f.expected.settings?.['sexSpecificUrls'] !== undefined || f.expected.encounter !== undefined) return 'settings or an encounter of its own';
  const now = wall(f.expected.now);
  if (now === null) return 'an evaluation time off the minute';
  let ecg: FormCase['ecg'] = null;
  let sex = '';
  let onset: string | null = null;
  let assay: AssayView | undefined;
  const results: FormCase['results'][number][] = [];
  const ids = new Set<string>();
  for (const r of (f.doc as { entry: { resource: Json }[] }).entry.map((e) => e.resource)) {
    if (r['resourceType'] === 'Patient') {
      sex = typeof r['gender'] === 'string' ? r['gender'] : 'unknown';
      continue;
    }
    if (r['resourceType'] !== 'Observation') return `a ${String(r['resourceType'])}`;
    const codings = codingsOf(r);
    const [c] = codings;
    if (codings.length !== 1 || c === undefined) return 'an observation with several codings';
    for (const id of [r['id'], ...((r['identifier'] as { value?: string }[] | undefined) ?? []).map((i) => i.value)]) {
      if (typeof id !== 'string') continue;
      if (ids.has(id)) return 'versions of one result';
      ids.add(id);
    }
    const at = wall(r['effectiveDateTime']);
    if (c.system === 'http://loinc.org' && c.code === '8601-7') {
      const value = (r['valueCodeableConcept'] as { coding?: { system?: string; code?: string }[] } | undefined)?.coding ?? [];
      const finding = value.length === 1 ? ECG_OPTIONS[`${value[0]?.system ?? ''}|${value[0]?.code ?? ''}`] : undefined;
      if (ecg !== null || r['status'] !== 'final' || at === null || finding === undefined || valueKeys(r).length !== 1) return 'an ECG the form does not write';
      ecg = { finding, at };
    } else if (c.system === PRODUCT && c.code === 'chest-pain-onset') {
      const value = wall(r['valueDateTime']);
      const used = f.expected.onset?.basis === 'recorded' && Date.parse(f.expected.onset.time ?? '') === Date.parse(String(r['valueDateTime']));
      if (onset !== null || r['status'] !== 'final' || value === null || valueKeys(r).length !== 1 || !used) return 'an onset the form does not write (a period, a date, several, or one not used)';
      onset = value;
    } else {
      const a = assays.find((x) => x.codings.some((k) => k.system === c.system && k.code === c.code));
      const written = a === undefined ? undefined : (a.codings.find((k) => k.system === 'http://loinc.org') ?? a.codings[0]);
      if (a === undefined || written === undefined || written.system !== c.system || written.code !== c.code) return 'a result the form codes otherwise (or not a troponin of the catalogue)';
      if (assay !== undefined && assay !== a) return 'results of two assays';
      assay = a;
      const q = r['valueQuantity'] as Json | undefined;
      const value = typeof q?.['value'] === 'number' ? String(q['value']) : '';
      const comparator = typeof q?.['comparator'] === 'string' ? q['comparator'] : q?.['comparator'] === undefined ? '' : '?';
      const ucum = q?.['system'] === UCUM && q['code'] === q['unit'] && FORM_UNITS.includes(String(q['code']));
      const microgram = q?.['unit'] === 'µg/L' && q['system'] === undefined && q['code'] === undefined;
      if (q === undefined || !/^\d+(\.\d+)?$/.test(value) || !['', '<', '<=', '>', '>='].includes(comparator) || !(ucum || microgram)) return 'a value the form does not write';
      if (!FORM_STATUSES.includes(String(r['status'])) || at === null || valueKeys(r).length !== 1 || r['dataAbsentReason'] !== undefined) return 'a result the form does not write';
      results.push({ value, comparator, unit: String(q['unit']), drawn: at, status: String(r['status']) });
    }
  }
  if (assay === undefined || results.length === 0) return 'no troponin result';
  return { now, ecg, sex, onset, assay: assay.id, results };
}

describe.runIf(run)('every worked vignette of the ESC and High-STEACS contracts, through the console page', () => {
  let browser: Browser;
  let page: Page;
  let watch: PageWatch;

  beforeAll(async () => {
    browser = await launchChromium();
    // The browser's zone is not the site's: the form works in the site's (Europe/London).
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB', timezoneId: 'Pacific/Auckland' });
    page = await context.newPage();
    // Every app of this suite is on 127.0.0.1: nothing may be asked of anywhere else.
    watch = watchPage(page, 'http://127.0.0.1:');
  });
  afterAll(async () => {
    await browser?.close();
    expect(watch?.problems ?? [], 'no console errors, no failed requests, nothing outside the service').toEqual([]);
  });

  /** Runs an evaluation and reads the outcome the page then shows (the banner is emptied first). */
  async function shownOutcome(submit: string): Promise<string> {
    await page.evaluate("document.getElementById('outcome-banner').replaceChildren()");
    await page.click(submit);
    await page.waitForSelector('#outcome-banner .outcome-chip, #form-errors:not([hidden]), #global-error:not([hidden])', WAIT);
    for (const box of ['#form-errors', '#global-error']) {
      if (await page.isVisible(box)) throw new Error(`the page says: ${(await page.textContent(box)) ?? ''}`);
    }
    expect(((await page.textContent('#outcome-label')) ?? '').trim()).not.toBe('');
    return (await page.getAttribute('#outcome-banner .outcome-chip', 'data-outcome')) ?? '';
  }

  async function enter(c: FormCase): Promise<void> {
    await page.click('#tab-form');
    await page.evaluate("document.getElementById('case-form').reset()");
    await page.fill('#eval-at', c.now);
    await page.selectOption('#ecg', c.ecg?.finding ?? 'none');
    if (c.ecg !== null) await page.fill('#ecg-at', c.ecg.at);
    // These pathways read no TIMI score: the form does not ask for one (console-timi.test.ts).
    expect(await page.isHidden('#timi')).toBe(true);
    await page.selectOption('#sex', c.sex);
    await page.selectOption('#assay', c.assay);
    if (c.onset !== null) await page.fill('#onset', c.onset);
    while ((await page.$$('#result-rows > li')).length < c.results.length) await page.click('#add-result');
    for (const [i, r] of c.results.entries()) {
      const row = `#result-rows > li:nth-child(${i + 1})`;
      await page.selectOption(`${row} select[id$="-comparator"]`, r.comparator);
      await page.fill(`${row} input.col-value`, r.value);
      await page.selectOption(`${row} select.col-unit`, r.unit);
      await page.fill(`${row} input.col-drawn`, r.drawn);
      await page.selectOption(`${row} select[id$="-status"]`, r.status);
    }
  }

  for (const pathway of PATHWAYS) {
    describe(pathway, () => {
      const fixtures = folderFixtureNames(pathway).map((n) => loadPathwayFixture(pathway, n));
      // The site settings the vignettes name (a site assay without cut-offs), merged: one site.
      const site: Json = {};
      for (const f of fixtures) Object.assign(site, f.expected.settings ?? {});
      delete site['sexSpecificUrls'];
      let app: ConsoleApp;
      let assays: readonly AssayView[] = [];

      beforeAll(async () => {
        app = await startConsole({ ...site, pathway }, { now: () => new Date('2026-11-27T10:10:00Z') });
        assays = ((await (await fetch(`${app.url}/console/api/pathway`)).json()) as PathwayResponse).assays;
        await page.goto(`${app.url}/console`);
        await page.waitForSelector('body[data-ready="true"]', { timeout: 90_000 });
        expect(await page.isVisible('#onset'), 'the pathway reads the onset: the form asks for it').toBe(true);
      });
      afterAll(async () => {
        await app?.close();
      });

      it('enters at least the vignettes whose onset decides by the form', () => {
        const byForm = fixtures.filter((f) => typeof formCaseOf(f, assays, app.settings.displayTimeZone) !== 'string');
        expect(byForm.length).toBeGreaterThan(fixtures.length / 2);
        expect(byForm.some((f) => f.expected.onset?.basis === 'recorded')).toBe(true);
      });

      for (const f of fixtures) {
        it(`${f.name}: ${f.expected.outcome}`, async () => {
          const c = formCaseOf(f, assays, app.settings.displayTimeZone);
          if (typeof c !== 'string') {
            await enter(c);
            expect(await shownOutcome('#evaluate'), `${f.name}, entered in the form`).toBe(f.expected.outcome);
            return;
          }
          // By the scenario library: loaded and shown, then evaluated again from "Paste FHIR".
          await page.click('#tab-fixture');
          await page.selectOption('#fixture-select', f.name);
          expect(await shownOutcome('#fixture-load'), `${f.name}, loaded from the library (${c})`).toBe(f.expected.outcome);
          await page.click('#tab-paste');
          expect(await shownOutcome('#paste-evaluate'), `${f.name}, evaluated from "Paste FHIR" (${c})`).toBe(f.expected.outcome);
        });
      }
    });
  }
});
