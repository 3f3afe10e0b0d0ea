/**
 * Card links to the console in real Chromium (playwright-core, the system's /usr/bin/chromium): a
 * signed link says "from a card of this service", a changed or foreign one "unverified link: not from
 * this service" and still shows the case, a summarised one says what it left out; the case travels in
 * the fragment only. The page logs no error and fails no request. Screenshots of the link views at
 * 1280 and 390 px are kept under test-artifacts/browser/.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cardsFor } from '../../src/cds/cards.js';
import { decide } from '../../src/decide.js';
import { extractResources } from '../../src/fhir/mapping.js';
import { artifactPath, chromiumAvailable, CHROMIUM_PATH, launchChromium, startConsole, watchPage, type ConsoleApp, type PageWatch } from '../support/browser.js';
import { loadFixture } from '../support/fixtures.js';
import { requireService } from '../support/services.js';

const run = requireService(`Chromium at ${CHROMIUM_PATH}`, chromiumAvailable(), 'apt-get install chromium, or set CHROMIUM_PATH');

describe.runIf(run)('card links to the console in real Chromium', () => {
  let app: ConsoleApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let watch: PageWatch;

  beforeAll(async () => {
    app = await startConsole();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });
  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB', timezoneId: 'Pacific/Auckland' });
    page = await context.newPage();
    watch = watchPage(page, app.url);
  });
  afterEach(async () => {
    const problems = [...watch.problems];
    await context.close();
    expect(problems, 'no console errors, no failed requests, nothing outside the service').toEqual([]);
  });

  async function open(fragment: string): Promise<void> {
    await page.goto(`${app.url}/console${fragment}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  }

  /** The console link of the CDS card for these resources, signed with `key` (the service's, by default). */
  async function cardLink(doc: unknown, now: string, key: Buffer = app.caseLinkKey): Promise<string> {
    const decision = await decide(app.runtime, doc, { now });
    const [card] = cardsFor(decision, { newId: randomUUID, publicBaseUrl: 'https://cds.hospital.example', displayTimeZone: 'Europe/London', auditId: 'a', runtime: app.runtime, resources: extractResources(doc), caseLinkKey: key });
    const link = card?.links?.[0]?.url ?? '';
    expect(new URL(link).search).toBe('');
    expect(new URL(link).hash).toMatch(/^#case=/);
    return new URL(link).hash;
  }

  async function screenshots(name: string): Promise<void> {
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      await page.screenshot({ path: artifactPath(`${name}-${width}.png`) });
    }
  }

  it('opens a signed case link from a CDS card: "from a card of this service", the same outcome, the case in the fragment only', async () => {
    const f = loadFixture('awaiting-retest-overdue');
    const hash = await cardLink(f.doc, f.expected.now);
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    await open(hash);
    await page.waitForSelector(`body[data-outcome="${f.expected.outcome}"]`);
    expect(await page.isVisible('#case-banner')).toBe(true);
    expect(await page.getAttribute('#case-banner', 'data-link')).toBe('verified');
    expect(await page.textContent('#case-banner .banner-title')).toContain('From a card of this service');
    expect(await page.textContent('#case-banner')).toContain('The card said: ');
    expect(await page.getAttribute('#tab-paste', 'aria-selected')).toBe('true');
    // Overdue retest: the card warns (chart2-pathway.md section 3).
    expect(await page.getAttribute('.cds-card', 'data-indicator')).toBe('warning');
    // The fragment never reaches the server: no request carries the case in its URL.
    const payload = hash.slice('#case='.length, '#case='.length + 40);
    expect(requested.filter((u) => u.includes(payload))).toEqual([]);
    await page.screenshot({ path: artifactPath('console-case-link.png'), fullPage: true });
    await screenshots('console-case-link-verified');
  });

  it('a changed or foreign case link is shown as "unverified link: not from this service", and the case can still be looked at', async () => {
    const f = loadFixture('below-url-rise-above-url-consistent');
    const hash = await cardLink(f.doc, f.expected.now);
    const [payload, sig] = decodeURIComponent(hash.slice('#case='.length)).split('.') as [string, string];
    // One character of the signature changed.
    const tampered = `#case=${payload}.${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`;
    await open(tampered);
    await page.waitForSelector(`body[data-outcome="${f.expected.outcome}"]`);
    expect(await page.getAttribute('#case-banner', 'data-link')).toBe('unverified');
    const text = (await page.textContent('#case-banner')) ?? '';
    expect(text).toContain('Unverified link: not from this service');
    expect(text).not.toContain('From a card of this service');
    expect(text).toContain('The link says the card said');
    expect(await page.isVisible('.cds-card')).toBe(true);
    await screenshots('console-case-link-unverified');
    // Another service's key: unverified too; a link opened in the same tab (only the fragment changes) loads.
    const foreign = await cardLink(f.doc, f.expected.now, randomBytes(32));
    await page.evaluate(`window.location.hash = ${JSON.stringify(foreign)}`);
    await expect.poll(async () => (await page.textContent('#case-banner')) ?? '', { timeout: 30_000 }).toContain('does not match');
    expect(await page.getAttribute('#case-banner', 'data-link')).toBe('unverified');
    // The genuine link in the same tab: verified.
    await page.evaluate(`window.location.hash = ${JSON.stringify(hash)}`);
    await expect.poll(() => page.getAttribute('#case-banner', 'data-link'), { timeout: 30_000 }).toBe('verified');
  });

  it('a link summarised from a long episode says so, with what it left out and the card\'s outcome', async () => {
    const f = loadFixture('below-url-rise-above-url-consistent');
    const entries = (f.doc as { entry: { resource: Record<string, unknown> }[] }).entry;
    const retest = entries.map((e) => e.resource).find((r) => (r['valueQuantity'] as { value?: number } | undefined)?.value === 31);
    if (retest === undefined) throw new Error('the fixture has no retest of 31 ng/L');
    // 300 more results of the same assay between the baseline and the retest.
    const more = Array.from({ length: 300 }, (_, i) => ({ resource: { ...retest, id: `extra-${i}`, identifier: undefined, effectiveDateTime: new Date(Date.parse(retest['effectiveDateTime'] as string) - (i + 1) * 30_000).toISOString(), valueQuantity: { ...(retest['valueQuantity'] as object), value: 9 + (i % 7) } } }));
    const doc = { ...(f.doc as object), entry: [...entries, ...more] };
    const hash = await cardLink(doc, f.expected.now);
    expect(hash.length).toBeLessThan(8000);
    await open(hash);
    await page.waitForSelector('#case-banner[data-summarised="true"]');
    const text = (await page.textContent('#case-banner')) ?? '';
    expect(text).toContain('From a card of this service');
    expect(text).toContain('Summarised case');
    expect(text).toMatch(/keeps \d+ of 304 observations/);
    expect(text).toContain('may not reproduce the card’s decision');
    expect(text).toContain('The card said: ');
    await screenshots('console-case-link-summarised');
  });
});
