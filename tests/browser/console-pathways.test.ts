/**
 * A smoke of the console in real Chromium for each pathway a site can run (settings `pathway`): the page
 * loads, draws every node of that pathway's graph from its file, and its scenario library serves a worked
 * vignette of the pathway's contract, with no console error, no failed request and nothing outside the
 * service. The chart's layout is tested in console.test.ts.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, CHROMIUM_PATH, launchChromium, startConsole, watchPage, type ConsoleApp } from '../support/browser.js';
import { folderFixtureNames, loadPathwayFixture } from '../support/vignettes.js';
import { requireService } from '../support/services.js';

const run = requireService(`Chromium at ${CHROMIUM_PATH}`, chromiumAvailable(), 'apt-get install chromium, or set CHROMIUM_PATH');

describe.runIf(run)('the console draws each pathway from its file', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  for (const pathway of ['esc-0h1h', 'esc-0h2h', 'high-steacs']) {
    it(`${pathway}: every node of its graph drawn, and a vignette served by its scenario library`, async () => {
      const app: ConsoleApp = await startConsole({ pathway }, { now: () => new Date('2026-11-27T10:10:00Z') });
      const context: BrowserContext = await browser.newContext({ viewport: { width: 1600, height: 1000 }, locale: 'en-GB' });
      const page: Page = await context.newPage();
      const watch = watchPage(page, app.url);
      try {
        await page.goto(`${app.url}/console`);
        await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
        const drawn = await page.$$eval('g.node[data-node]', (gs) => gs.map((g) => g.getAttribute('data-node')));
        expect([...drawn].sort()).toEqual(app.runtime.pathway.file.graph.nodes.map((n) => n.id).sort());
        const name = folderFixtureNames(pathway).find((n) => loadPathwayFixture(pathway, n).expected.outcome === 'rule-out') ?? '';
        const res = await page.evaluate(async (n) => (await fetch(`/console/api/fixtures/${n}`)).status, name);
        expect(res).toBe(200);
      } finally {
        const problems = [...watch.problems];
        await context.close();
        await app.close();
        expect(problems, 'no console errors, no failed requests, nothing outside the service').toEqual([]);
      }
    });
  }
});
