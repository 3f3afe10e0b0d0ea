/**
 * The case panel's tabs ("Enter a case", "Paste FHIR", "Load a fixture") at a phone's width and at a
 * desk's, in real Chromium (playwright-core, the system's /usr/bin/chromium): the three share one row
 * inside the tab list, none spilling to a second row or past the panel, and the page does not scroll
 * sideways; at 1280 px each label keeps one line. Screenshots in /tmp/console-shots/tabs-*.png.
 */
import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, CHROMIUM_PATH, launchChromium, startConsole, watchPage, type ConsoleApp } from '../support/browser.js';
import { requireService } from '../support/services.js';

const run = requireService(`Chromium at ${CHROMIUM_PATH}`, chromiumAvailable(), 'apt-get install chromium, or set CHROMIUM_PATH');
const SHOTS = '/tmp/console-shots/';

interface Box {
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly height: number;
}

describe.runIf(run)('the case panel\'s tabs fit', () => {
  let app: ConsoleApp;
  let browser: Browser;
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    app = await startConsole({}, { now: () => new Date('2026-03-06T14:40:00Z') });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  for (const width of [1280, 390, 320]) {
    it(`at ${width} px: the three tabs share one row inside the tab list`, { timeout: 120_000 }, async () => {
      const context = await browser.newContext({ viewport: { width, height: 900 }, locale: 'en-GB' });
      const page = await context.newPage();
      const watch = watchPage(page, app.url);
      try {
        await page.goto(`${app.url}/console`);
        await page.waitForSelector('body[data-ready="true"]', { timeout: 90_000 });
        const list = await page.$eval('.tabs', (e): Box => {
          const r = e.getBoundingClientRect();
          return { left: r.left, right: r.right, top: r.top, height: r.height };
        });
        const tabs = await page.$$eval('.tabs [role="tab"]', (els) =>
          els.map((e): Box => {
            const r = e.getBoundingClientRect();
            return { left: r.left, right: r.right, top: r.top, height: r.height };
          }),
        );
        expect(tabs).toHaveLength(3);
        for (const t of tabs) {
          expect(t.top, 'one row').toBeCloseTo(tabs[0]?.top ?? 0, 0);
          expect(t.left).toBeGreaterThanOrEqual(list.left - 0.5);
          expect(t.right).toBeLessThanOrEqual(list.right + 0.5);
        }
        // At a desk's width every label is on one line: all tabs as tall as one line of text.
        if (width === 1280) expect(Math.max(...tabs.map((t) => t.height)) - Math.min(...tabs.map((t) => t.height))).toBeLessThan(2);
        expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'), `scrolls sideways at ${width} px`).toBeLessThanOrEqual(0);
        await page.locator('#case-section').screenshot({ path: `${SHOTS}tabs-${width}.png` });
      } finally {
        const problems = [...watch.problems];
        await context.close();
        expect(problems, 'no console errors, no failed requests, nothing outside the service').toEqual([]);
      }
    });
  }
});
