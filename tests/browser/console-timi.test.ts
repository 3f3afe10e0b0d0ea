/**
 * The TIMI risk score in the console's case form, in real Chromium (playwright-core, the system's
 * /usr/bin/chromium):
 *
 * - the form asks for it only when the pathway file reads it (its `inputs.timi`: Chart 2), like the
 *   chest-pain onset; on the pathways that read none (ESC 0 h/1 h, ESC 0 h/2 h, High-STEACS) it is hidden,
 *   never named as missing, and no TIMI Observation is sent; a worked vignette entered without it
 *   decides as its fixture does;
 * - on Chart 2 it is still needed: left empty, Evaluate names it in the card's words; the sex stays
 *   asked for on every pathway;
 * - axe-core finds no serious or critical violation and the page does not scroll sideways, at 1280 and
 *   390 px (screenshots in /tmp/console-shots/timi-*.png).
 */
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, chromiumAvailable, CHROMIUM_PATH, launchChromium, startConsole, watchPage, type PageWatch } from '../support/browser.js';
import { requireService } from '../support/services.js';
import { loadPathwayFixture } from '../support/vignettes.js';

const run = requireService(`Chromium at ${CHROMIUM_PATH}`, chromiumAvailable(), 'apt-get install chromium, or set CHROMIUM_PATH');
const SHOTS = '/tmp/console-shots/';
const WAIT = { timeout: 30_000 };

/** A worked vignette as a clinician types it (London is on UTC in November: clock times are the fixture's). */
interface Vignette {
  readonly pathway: string;
  readonly fixture: string;
  readonly now: string;
  readonly ecg: string;
  readonly onset: string | null;
  readonly sex: string;
  readonly assay: string;
  readonly results: readonly (readonly [string, string])[];
}

const VIGNETTES: readonly Vignette[] = [
  { pathway: 'esc-0h1h', fixture: 'esc1-pair-rule-out', now: '2026-11-27T11:05', ecg: '2026-11-27T09:45', onset: '2026-11-27T08:00', sex: '', assay: 'roche-elecsys-hs-tnt', results: [['10', '2026-11-27T10:00'], ['12', '2026-11-27T11:00']] },
  { pathway: 'esc-0h2h', fixture: 'esc2-rule-out', now: '2026-11-27T12:05', ecg: '2026-11-27T09:45', onset: '2026-11-27T08:00', sex: '', assay: 'roche-elecsys-hs-tnt', results: [['13', '2026-11-27T10:00'], ['16', '2026-11-27T12:00']] },
  { pathway: 'high-steacs', fixture: 'hs-3h-rule-out', now: '2026-11-27T13:05', ecg: '2026-11-27T09:45', onset: null, sex: 'female', assay: 'abbott-architect-hs-tni', results: [['10', '2026-11-27T10:00'], ['12.9', '2026-11-27T13:00']] },
];

describe.runIf(run)('the TIMI score in the console: asked for only when the pathway reads it', () => {
  let browser: Browser;
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function withPage(pathway: string, now: string, body: (page: Page, sent: Record<string, unknown>[][]) => Promise<void>): Promise<void> {
    const app = await startConsole({ pathway }, { now: () => new Date(`${now}:00Z`) });
    // bypassCSP only so that axe-core can be injected. The browser's zone is not the site's.
    const context: BrowserContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB', timezoneId: 'Pacific/Auckland', bypassCSP: true });
    const page = await context.newPage();
    const watch: PageWatch = watchPage(page, app.url);
    // What the form sends to the engine, one list of resources per Evaluate.
    const sent: Record<string, unknown>[][] = [];
    page.on('request', (req) => {
      if (req.method() === 'POST' && req.url().endsWith('/console/api/evaluate')) sent.push((JSON.parse(req.postData() ?? '{}') as { resources: Record<string, unknown>[] }).resources);
    });
    try {
      await page.goto(`${app.url}/console`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 90_000 });
      await body(page, sent);
    } finally {
      const problems = [...watch.problems];
      await context.close();
      await app.close();
      expect(problems, 'no console errors, no failed requests, nothing outside the service').toEqual([]);
    }
  }

  async function checkView(page: Page, name: string): Promise<void> {
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
      await page.locator('#sex').scrollIntoViewIfNeeded();
      expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'), `${name} at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
      const violations = await axeViolations(page);
      expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'), `${name} at ${width} px`).toEqual([]);
      await page.screenshot({ path: `${SHOTS}${name}-${width}.png` });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  async function evaluated(page: Page): Promise<string> {
    await page.evaluate("document.getElementById('outcome-banner').replaceChildren()");
    await page.click('#evaluate');
    await page.waitForSelector('#outcome-banner .outcome-chip, #form-errors:not([hidden])', WAIT);
    if (await page.isVisible('#form-errors')) throw new Error(`the form says: ${(await page.textContent('#form-errors')) ?? ''}`);
    return (await page.getAttribute('#outcome-banner .outcome-chip', 'data-outcome')) ?? '';
  }

  const isTimi = (r: Record<string, unknown>): boolean => JSON.stringify(r['code'] ?? {}).includes('timi');

  for (const v of VIGNETTES) {
    it(`${v.pathway} reads no TIMI score: the form does not ask for it, sends none, and ${v.fixture} decides as its fixture`, { timeout: 180_000 }, async () => {
      await withPage(v.pathway, v.now, async (page, sent) => {
        expect(await page.isHidden('#timi-fields')).toBe(true);
        expect(await page.isHidden('#timi')).toBe(true);
        expect(await page.isHidden('#timi-items')).toBe(true);
        // The sex is the patient's, not the TIMI score's: still asked for.
        expect(await page.isVisible('#sex')).toBe(true);

        // Evaluate with nothing entered: TIMI is not among what is missing.
        await page.click('#evaluate');
        await page.waitForSelector('#form-errors:not([hidden])', WAIT);
        expect(await page.textContent('#form-errors')).not.toContain('TIMI');
        expect(await page.$$('#form-errors a[href="#timi"]')).toEqual([]);

        await page.selectOption('#ecg', 'no-stemi-or-new-lbbb');
        await page.fill('#ecg-at', v.ecg);
        if (v.onset !== null) await page.fill('#onset', v.onset);
        if (v.sex !== '') await page.selectOption('#sex', v.sex);
        await page.selectOption('#assay', v.assay);
        for (const [i, [value, drawn]] of v.results.entries()) {
          const row = `#result-rows > li:nth-child(${i + 1})`;
          await page.fill(`${row} input.col-value`, value);
          await page.selectOption(`${row} select.col-unit`, 'ng/L');
          await page.fill(`${row} input.col-drawn`, drawn);
        }
        expect(await evaluated(page)).toBe(loadPathwayFixture(v.pathway, v.fixture).expected.outcome);
        const last = sent[sent.length - 1] ?? [];
        expect(last.length).toBeGreaterThan(0);
        expect(last.filter(isTimi)).toEqual([]);
        await checkView(page, `timi-${v.pathway}`);
      });
    });
  }

  it('Chart 2 reads a TIMI score: the form asks for it, needs it, and sends the score chosen', { timeout: 180_000 }, async () => {
    await withPage('chart2', '2026-03-06T14:40', async (page, sent) => {
      expect(await page.isVisible('#timi')).toBe(true);
      expect(await page.isVisible('#timi-items')).toBe(true);
      expect(await page.isVisible('#sex')).toBe(true);
      await page.selectOption('#ecg', 'no-stemi-or-new-lbbb');
      await page.fill('#ecg-at', '2026-03-06T11:15');
      await page.selectOption('#assay', 'roche-elecsys-hs-tnt');
      await page.fill('#result-rows li:nth-child(1) input.col-value', '8');
      await page.selectOption('#result-rows li:nth-child(1) select.col-unit', 'ng/L');
      await page.fill('#result-rows li:nth-child(1) input.col-drawn', '2026-03-06T11:20');
      await page.fill('#result-rows li:nth-child(2) input.col-value', '31');
      await page.selectOption('#result-rows li:nth-child(2) select.col-unit', 'ng/L');
      await page.fill('#result-rows li:nth-child(2) input.col-drawn', '2026-03-06T14:30');
      // Left empty: named as missing, in the card's words, tied to its field.
      await page.click('#evaluate');
      await page.waitForSelector('#form-errors:not([hidden])', WAIT);
      expect(await page.$$('#form-errors a[href="#timi"]')).toHaveLength(1);
      expect(await page.getAttribute('#timi', 'aria-invalid')).toBe('true');
      await checkView(page, 'timi-chart2-missing');
      // Worked out from its items: two ticked give 2.
      await page.click('#timi-items > summary');
      await page.check('input[name="timiItem"][value="age"]');
      await page.check('input[name="timiItem"][value="aspirin"]');
      expect(await page.inputValue('#timi')).toBe('2');
      expect(await evaluated(page)).toBe('consistent-with-mi');
      const timi = (sent[sent.length - 1] ?? []).filter(isTimi);
      expect(timi.map((r) => r['valueInteger'])).toEqual([2]);
      await checkView(page, 'timi-chart2');
    });
  });
});
