/**
 * Real Chromium for the browser tests, through playwright-core (never a downloaded browser): the
 * system's /usr/bin/chromium (or CHROMIUM_PATH). When it is absent the browser suites print a loud
 * warning and are skipped, and FAIL under CI=true (tests/support/services.ts, requireService).
 *
 * Also: a console app on 127.0.0.1:0 (the console plugin alone, with the real runtime), and a page
 * watcher that collects console errors, page errors, failed requests and HTTP errors, so that every
 * test can assert there were none.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { consolePlugin } from '../../src/console/plugin.js';
import { MapCache, type MapCacheOptions } from '../../src/console/map.js';
import { loadRuntime } from '../../src/pathways/load.js';
import { loadSettings, type Settings } from '../../src/settings.js';
import type { PathwayRuntime } from '../../src/engine/catalogue.js';
import { UNLIMITED } from './limits.js';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Screenshots and other artifacts of the browser tests (gitignored). */
export const ARTIFACTS_DIR = fileURLToPath(new URL('../../test-artifacts/browser/', import.meta.url));

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return `${ARTIFACTS_DIR}${name}`;
}

export interface ConsoleApp {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly runtime: PathwayRuntime;
  readonly settings: Settings;
  /** The key that signs and checks case links. */
  readonly caseLinkKey: Buffer;
  /** The map's caches (to look at their sizes). */
  readonly maps: MapCache;
  close(): Promise<void>;
}

/**
 * The console plugin alone on 127.0.0.1 and an ephemeral port, with the real pathway runtime, a fresh
 * case-link key, the map's caches of the given sizes and, when given, the service's clock (the form's
 * default evaluation time).
 */
export async function startConsole(settingsObject: Record<string, unknown> = {}, opts: { mapCache?: MapCacheOptions; caseLinkKey?: Buffer; now?: () => Date } = {}): Promise<ConsoleApp> {
  const settings = loadSettings({ object: { logLevel: 'silent', rateLimit: UNLIMITED, ...settingsObject } });
  const runtime = await loadRuntime(settings);
  const caseLinkKey = opts.caseLinkKey ?? randomBytes(32);
  const maps = new MapCache(opts.mapCache);
  const app = Fastify({ logger: false });
  await app.register(consolePlugin, { runtime, settings, caseLinkKey, maps, ...(opts.now === undefined ? {} : { now: opts.now }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, app, runtime, settings, caseLinkKey, maps, close: () => app.close() };
}

export interface PageWatch {
  /** Console errors and warnings, uncaught page errors, failed requests, HTTP 4xx/5xx, other origins. */
  readonly problems: string[];
}

/** Watches a page for anything a clean page load must not have. */
export function watchPage(page: Page, origin: string): PageWatch {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A download's blob: navigation is not a failed request of the page.
    if (!r.url().startsWith('blob:')) problems.push(`request failed: ${r.url()} (${r.failure()?.errorText ?? ''})`);
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) problems.push(`request outside the service: ${u}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  return { problems };
}

/** axe-core's source, injected into a page (its context needs `bypassCSP`: the page allows no other script). */
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly nodes: readonly string[];
}

/** axe-core's violations on the page as it is now (the first three nodes of each). */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  if (!(await page.evaluate<boolean>("typeof window.axe === 'object'"))) await page.addScriptTag({ content: AXE });
  return page.evaluate<AxeViolation[]>('window.axe.run(document).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) })))');
}
