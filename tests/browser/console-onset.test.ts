/**
 * The chest-pain onset in the console, in real Chromium (playwright-core, the system's /usr/bin/chromium):
 *
 * - the form asks for it only when the pathway file reads it (ESC 0 h/1 h here; not Chart 2), labelled,
 *   described by the site's time zone and the pathway file's own words for it, and optional;
 * - it goes to the engine as the FHIR input the pathway maps: entered 2 h before the 0 h draw, an ESC pair
 *   rule-out stands; left empty, the onset is unknown and the patient an early presenter (awaiting the 3 h
 *   sample);
 * - a time that cannot be read is named in the form's problems and beside the field, tied to it
 *   (aria-invalid, aria-errormessage, aria-describedby), and an outcome still shown says it is of the case
 *   evaluated before; axe-core finds no serious or critical violation
 *   and the page does not scroll sideways, at 1280 and 390 px (screenshots in /tmp/console-shots/);
 * - a card's link for an early presenter (H-65) opens with the card's outcome and the onset restored.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardsFor } from '../../src/cds/cards.js';
import { decide } from '../../src/decide.js';
import { extractResources } from '../../src/fhir/mapping.js';
import { axeViolations, chromiumAvailable, CHROMIUM_PATH, launchChromium, startConsole, watchPage, type ConsoleApp, type PageWatch } from '../support/browser.js';
import { requireService } from '../support/services.js';
import { loadPathwayFixture } from '../support/vignettes.js';

const run = requireService(`Chromium at ${CHROMIUM_PATH}`, chromiumAvailable(), 'apt-get install chromium, or set CHROMIUM_PATH');
const SHOTS = '/tmp/console-shots/';
const WAIT = { timeout: 30_000 };
/** esc1-pair-rule-out: ECG at 09:45, 0 h 10 ng/L at 10:00, 1 h 12 ng/L at 11:00, evaluated at 11:05 (London is on UTC in November). */
const CASE = { now: '2026-11-27T11:05', ecg: '2026-11-27T09:45', results: [['10', '2026-11-27T10:00'], ['12', '2026-11-27T11:00']] } as const;

describe.runIf(run)('the chest-pain onset in the console', () => {
  let esc: ConsoleApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let watch: PageWatch;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    esc = await startConsole({ pathway: 'esc-0h1h' }, { now: () => new Date('2026-11-27T11:05:00Z') });
    browser = await launchChromium();
    // bypassCSP only so that axe-core can be injected. The browser's zone is not the site's.
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB', timezoneId: 'Pacific/Auckland', bypassCSP: true });
    page = await context.newPage();
    watch = watchPage(page, 'http://127.0.0.1:');
  });
  afterAll(async () => {
    await browser?.close();
    await esc?.close();
    expect(watch?.problems ?? [], 'no console errors, no failed requests, nothing outside the service').toEqual([]);
  });

  async function open(url: string): Promise<void> {
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 90_000 });
  }

  async function evaluated(): Promise<string> {
    await page.evaluate("document.getElementById('outcome-banner').replaceChildren()");
    await page.click('#evaluate');
    await page.waitForSelector('#outcome-banner .outcome-chip', WAIT);
    return (await page.getAttribute('#outcome-banner .outcome-chip', 'data-outcome')) ?? '';
  }

  async function checkView(name: string): Promise<void> {
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
      await page.locator('#onset').scrollIntoViewIfNeeded();
      expect(await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'), `${name} at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
      const violations = await axeViolations(page);
      expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'), `${name} at ${width} px`).toEqual([]);
      await page.screenshot({ path: `${SHOTS}${name}-${width}.png` });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  it('Chart 2 reads no onset: the form does not ask for it', async () => {
    const chart2 = await startConsole();
    try {
      await open(`${chart2.url}/console`);
      expect(await page.isHidden('#onset-fields')).toBe(true);
      expect(await page.isHidden('#onset')).toBe(true);
    } finally {
      await chart2.close();
    }
  });

  it('ESC 0 h/1 h: the onset is asked for, optional, in the pathway\'s words; entered, it decides; unreadable, it is named and tied to its field', async () => {
    await open(`${esc.url}/console`);
    const text = (esc.runtime.pathway.file as unknown as { serial: { text: { onsetWouldMatter: string; onsetUnknown: string } } }).serial.text;
    expect(await page.isVisible('#onset')).toBe(true);
    expect(await page.textContent('label[for="onset"]')).toBe('Chest-pain onset');
    expect(await page.getAttribute('#onset', 'aria-describedby')).toBe('time-hint onset-hint');
    const hint = (await page.textContent('#onset-hint')) ?? '';
    expect(hint).toContain('Optional');
    expect(hint).toContain(text.onsetWouldMatter);
    expect(hint).toContain(text.onsetUnknown);
    expect(await page.inputValue('#onset')).toBe('');

    await page.selectOption('#ecg', 'no-stemi-or-new-lbbb');
    await page.fill('#ecg-at', CASE.ecg);
    // ESC 0 h/1 h reads no TIMI score: the form does not ask for one (console-timi.test.ts).
    expect(await page.isHidden('#timi')).toBe(true);
    await page.selectOption('#assay', 'roche-elecsys-hs-tnt');
    for (const [i, [value, drawn]] of CASE.results.entries()) {
      const row = `#result-rows > li:nth-child(${i + 1})`;
      await page.fill(`${row} input.col-value`, value);
      await page.selectOption(`${row} select.col-unit`, 'ng/L');
      await page.fill(`${row} input.col-drawn`, drawn);
    }
    // Left empty: the onset is unknown, read as the 0 h draw (an early presenter): the 3 h sample is awaited.
    expect(await evaluated()).toBe('awaiting-retest');
    // 2 hours before the 0 h draw: the pair rules out.
    await page.fill('#onset', '2026-11-27T08:00');
    expect(await evaluated()).toBe('rule-out');
    expect(await page.textContent('#reasoning-view')).toContain('chest-pain onset 2026-11-27');
    await checkView('onset-form');

    // A time the clocks skip in the site's zone (London, 29 March 2026): named, beside the field, tied to it.
    await page.fill('#onset', '2026-03-29T01:30');
    await page.click('#evaluate');
    await page.waitForSelector('#form-errors:not([hidden])', WAIT);
    expect(await page.textContent('#form-errors .unreadable-list')).toContain('Chest-pain onset: a clock time the clocks skip');
    expect(await page.evaluate<string>("document.activeElement?.id ?? ''")).toBe('form-errors');
    expect(await page.getAttribute('#onset', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#onset', 'aria-errormessage')).toBe('onset-error');
    expect(await page.getAttribute('#onset', 'aria-describedby')).toBe('time-hint onset-hint onset-error');
    expect(await page.textContent('#onset-error')).toContain('Chest-pain onset: a clock time the clocks skip');
    expect(await page.isVisible('#onset-error')).toBe(true);
    // The rule-out still shown is the case evaluated before: its banner says so.
    expect(await page.textContent('#outcome-banner .stale-note')).toContain('outcome of the case evaluated before');
    await page.click('#form-errors a[href="#onset"]');
    expect(await page.evaluate<string>("document.activeElement?.id ?? ''")).toBe('onset');
    await checkView('onset-error');

    // Typed in part (a date, no time): the browser gives the field no value, but it is not taken for empty.
    await page.fill('#onset', '');
    await page.focus('#onset');
    await page.keyboard.type('1127');
    expect(await page.evaluate<boolean>("document.getElementById('onset').validity.badInput")).toBe(true);
    await page.click('#evaluate');
    await expect.poll(async () => (await page.textContent('#form-errors .unreadable-list')) ?? '', WAIT).toContain('Chest-pain onset: a date and a clock time');

    // Put right: the message and its ties go.
    await page.fill('#onset', '2026-11-27T08:00');
    expect(await evaluated()).toBe('rule-out');
    expect(await page.$('#onset-error')).toBeNull();
    expect(await page.$('#outcome-banner .stale-note')).toBeNull();
    expect(await page.getAttribute('#onset', 'aria-describedby')).toBe('time-hint onset-hint');
    expect(await page.getAttribute('#onset', 'aria-invalid')).toBeNull();
  });

  it('H-65: a card\'s link for an early presenter (onset 2 h before the 0 h draw) opens with the card\'s outcome, the onset restored', async () => {
    const f = loadPathwayFixture('esc-0h1h', 'esc1-pair-rule-out');
    const decision = await decide(esc.runtime, f.doc, { now: f.expected.now });
    const [card] = cardsFor(decision, { newId: randomUUID, publicBaseUrl: 'https://cds.hospital.example', displayTimeZone: 'Europe/London', auditId: 'a', runtime: esc.runtime, resources: extractResources(f.doc), caseLinkKey: esc.caseLinkKey });
    const link = card?.links?.[0]?.url ?? '';
    expect(link.length).toBeLessThanOrEqual(8000);
    expect(decision.outcome).toBe('rule-out');
    await open(`${esc.url}/console${new URL(link).hash}`);
    await page.waitForSelector('#case-banner[data-link="verified"]', WAIT);
    expect(await page.getAttribute('#outcome-banner .outcome-chip', 'data-outcome')).toBe(decision.outcome);
    expect(await page.textContent('#link-outcome')).toContain('This evaluation gives the same.');
    // The onset, placed on the link's date (the 0 h draw at 09:00), 2 hours before it.
    const bundle = JSON.parse(await page.inputValue('#bundle-text')) as { entry: { resource: Record<string, unknown> }[] };
    const onset = bundle.entry.map((e) => e.resource).find((r) => JSON.stringify(r['code']).includes('chest-pain-onset'));
    expect(onset?.['valueDateTime']).toBe('2026-01-01T07:00:00.000Z');
  });
});
