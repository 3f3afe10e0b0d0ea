/**
 * The console in real Chromium (playwright-core, the system's /usr/bin/chromium; never a downloaded
 * browser). A case entered by keyboard only gives the expected outcome, the highlighted path and the
 * plot; fixtures, pasted Bundles and card links load; the page makes no request outside the service,
 * logs no error and fails no request. Screenshots are kept under test-artifacts/browser/. Card links
 * to the console: tests/browser/console-links.test.ts.
 */
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EvaluateResponse } from '../../src/console/web/api-types.js';
import { artifactPath, chromiumAvailable, CHROMIUM_PATH, launchChromium, startConsole, watchPage, type ConsoleApp, type PageWatch } from '../support/browser.js';
import { fixtureNames, loadFixture } from '../support/fixtures.js';
import { requireService } from '../support/services.js';

const run = requireService(`Chromium at ${CHROMIUM_PATH}`, chromiumAvailable(), 'apt-get install chromium, or set CHROMIUM_PATH');

describe.runIf(run)('the console in real Chromium', { timeout: 180_000 }, () => {
  let app: ConsoleApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let watch: PageWatch;

  beforeAll(async () => {
    app = await startConsole({}, { now: () => new Date('2026-03-06T14:40:00Z') });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });
  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, acceptDownloads: true, locale: 'en-GB', timezoneId: 'Pacific/Auckland' });
    page = await context.newPage();
    watch = watchPage(page, app.url);
  });
  afterEach(async () => {
    const problems = [...watch.problems];
    await context.close();
    expect(problems, 'no console errors, no failed requests, nothing outside the service').toEqual([]);
  });

  async function open(query = ''): Promise<void> {
    await page.goto(`${app.url}/console${query}`);
    // The page is ready once the scenario library (every fixture evaluated live) and the map are in:
    // generous on a loaded machine, still bounded.
    await page.waitForSelector('body[data-ready="true"]', { timeout: 90_000 });
  }

  /** Press Tab until the focused element matches `selector` (keyboard reachability, in page order). */
  async function tabTo(selector: string, max = 60): Promise<number> {
    for (let i = 1; i <= max; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate<boolean>(`document.activeElement?.matches(${JSON.stringify(selector)}) ?? false`)) return i;
    }
    throw new Error(`${selector} is not reachable with Tab within ${max} presses`);
  }

  async function focusedId(): Promise<string> {
    return page.evaluate<string>("document.activeElement?.id ?? ''");
  }

  it('loads with the chart drawn from the pathway file, the map and the whole scenario library', async () => {
    await open();
    const nodes = await page.$$eval('svg.pathway-chart [data-node]', (els) => els.map((e) => e.getAttribute('data-node')));
    const file = app.runtime.pathway.file;
    expect(nodes.sort()).toEqual(file.graph.nodes.map((n) => n.id).sort());
    // Every branch of the file is drawn, and every place the chart is silent is marked and listed.
    const drawnEdges = await page.$$eval('svg.pathway-chart path.edge', (els) => els.flatMap((e) => (e.getAttribute('data-edges') ?? '').split(' ')));
    expect(drawnEdges.sort()).toEqual(file.graph.edges.map((e) => e.id).sort());
    const silent = [...file.graph.nodes, ...file.graph.edges].filter((x) => x.silent !== undefined).map((x) => x.id);
    const listed = await page.$$eval('#silent-list li', (els) => els.map((e) => e.getAttribute('data-silent')));
    expect(listed.sort()).toEqual(silent.sort());
    expect(await page.$$eval('#silent-list a.rule-link', (els) => els.every((a) => /\/console\/rules#rule-\d+$/.test(a.getAttribute('href') ?? '')))).toBe(true);
    // Accessible SVG.
    expect(await page.getAttribute('svg.pathway-chart', 'role')).toBe('img');
    expect(await page.textContent('svg.pathway-chart > title')).toContain('Chart 2');
    // The map for the default inputs, with its lines and zones.
    await page.waitForSelector('#retest-plot rect.run');
    expect(await page.$$eval('#retest-plot .ref-url', (els) => els.length)).toBeGreaterThan(0);
    expect(await page.$$eval('#retest-plot .indeterminate-zone', (els) => els.length)).toBeGreaterThan(0);
    expect(await page.$$eval('#heat-map .cells rect', (els) => els.length)).toBeGreaterThan(0);
    // The library: every fixture, all passing.
    const rows = await page.$$eval('#library-rows tr[data-fixture]', (els) => els.map((e) => [e.getAttribute('data-fixture'), e.getAttribute('data-pass')]));
    expect(rows.map((r) => r[0])).toEqual(fixtureNames());
    expect(rows.every((r) => r[1] === 'true')).toBe(true);
    expect(await page.textContent('#library-summary')).toMatch(new RegExp(`^${fixtureNames().length} of ${fixtureNames().length} fixtures pass`));
    await page.screenshot({ path: artifactPath('console-initial.png'), fullPage: true });
  });

  it('takes a case entered by keyboard only to the expected outcome, with the path highlighted and the plot', async () => {
    await open();
    // The skip link comes first and moves focus to the case.
    await page.keyboard.press('Tab');
    expect(await page.evaluate<string>("document.activeElement?.textContent ?? ''")).toBe('Skip to the case');
    await page.keyboard.press('Enter');
    expect(await focusedId()).toBe('case-heading');
    await tabTo('#tab-form');
    // The evaluation time starts at the service's clock, in the site's zone (Europe/London), whatever
    // the browser's zone (Pacific/Auckland here).
    await tabTo('#eval-at');
    expect(await page.inputValue('#eval-at')).toBe('2026-03-06T14:40');
    await tabTo('#ecg');
    expect(await page.inputValue('#ecg')).toBe('');
    await page.keyboard.type('N');
    expect(await page.inputValue('#ecg')).toBe('no-stemi-or-new-lbbb');
    await tabTo('#ecg-at');
    await page.fill('#ecg-at', '2026-03-06T11:15');
    // TIMI from its seven items: open the details with Enter, tick three with Space.
    await tabTo('#timi-items > summary');
    await page.keyboard.press('Enter');
    for (const item of ['age', 'risk', 'aspirin']) {
      await tabTo(`input[name="timiItem"][value="${item}"]`);
      await page.keyboard.press('Space');
    }
    expect(await page.inputValue('#timi')).toBe('3');
    expect(await page.textContent('#timi-sum')).toContain('3 of 7');
    await tabTo('#assay');
    expect(await page.inputValue('#assay')).toBe('');
    await page.keyboard.type('R');
    expect(await page.inputValue('#assay')).toBe('roche-elecsys-hs-tnt');
    // Baseline 8 ng/L at 11:20; retest 31 ng/L at 14:30 (190 min).
    await tabTo('#result-rows li:nth-child(1) input.col-value');
    await page.keyboard.type('8');
    await page.keyboard.press('Tab');
    await page.keyboard.type('n');
    expect(await page.inputValue('#result-rows li:nth-child(1) select.col-unit')).toBe('ng/L');
    await tabTo('#result-rows li:nth-child(1) input.col-drawn');
    await page.fill('#result-rows li:nth-child(1) input.col-drawn', '2026-03-06T11:20');
    await tabTo('#result-rows li:nth-child(2) input.col-value');
    await page.keyboard.type('31');
    await page.keyboard.press('Tab');
    await page.keyboard.type('n');
    await tabTo('#result-rows li:nth-child(2) input.col-drawn');
    await page.fill('#result-rows li:nth-child(2) input.col-drawn', '2026-03-06T14:30');
    await page.keyboard.press('Enter');

    await page.waitForSelector('body[data-outcome]');
    const outcome = await page.getAttribute('body', 'data-outcome');
    // The same data as the fixture below-url-rise-above-url-consistent: the same outcome as there.
    expect(outcome).toBe(loadFixture('below-url-rise-above-url-consistent').expected.outcome);
    expect(outcome).toBe('consistent-with-mi');
    expect(await page.getAttribute('.cds-card', 'data-indicator')).toBe('critical');
    expect(await page.textContent('.cds-card .card-summary')).toContain('consistent with myocardial infarction');

    // The path, highlighted and numbered, ends at the outcome; the values used are printed on it.
    const onPath = await page.$$eval('svg.pathway-chart [data-node][data-on-path="true"]', (els) => els.map((e) => [e.getAttribute('data-node'), e.getAttribute('data-step')]));
    expect(onPath).toEqual([
      ['chest-pain', '1'],
      ['ecg', '2'],
      ['timi', '3'],
      ['baseline', '4'],
      ['retest-below', '5'],
      ['below-mi', '6'],
    ]);
    const edges = await page.$$eval('svg.pathway-chart path.edge[data-on-path="true"]', (els) => els.map((e) => e.getAttribute('data-edges')));
    expect(edges.join(' ').split(' ').sort()).toEqual(expect.arrayContaining(['start', 'ecg-no-stemi', 'timi-raised-marker', 'baseline-below', 'below-consistent']));
    expect(await page.textContent('[data-annotation-for="retest-below"]')).toContain('retest 31 ng/L at +190 min');
    expect(await page.textContent('[data-annotation-for="baseline"]')).toContain('baseline 8 ng/L');
    expect(await page.textContent('[data-annotation-for="timi"]')).toContain('TIMI score: 3');
    expect(await page.textContent('svg.pathway-chart > desc')).toContain('Path taken');

    // The reasoning links every step to its rule.
    const links = await page.$$eval('#trace-list a.rule-link', (els) => els.map((a) => a.getAttribute('href')));
    expect(links.length).toBeGreaterThan(5);
    for (const href of links) expect(href).toMatch(/^\/console\/rules#rule-\d+$/);

    // The map follows the case: this assay, this baseline, this TIMI.
    // Polled from here: a string predicate polled in the page is refused by the page's CSP (no eval).
    await expect.poll(async () => (await page.textContent('#map-status')) ?? '', { timeout: 30_000 }).toContain('baseline 8 ng/L');
    expect(await page.getAttribute('#retest-plot .ref-url', 'data-value')).toBe('14');
    expect(await page.$$eval('#retest-plot rect.run[data-outcome="consistent-with-mi"]', (els) => els.length)).toBeGreaterThan(0);
    expect(await page.textContent('#retest-desc')).toContain('consistent-with-mi');

    // And it is the engine's answer for the same resources through the API (as the CDS service gives it).
    const res = await fetch(`${app.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle: loadFixture('below-url-rise-above-url-consistent').doc, now: '2026-03-06T14:40:00Z' }) });
    expect(((await res.json()) as EvaluateResponse).decision.outcome).toBe(outcome);

    await page.screenshot({ path: artifactPath('console-keyboard-case.png'), fullPage: true });
    await (await page.$('#chart-section'))?.screenshot({ path: artifactPath('console-keyboard-case-chart.png') });
    await (await page.$('#map-section'))?.screenshot({ path: artifactPath('console-keyboard-case-map.png') });
  });

  it('loads a fixture from the scenario library', async () => {
    await open();
    const name = 'baseline-above-url-small-change';
    const fixture = loadFixture(name);
    await page.focus(`button[data-fixture="${name}"]`);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`body[data-outcome="${fixture.expected.outcome}"]`);
    expect(await focusedId()).toBe('card-heading');
    expect(await page.textContent('#case-banner')).toContain(name);
    // Baseline above the URL, change under 20%: not consistent, with a warning (chart2-pathway.md section 3).
    expect(await page.getAttribute('.cds-card', 'data-indicator')).toBe('warning');
    expect(await page.getAttribute('svg.pathway-chart [data-node="above-nc"]', 'data-on-path')).toBe('true');
    expect(await page.inputValue('#fixture-select')).toBe(name);
    expect(JSON.parse(await page.inputValue('#bundle-text'))).toMatchObject({ resourceType: 'Bundle' });
    await page.screenshot({ path: artifactPath('console-fixture.png'), fullPage: true });
  });

  it('evaluates a pasted Bundle with its own settings, and exports the case as a new fixture', async () => {
    await open();
    const f = loadFixture('sex-specific-url-female');
    await page.focus('#tab-form');
    await page.keyboard.press('ArrowRight');
    expect(await focusedId()).toBe('tab-paste');
    expect(await page.isVisible('#panel-paste')).toBe(true);
    await page.focus('#bundle-text');
    await page.keyboard.insertText(readFileSync(f.path, 'utf8'));
    await page.focus('#paste-now');
    await page.keyboard.type(f.expected.now);
    await page.focus('#paste-sex-urls');
    await page.keyboard.press('Space');
    await page.focus('#paste-evaluate');
    await page.keyboard.press('Enter');
    await page.waitForSelector(`body[data-outcome="${f.expected.outcome}"]`);

    await page.fill('#export-name', 'pasted-female-case');
    await page.fill('#export-description', 'A pasted case, exported.');
    const downloads = new Map<string, string>();
    const both = new Promise<void>((resolve) => {
      page.on('download', (d) => {
        void d.path().then((p) => {
          downloads.set(d.suggestedFilename(), readFileSync(p, 'utf8'));
          if (downloads.size === 2) resolve();
        });
      });
    });
    await page.focus('#export-button');
    await page.keyboard.press('Enter');
    await both;
    const bundle = JSON.parse(downloads.get('pasted-female-case.json') ?? 'null') as { resourceType: string; entry: unknown[] };
    const expected = JSON.parse(downloads.get('pasted-female-case.expected.json') ?? 'null') as { outcome: string; now: string; settings?: unknown; missing: string[]; description: string };
    expect(bundle.resourceType).toBe('Bundle');
    expect(expected).toMatchObject({ outcome: f.expected.outcome, now: f.expected.now, settings: { sexSpecificUrls: true }, missing: [], description: 'A pasted case, exported.' });
    // The exported pair is a fixture the engine agrees with.
    const again = await fetch(`${app.url}/console/api/evaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle, now: expected.now, settings: expected.settings }) });
    expect(((await again.json()) as EvaluateResponse).decision.outcome).toBe(expected.outcome);
  });

  it('is keyboard- and screen-reader-minded: labelled controls, visible focus, ARIA tabs, errors announced', async () => {
    await open();
    // Page-side code as a string: the tests are type-checked without the DOM library.
    const unlabelled = await page.evaluate<string[]>(`[...document.querySelectorAll('input, select, textarea, button')]
      .filter((e) => !e.hidden && e.type !== 'hidden')
      .filter((e) => !((e.labels && e.labels.length > 0) || (e.getAttribute('aria-label') || '') !== '' || (e.tagName === 'BUTTON' && e.textContent.trim() !== '')))
      .map((e) => e.outerHTML.slice(0, 80))`);
    expect(unlabelled).toEqual([]);
    await page.focus('#evaluate');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    const focusStyle = await page.evaluate<{ outline: string; shadow: string }>('({ outline: getComputedStyle(document.activeElement).outlineStyle, shadow: getComputedStyle(document.activeElement).boxShadow })');
    expect(focusStyle.outline !== 'none' || focusStyle.shadow !== 'none').toBe(true);
    // Body text is large (a ward PC): at least 16 px.
    expect(await page.evaluate<number>('parseFloat(getComputedStyle(document.body).fontSize)')).toBeGreaterThanOrEqual(16);
    // A bad entry is announced in the form's summary, which takes the focus; each entry leads to its field.
    await page.fill('#eval-at', '');
    await page.focus('#evaluate');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#form-errors:not([hidden])');
    expect(await page.getAttribute('#form-errors', 'role')).toBe('alert');
    expect(await page.textContent('#form-errors')).toContain('Evaluate at');
    expect(await focusedId()).toBe('form-errors');
    expect(await page.getAttribute('#eval-at', 'aria-invalid')).toBe('true');
    await page.click('#form-errors a[href="#eval-at"]');
    expect(await focusedId()).toBe('eval-at');
  });

  it('serves the rules page that every reasoning step links to', async () => {
    await page.goto(`${app.url}/console/rules#rule-7`);
    expect(await page.$('#rule-7')).not.toBeNull();
    expect(await page.textContent('h1')).toContain('Rules of the pathway');
    await page.screenshot({ path: artifactPath('console-rules.png') });
  });
});
