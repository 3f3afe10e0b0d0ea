/**
 * The adoption page (/console/adoption) in real Chromium, over the real app and a synthetic audit trail:
 * with the admin token typed in, it draws the four charts for the pathway (each an SVG with a title and a
 * description, reachable by keyboard, with its data table), at 1280 px and at 390 px without horizontal
 * scroll; axe-core finds no serious or critical violation; a wrong token is said plainly. Screenshots are
 * kept under test-artifacts/browser/.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomEpisodes } from '../../bench/trail/episodes.js';
import { ADMIN_TOKEN, startApp, type RunningApp } from '../support/cds-app.js';
import { openTrail, type Trail } from '../support/adoption-trail.js';
import { artifactPath, chromiumAvailable, CHROMIUM_PATH, launchChromium, watchPage } from '../support/browser.js';
import { requireService } from '../support/services.js';

const run = requireService(`Chromium at ${CHROMIUM_PATH}`, chromiumAvailable(), 'apt-get install chromium, or set CHROMIUM_PATH');
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

describe.runIf(run)('the adoption page in real Chromium', () => {
  let trail: Trail;
  let app: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    trail = await openTrail('sqlite');
    await trail.write(randomEpisodes(3, 400, Date.parse('2026-01-01T00:00:00Z'), 120), 3);
    app = await startApp({ store: trail.store, adoption: await trail.reports(), settings: { logLevel: 'silent' } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await trail?.close();
  });

  async function load(page: Page, token: string): Promise<void> {
    await page.goto(`${app.url}/console/adoption`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.fill('#token', token);
    await page.fill('#from', '2026-01-01');
    await page.fill('#to', '2026-04-30');
    await page.keyboard.press('Enter');
  }

  for (const width of [1280, 390]) {
    it(`draws the outcome mix, the retest intervals, the time to decision and the feedback at ${width} px, accessibly`, async () => {
      // bypassCSP only so that axe-core's source can be injected; the page's own scripts are the same.
      const context = await browser.newContext({ viewport: { width, height: 900 }, locale: 'en-GB', bypassCSP: true });
      const page = await context.newPage();
      const watch = watchPage(page, app.url);
      try {
        await load(page, ADMIN_TOKEN);
        await page.waitForSelector('body[data-report="ready"]', { timeout: 30_000 });
        const figures = await page.$$eval('figure.chart', (fs) => fs.map((f) => ({ caption: f.querySelector('figcaption')?.textContent ?? '', title: f.querySelector('svg > title')?.textContent ?? '', desc: f.querySelector('svg > desc')?.textContent ?? '', tabindex: f.querySelector('svg')?.getAttribute('tabindex'), rows: f.querySelectorAll('table tbody tr').length, marks: f.querySelectorAll('svg rect, svg circle').length })));
        expect(figures.map((f) => f.caption)).toEqual(['Final outcome of each episode, by period', 'Retest draws against the due time', 'Time from the first troponin draw to a final outcome, by period', 'Card feedback, by period']);
        for (const f of figures) {
          expect(f.title.length).toBeGreaterThan(10);
          expect(f.desc.length).toBeGreaterThan(20);
          expect(f.tabindex).toBe('0');
          expect(f.rows).toBeGreaterThan(0);
          expect(f.marks).toBeGreaterThan(3);
        }
        expect(await page.textContent('#status')).toMatch(/Report ready/);
        // Keyboard: the first chart is reached with Tab.
        await page.focus('#run');
        let reached = false;
        for (let i = 0; i < 40 && !reached; i++) {
          await page.keyboard.press('Tab');
          reached = await page.evaluate<boolean>("document.activeElement?.tagName.toLowerCase() === 'svg'");
        }
        expect(reached).toBe(true);
        expect(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
        await page.screenshot({ path: artifactPath(`adoption-${width}.png`), fullPage: true });
        await page.addScriptTag({ content: AXE });
        const violations = await page.evaluate<{ id: string; impact: string | null; nodes: number }[]>(
          'window.axe.run(document).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })))',
        );
        expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
        expect(watch.problems).toEqual([]);
      } finally {
        await context.close();
      }
    });
  }

  it('says plainly when the admin token is wrong, and shows nothing', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    try {
      await load(page, 'not-the-admin-token-000');
      await page.waitForSelector('#error:not([hidden])');
      expect(await page.textContent('#error')).toBe('The admin token was not accepted.');
      expect(await page.$$('figure.chart')).toHaveLength(0);
    } finally {
      await context.close();
    }
  });
});
