/**
 * The rows of troponin results in the case form, at a desk's width, a phone's and a small phone's, in real
 * Chromium (playwright-core, the system's /usr/bin/chromium):
 * - each row is titled once ("Result 2"), and each visible label is one line of its own words
 *   ("Comparator", "Value"), never running into the next label;
 * - each control's name is still the whole "Result 2 value" (what a screen reader says, and what the
 *   form's problems name), and removing a row renumbers titles, names and the remove button;
 * - axe-core finds no serious or critical violation, and the page does not scroll sideways.
 * Screenshots in /tmp/console-shots/results-*.png.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, chromiumAvailable, CHROMIUM_PATH, launchChromium, startConsole, watchPage, type ConsoleApp } from '../support/browser.js';
import { requireService } from '../support/services.js';

const run = requireService(`Chromium at ${CHROMIUM_PATH}`, chromiumAvailable(), 'apt-get install chromium, or set CHROMIUM_PATH');
const SHOTS = '/tmp/console-shots/';
const WORDS = ['Comparator', 'Value', 'Unit', 'Drawn at', 'Status'];
const WHAT = ['comparator', 'value', 'unit', 'drawn at', 'status'];

interface Label {
  readonly name: string;
  readonly shown: string;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
  readonly height: number;
}

/** Each row's title and its labels: the text a screen reader reads, what is seen, and where. */
async function rows(page: Page): Promise<{ title: string; labels: Label[]; remove: string }[]> {
  return page.$$eval('#result-rows > li', (lis) =>
    lis.map((li) => ({
      title: (li.querySelector('.row-title')?.textContent ?? '').trim(),
      remove: (li.querySelector('button.remove')?.textContent ?? '').trim(),
      labels: [...li.querySelectorAll('label')].map((l) => {
        const words = l.querySelector('.label-words');
        const r = (words ?? l).getBoundingClientRect();
        return { name: (l.textContent ?? '').trim(), shown: words !== null && 'innerText' in words ? String(words.innerText).trim() : '', left: r.left, right: r.right, top: r.top, bottom: r.bottom, height: r.height };
      }),
    })),
  );
}

describe.runIf(run)('the result rows\' labels', () => {
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
    it(`at ${width} px: each row is titled once, each label is one line that touches no other, and each control keeps its whole name`, { timeout: 120_000 }, async () => {
      // bypassCSP only so that axe-core can be injected.
      const context = await browser.newContext({ viewport: { width, height: 900 }, locale: 'en-GB', bypassCSP: true });
      const page = await context.newPage();
      const watch = watchPage(page, app.url);
      try {
        await page.goto(`${app.url}/console`);
        await page.waitForSelector('body[data-ready="true"]', { timeout: 90_000 });
        // The form opens with two rows; a third is added.
        await page.click('#add-result');
        const lineHeight = await page.$eval('label[for="assay"]', (e) => e.getBoundingClientRect().height);
        const seen = await rows(page);
        expect(seen.map((r) => r.title)).toEqual(['Result 1', 'Result 2', 'Result 3']);
        seen.forEach((row, i) => {
          expect(row.labels.map((l) => l.name)).toEqual(WHAT.map((w) => `Result ${i + 1} ${w}`));
          expect(row.labels.map((l) => l.shown)).toEqual(WORDS);
          expect(row.remove).toBe(`Remove result ${i + 1}`);
          for (const l of row.labels) expect(l.height, `"${l.shown}" on one line at ${width} px`).toBeLessThan(lineHeight * 1.5);
          for (const [j, a] of row.labels.entries()) {
            for (const b of row.labels.slice(j + 1)) {
              const apart = a.right <= b.left + 0.5 || b.right <= a.left + 0.5 || a.bottom <= b.top + 0.5 || b.bottom <= a.top + 0.5;
              expect(apart, `"${a.shown}" and "${b.shown}" overlap at ${width} px`).toBe(true);
              // Two labels side by side are apart by more than a space, so they cannot read as one.
              if (Math.abs(a.top - b.top) < 1) expect(Math.min(Math.abs(b.left - a.right), Math.abs(a.left - b.right)), `"${a.shown}" runs into "${b.shown}"`).toBeGreaterThan(8);
            }
          }
        });
        // The whole name is the control's accessible name, as a screen reader and the form's problems use it.
        await expect(page.getByLabel('Result 2 value', { exact: true }).count()).resolves.toBe(1);
        expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'), `scrolls sideways at ${width} px`).toBeLessThanOrEqual(0);
        const violations = await axeViolations(page);
        expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
        await page.locator('#result-rows').screenshot({ path: `${SHOTS}results-${width}.png` });

        // Removing the first row renumbers what was the second: its title, its names and its button.
        await page.getByLabel('Result 2 value', { exact: true }).fill('17');
        await page.click('#result-rows > li:first-child button.remove');
        const after = await rows(page);
        expect(after.map((r) => r.title)).toEqual(['Result 1', 'Result 2']);
        expect(after[0]?.labels.map((l) => l.name)).toEqual(WHAT.map((w) => `Result 1 ${w}`));
        expect(after[0]?.labels.map((l) => l.shown)).toEqual(WORDS);
        expect(after[1]?.remove).toBe('Remove result 2');
        await expect(page.getByLabel('Result 1 value', { exact: true }).inputValue()).resolves.toBe('17');
      } finally {
        const problems = [...watch.problems];
        await context.close();
        expect(problems, 'no console errors, no failed requests, nothing outside the service').toEqual([]);
      }
    });
  }
});
