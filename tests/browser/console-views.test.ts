/**
 * Every console view at a ward PC's 1280 × 800 and a phone's 390 × 844, in real Chromium (playwright-core,
 * the system's /usr/bin/chromium): the form, the result, the chart, the rules page, the engineering map
 * and the adoption page. Each: axe-core finds no serious or critical violation, and the page does not
 * scroll sideways. The form starts with no clinical value; Evaluate with fields missing names each in
 * the card's words (the pathway file's); after Evaluate the outcome is in view and focused; the chart's
 * SVG fits its container with no label overlapping another. Screenshots: /tmp/console-shots/.
 *
 * No fixed waits: every step waits for a condition, with bounded timeouts (the machine is shared).
 */
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, chromiumAvailable, CHROMIUM_PATH, launchChromium, startConsole, watchPage, type ConsoleApp, type PageWatch } from '../support/browser.js';
import { requireService } from '../support/services.js';

const run = requireService(`Chromium at ${CHROMIUM_PATH}`, chromiumAvailable(), 'apt-get install chromium, or set CHROMIUM_PATH');
const SHOTS = '/tmp/console-shots/';
/** The service's clock in these tests (the form's default evaluation time): 14:40 in London. */
const NOW = '2026-03-06T14:40:00Z';
const WAIT = { timeout: 30_000 };
const SIZES = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
] as const;

interface Opened {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly watch: PageWatch;
}

describe.runIf(run)('every console view at 1280 and 390 px', () => {
  let app: ConsoleApp;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    app = await startConsole({}, { now: () => new Date(NOW) });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  const missingWords = (): Record<string, string> => (app.runtime.pathway.file as unknown as { cards: { missingItems: Record<string, string> } }).cards.missingItems;

  async function openAt(size: { width: number; height: number }, path: string, base = app.url): Promise<Opened> {
    // bypassCSP only so that axe-core's source can be injected; the page's own scripts are the same.
    // The browser's zone is not the site's: the form must use the site's (Europe/London).
    const context = await browser.newContext({ viewport: size, locale: 'en-GB', timezoneId: 'Pacific/Auckland', bypassCSP: true });
    const page = await context.newPage();
    const watch = watchPage(page, base);
    await page.goto(`${base}${path}`);
    return { context, page, watch };
  }

  async function ready(page: Page): Promise<void> {
    // Ready once the scenario library (every fixture evaluated live) and the map are in: generous on a
    // loaded machine, still bounded.
    await page.waitForSelector('body[data-ready="true"]', { timeout: 90_000 });
  }

  /** No horizontal scroll, axe-core clean (serious and critical), and a screenshot to look at. */
  async function checkView(page: Page, name: string, width: number): Promise<void> {
    expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'), `${name} at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
    const violations = await axeViolations(page);
    expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'), `${name} at ${width} px`).toEqual([]);
    await page.screenshot({ path: `${SHOTS}${name}-${width}.png`, fullPage: true });
  }

  /** The element's box against the viewport: wholly in view vertically (its top at least, when taller). */
  async function inViewport(page: Page, selector: string): Promise<boolean> {
    return page.evaluate<boolean>(`(() => { const r = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect();
      return r.height > 0 && r.top >= 0 && r.top < window.innerHeight && (r.bottom <= window.innerHeight || r.height > window.innerHeight) && r.left >= 0 && r.right <= window.innerWidth; })()`);
  }

  async function close(o: Opened): Promise<void> {
    const problems = [...o.watch.problems];
    await o.context.close();
    expect(problems, 'no console errors, no failed requests, nothing outside the service').toEqual([]);
  }

  for (const size of SIZES) {
    it(`the form at ${size.width} px: nothing clinical pre-filled; Evaluate names what is missing in the card's words; the outcome in view and focused`, { timeout: 240_000 }, async () => {
      const o = await openAt(size, '/console');
      const { page } = o;
      try {
        await ready(page);
        // No clinical value is there before someone enters it; the evaluation time is the service's now, in London.
        expect(await page.inputValue('#ecg')).toBe('');
        expect(await page.inputValue('#timi')).toBe('');
        expect(await page.inputValue('#assay')).toBe('');
        expect(await page.$$eval('#result-rows input.col-value', (els) => els.map((e) => (e as unknown as { value: string }).value))).toEqual(['', '']);
        expect(await page.$$eval('#result-rows select.col-unit', (els) => els.map((e) => (e as unknown as { value: string }).value))).toEqual(['', '']);
        expect(await page.$$eval('#result-rows input.col-drawn', (els) => els.map((e) => (e as unknown as { value: string }).value))).toEqual(['', '']);
        expect(await page.inputValue('#ecg-at')).toBe('');
        expect(await page.inputValue('#eval-at')).toBe('2026-03-06T14:40');
        expect(await page.textContent('#time-zone')).toBe('Europe/London');
        await checkView(page, 'form', size.width);

        // Evaluate with everything missing: each is named, in the card's words, and the summary has the focus.
        await page.click('#evaluate');
        await page.waitForSelector('#form-errors:not([hidden])', WAIT);
        const summary = (await page.textContent('#form-errors')) ?? '';
        const words = missingWords();
        for (const item of ['ecg', 'timi', 'assay', 'baseline-troponin']) expect(summary, item).toContain(words[item]);
        expect(await page.evaluate<string>("document.activeElement?.id ?? ''")).toBe('form-errors');
        expect(await inViewport(page, '#form-errors')).toBe(true);
        expect(await page.getAttribute('#ecg', 'aria-invalid')).toBe('true');
        await checkView(page, 'form-missing', size.width);

        // One field left out: only it is named.
        await page.selectOption('#ecg', 'no-stemi-or-new-lbbb');
        await page.fill('#ecg-at', '2026-03-06T11:15');
        await page.selectOption('#assay', 'roche-elecsys-hs-tnt');
        await page.fill('#result-rows li:nth-child(1) input.col-value', '8');
        await page.selectOption('#result-rows li:nth-child(1) select.col-unit', 'ng/L');
        await page.fill('#result-rows li:nth-child(1) input.col-drawn', '2026-03-06T11:20');
        await page.fill('#result-rows li:nth-child(2) input.col-value', '31');
        await page.selectOption('#result-rows li:nth-child(2) select.col-unit', 'ng/L');
        await page.fill('#result-rows li:nth-child(2) input.col-drawn', '2026-03-06T14:30');
        await page.click('#evaluate');
        await expect.poll(async () => (await page.textContent('#form-errors .missing-list')) ?? '', WAIT).toBe(words['timi']);
        expect(await page.isVisible('#form-errors')).toBe(true);

        // Complete: the outcome is in view and focused, wherever the card is on the page.
        await page.selectOption('#timi', '2');
        await page.click('#evaluate');
        await page.waitForSelector('body[data-outcome]', WAIT);
        await expect.poll(() => page.evaluate<string>("document.activeElement?.id ?? ''"), WAIT).toBe('outcome-banner');
        expect(await page.getAttribute('body', 'data-outcome')).toBe('consistent-with-mi');
        expect(await inViewport(page, '#outcome-banner')).toBe(true);
        expect(await page.isHidden('#form-errors')).toBe(true);
        // The card's evidence is one link, to the rules page.
        expect(await page.$$eval('.cds-card .card-detail a', (els) => els.map((a) => a.getAttribute('href')).filter((h) => (h ?? '').includes('/console/rules')))).toEqual([expect.stringMatching(/\/console\/rules$/)]);
        await page.screenshot({ path: `${SHOTS}result-viewport-${size.width}.png` });
        await checkView(page, 'result', size.width);
      } finally {
        await close(o);
      }
    });
  }

  /** Overlaps between the chart's texts and boxes, texts outside their box, and the SVG outside its container. */
  const CHART_PROBLEMS = `(() => {
    const box = (e) => e.getBoundingClientRect();
    const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
    const inside = (a, b) => a.left >= b.left - 0.5 && a.right <= b.right + 0.5 && a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;
    const out = [];
    const svg = document.querySelector('svg.pathway-chart');
    const view = document.querySelector('#chart-view');
    if (!inside(box(svg), box(view))) out.push('the SVG is outside its container: ' + JSON.stringify([box(svg), box(view)]));
    const texts = [...svg.querySelectorAll('text')].map((t) => ({ t: t.textContent, r: box(t), owner: t.closest('g.node, g.edge-label') }));
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) if (hit(texts[i].r, texts[j].r)) out.push('texts overlap: ' + texts[i].t + ' | ' + texts[j].t);
      const own = texts[i].owner && texts[i].owner.querySelector('rect.node-box, rect.label-box');
      if (own && !inside(texts[i].r, box(own))) out.push('text outside its box: ' + texts[i].t);
    }
    const boxes = [...svg.querySelectorAll('rect.node-box, rect.label-box')].map((r) => ({ r: box(r), id: (r.closest('[data-node]') || r.closest('[data-edges]')).getAttribute('data-node') || r.closest('[data-edges]').getAttribute('data-edges') }));
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) if (hit(boxes[i].r, boxes[j].r)) out.push('boxes overlap: ' + boxes[i].id + ' | ' + boxes[j].id);
    return out;
  })()`;

  for (const size of SIZES) {
    it(`the chart at ${size.width} px fits its container, no label overlaps another or leaves its box; the case is marked on the map`, { timeout: 240_000 }, async () => {
      const o = await openAt(size, '/console');
      const { page } = o;
      try {
        await ready(page);
        const name = 'below-url-rise-above-url-consistent';
        await page.focus(`button[data-fixture="${name}"]`);
        await page.keyboard.press('Enter');
        await page.waitForSelector('body[data-outcome="consistent-with-mi"]', WAIT);
        expect(await page.evaluate<string[]>(CHART_PROBLEMS)).toEqual([]);
        // The path as text, readable whatever the chart's scale.
        expect(await page.$$eval('#path-list li[data-node]', (els) => els.map((e) => e.getAttribute('data-node')))).toEqual(['chest-pain', 'ecg', 'timi', 'baseline', 'retest-below', 'below-mi']);
        // The edge labels say what rule 7 says.
        expect(await page.textContent('svg.pathway-chart')).toContain('≥ 20%');
        expect(await page.textContent('svg.pathway-chart')).not.toContain('> 20%');
        // The map follows the case, and marks the case's own values.
        await expect.poll(async () => (await page.textContent('#map-status')) ?? '', WAIT).toContain('baseline 8 ng/L');
        expect(await page.$$eval('#retest-plot .case-mark > text', (els) => els.map((e) => e.textContent))).toEqual([expect.stringMatching(/^this case: 31( \(past the axis\))?$/)]);
        expect(await page.$$eval('#heat-map .case-mark', (els) => els.length)).toBe(1);
        await (await page.$('#chart-section'))?.screenshot({ path: `${SHOTS}chart-section-${size.width}.png` });
        await (await page.$('#map-section'))?.screenshot({ path: `${SHOTS}map-section-${size.width}.png` });
        await checkView(page, 'chart', size.width);
        // At full size the chart scrolls inside its region; the page still does not scroll sideways.
        await page.click('#chart-size');
        expect(await page.getAttribute('#chart-size', 'aria-pressed')).toBe('true');
        const natural = Number(await page.getAttribute('svg.pathway-chart', 'width'));
        expect(await page.evaluate<number>("document.querySelector('svg.pathway-chart').getBoundingClientRect().width")).toBeCloseTo(natural, 0);
        expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(0);
      } finally {
        await close(o);
      }
    });
  }

  for (const size of SIZES) {
    it(`the rules page, the engineering map and the adoption page at ${size.width} px`, { timeout: 240_000 }, async () => {
      const rules = await openAt(size, '/console/rules#rule-7');
      try {
        const { page } = rules;
        expect(await page.textContent('h2#rule-7')).toMatch(/^Rule 7: /);
        expect(await page.textContent('.subtitle')).toContain('docs/clinical/chart2.md');
        await checkView(page, 'rules', size.width);
        // The engineering map is one click from each rule, and back.
        await page.click('a[href="/console/rules/engineering#rule-7"]');
        await page.waitForURL(/\/console\/rules\/engineering#rule-7$/, WAIT);
        expect(await page.textContent('#rule-7')).toContain('Rule 7');
        await checkView(page, 'engineering', size.width);
        await page.click('a[href="/console/rules#rule-7"]');
        await page.waitForURL(/\/console\/rules#rule-7$/, WAIT);
      } finally {
        await close(rules);
      }
      const adoption = await openAt(size, '/console/adoption');
      try {
        await ready(adoption.page);
        await checkView(adoption.page, 'adoption', size.width);
      } finally {
        await close(adoption);
      }
    });
  }

  it("a site's default assay is there, labelled as the site's; nothing else is", async () => {
    const site = await startConsole({ consoleDefaultAssay: 'abbott-architect-hs-tni' }, { now: () => new Date(NOW) });
    const o = await openAt(SIZES[0], '/console', site.url);
    try {
      await ready(o.page);
      expect(await o.page.inputValue('#assay')).toBe('abbott-architect-hs-tni');
      expect(await o.page.textContent('#assay option:checked')).toContain("the site's default");
      expect(await o.page.textContent('#assay-hint')).toContain("The site's default assay");
      expect(await o.page.inputValue('#ecg')).toBe('');
      expect(await o.page.inputValue('#timi')).toBe('');
    } finally {
      await close(o);
      await site.close();
    }
  });

  it('a default assay that is not in the catalogue stops the start, naming the setting', async () => {
    await expect(startConsole({ consoleDefaultAssay: 'no-such-assay' })).rejects.toThrow(/consoleDefaultAssay/);
  });
});
