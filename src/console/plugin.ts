/**
 * The clinicians' test console: GET /console (a static page whose scripts are compiled at install time
 * into dist/console/web) and its JSON API under /console/api/. It holds no patient data and stores
 * nothing: every answer is computed from the request, through the same code path as the CDS service
 * (decide, then cardsFor).
 *
 *   GET  /console                    the page
 *   GET  /console/rules              the pathway's clinical specification (docs/clinical/<pathway>.md), #rule-N anchors
 *   GET  /console/rules/engineering  the engineering map (code and tests per rule), #rule-N anchors
 *   GET  /console/assets/*           CSS (src/console/static)
 *   GET  /console/js/*               the page's ES modules (dist/console/web)
 *   GET  /console/js/vendor/dagre.esm.js  the chart's layout library, from node_modules
 *   POST /console/api/evaluate       { bundle | resources | case, now?, encounter?, settings? } -> decision, cards
 *   GET  /console/api/pathway        the pathway file and the assay catalogue, for drawing
 *   GET  /console/api/fixtures       every fixture, expected and actual outcome, pass/fail
 *   GET  /console/api/fixtures/:name one fixture, its Bundle, decision and cards
 *   POST /console/api/map            { assay, baseline, timi, sex? } -> outcome over retest values, heat map
 *
 * Everything here is public, so everything is bounded (docs/console.md, "Limits"): per-client rate
 * limits by group (settings `rateLimit`: `consolePages`, `consoleApi`, `consoleMap`), a 64 kB body
 * limit on the API, at most 200 resources per request, and the map's caches of fixed size.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { PathwayRuntime } from '../engine/catalogue.js';
import type { Settings } from '../settings.js';
import { extractResources } from '../fhir/mapping.js';
import { TnpError, isTnpError, toOperationOutcome, type OperationOutcome } from '../errors.js';
import { limitRoutes } from '../http/rate-limit.js';
import type { Metrics } from '../observability/metrics.js';
import { consoleEvaluator } from './evaluate.js';
import { adoptionPage } from './adoption-page.js';
import { FIXTURE_BASIS, FixtureLibrary } from './fixtures.js';
import { MapCache } from './map.js';
import { engineeringPage, rulesPage } from './rules.js';
import { validateEvaluateBody, validateMapBody } from './schemas.js';
import type { AssayView, EvaluateResponse, FixtureResponse, FixturesResponse, PathwayResponse } from './web/api-types.js';

export interface ConsolePluginOptions {
  readonly runtime: PathwayRuntime;
  readonly settings: Settings;
  /** Where the scenario fixtures are (default: fhir-fixtures/ of the project). */
  readonly fixturesDir?: string;
  /** Where the docs are (default: docs/ of the project): clinical/<pathway>.md, clinical/rules.json, the engineering map. */
  readonly docsDir?: string;
  /** The key that checks case links' signatures (src/cds/case-link-key.ts). */
  readonly caseLinkKey: Uint8Array;
  /** The clock of the rate limits' windows and of evaluations without a time (default: the real clock). */
  readonly now?: () => Date;
  /** Metrics (refusals by rate limit, the map's evaluations and caches); none when absent. */
  readonly metrics?: Metrics;
  /** The map's caches (default: a MapCache of the default sizes). */
  readonly maps?: MapCache;
}

/** src/console/static (the page and its CSS), found from src/ under tests and from dist/ in production. */
export const STATIC_DIR = fileURLToPath(new URL('../../src/console/static/', import.meta.url));
/** The page's compiled ES modules (npm run build: tsc -p src/console/web/tsconfig.json). */
export const WEB_DIR = fileURLToPath(new URL('../../dist/console/web/', import.meta.url));

/**
 * The chart's layout library, served to the page as it is installed (no CDN, nothing downloaded):
 * @dagrejs/dagre's self-contained ES module build (graphlib included).
 */
export const DAGRE_ESM = join(dirname(createRequire(import.meta.url).resolve('@dagrejs/dagre')), 'dagre.esm.js');

/**
 * Largest request body of the console API: a real case is a few kB (the largest fixture, 6 resources,
 * is 4.3 kB of JSON; a busy episode of 100 Observations about 40 kB).
 */
export const API_BODY_LIMIT = 64 * 1024;

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  // Everything the page needs comes from this service: no CDN, no inline script.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function fastifyErrorToTnp(err: FastifyError): TnpError {
  const code = err.code;
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return new TnpError('TNP_ERR_INPUT_EMPTY', 'the request body is empty');
  if (code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError || /JSON/.test(err.message)) {
    return new TnpError('TNP_ERR_INPUT_NOT_JSON', `the request body is not JSON: ${err.message}`);
  }
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new TnpError('TNP_ERR_CONSOLE_TOO_LARGE', `the request body is larger than ${API_BODY_LIMIT} bytes`);
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new TnpError('TNP_ERR_CONSOLE_REQUEST_INVALID', 'send the body as application/json');
  return new TnpError('TNP_ERR_CONSOLE_REQUEST_INVALID', err.message);
}

function sendError(reply: FastifyReply, e: TnpError): FastifyReply {
  return reply.code(e.status).type('application/fhir+json').headers(SECURITY_HEADERS).send(toOperationOutcome(e));
}

export async function consolePlugin(app: FastifyInstance, opts: ConsolePluginOptions): Promise<void> {
  const { runtime, settings, metrics } = opts;
  const now = opts.now ?? ((): Date => new Date());
  const file = runtime.pathway.file;
  const fixtures = new FixtureLibrary(runtime, opts.fixturesDir);
  const maps =
    opts.maps ??
    new MapCache({
      onComputed: (evaluations, size) => {
        metrics?.consoleMapEvaluations.inc(evaluations);
        metrics?.consoleMapCacheEntries.set({ cache: 'grid' }, size.grids);
        metrics?.consoleMapCacheEntries.set({ cache: 'sweep' }, size.sweeps);
      },
    });
  // The form's default assay must be one the service knows (the shipped catalogue and the site's assays).
  if (settings.consoleDefaultAssay !== null && !runtime.assays.has(settings.consoleDefaultAssay)) {
    throw new TnpError('TNP_ERR_SETTINGS_INVALID', `invalid settings: "consoleDefaultAssay" is "${settings.consoleDefaultAssay}", not an assay of the catalogue (${[...runtime.assays.keys()].join(', ')})`);
  }
  const evaluator = consoleEvaluator({ runtime, settings, caseLinkKey: opts.caseLinkKey, now });
  const limits = { now, onLimited: (group: keyof Settings['rateLimit']) => metrics?.rateLimited.inc({ group }) };

  app.setErrorHandler(async (err: FastifyError, req, reply) => {
    if (isTnpError(err)) return sendError(reply, err);
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return sendError(reply, fastifyErrorToTnp(err));
    req.log.error({ err }, 'console: unexpected error');
    const oo: OperationOutcome = { resourceType: 'OperationOutcome', issue: [{ severity: 'fatal', code: 'exception', diagnostics: 'Unexpected error in the console; see the service log.' }] };
    return reply.code(500).type('application/fhir+json').headers(SECURITY_HEADERS).send(oo);
  });

  const indexHtml = await readFile(`${STATIC_DIR}index.html`, 'utf8');
  const dagreJs = await readFile(DAGRE_ESM, 'utf8');
  if (!existsSync(`${WEB_DIR}main.js`)) {
    app.log.warn(`console: ${WEB_DIR}main.js is missing; run "npm run build" (the page will not work until it is built)`);
  }

  // The page, its files and the rules page: a generous budget per client (a page load is about 15 requests).
  await app.register(async (pages) => {
    await limitRoutes(pages, 'consolePages', settings.rateLimit.consolePages, limits);
    await pages.register(fastifyStatic, { root: STATIC_DIR, prefix: '/console/assets/', decorateReply: false, index: false, cacheControl: false, setHeaders: (res) => void res.headers(SECURITY_HEADERS) });
    await pages.register(fastifyStatic, { root: WEB_DIR, prefix: '/console/js/', decorateReply: false, index: false, cacheControl: false, allowedPath: (p) => p.endsWith('.js') || p.endsWith('.js.map'), setHeaders: (res) => void res.headers(SECURITY_HEADERS) });
    pages.get('/console', async (_req, reply) => reply.type('text/html; charset=utf-8').headers(SECURITY_HEADERS).send(indexHtml));
    pages.get('/console/js/vendor/dagre.esm.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').headers(SECURITY_HEADERS).send(dagreJs));
    pages.get('/console/', async (_req, reply) => reply.redirect('/console'));
    await adoptionPage(pages, STATIC_DIR, SECURITY_HEADERS);
    pages.get('/console/rules', async (_req, reply) => {
      const html = await rulesPage(file, opts.docsDir);
      return reply.type('text/html; charset=utf-8').headers(SECURITY_HEADERS).send(html);
    });
    pages.get('/console/rules/engineering', async (_req, reply) => {
      const html = await engineeringPage(file, opts.docsDir);
      return reply.type('text/html; charset=utf-8').headers(SECURITY_HEADERS).send(html);
    });
  });

  // The API: every engine-bearing route shares one budget per client; bodies of 64 kB at most.
  await app.register(async (api) => {
    await limitRoutes(api, 'consoleApi', settings.rateLimit.consoleApi, limits);
    api.post('/console/api/evaluate', { bodyLimit: API_BODY_LIMIT }, async (req, reply) => {
      const body = validateEvaluateBody(req.body);
      return reply.headers(SECURITY_HEADERS).send(await evaluator.evaluate(body));
    });

    api.get('/console/api/pathway', async (_req, reply) => {
      const catalogue = [...runtime.assays.values()].map((a): AssayView => {
        const codings = [...runtime.codeMaps.assayByCoding.entries()]
          .filter(([, v]) => v.assayId === a.id)
          .map(([k]) => ({ system: k.slice(0, k.lastIndexOf('|')), code: k.slice(k.lastIndexOf('|') + 1) }));
        return {
          id: a.id,
          name: a.name,
          analyte: a.analyte,
          codings,
          url99: { overall: a.urlOverall.toFixed(), ...(a.urlFemale === null ? {} : { female: a.urlFemale.toFixed() }), ...(a.urlMale === null ? {} : { male: a.urlMale.toFixed() }) },
          lod: a.lod.toFixed(),
        };
      });
      const ecgCode = file.inputs.ecg.codes[0];
      if (ecgCode === undefined) throw new TnpError('TNP_ERR_PATHWAY_INVALID', 'the pathway file names no ECG code');
      const body: PathwayResponse = {
        pathway: file,
        identity: runtime.identity,
        assays: catalogue,
        codes: { productSystem: file.inputs.productSystem, ecgCode },
        sexSpecificUrls: runtime.sexSpecificUrls,
        displayTimeZone: settings.displayTimeZone,
        now: now().toISOString(),
        consoleDefaultAssay: settings.consoleDefaultAssay,
        rulesUrl: '/console/rules',
      };
      return reply.headers(SECURITY_HEADERS).send(body);
    });

    api.get('/console/api/fixtures', async (_req, reply) => {
      const list = await fixtures.list();
      const body: FixturesResponse = { fixtures: list, passed: list.filter((f) => f.pass).length, failed: list.filter((f) => !f.pass).length, basis: FIXTURE_BASIS };
      return reply.headers(SECURITY_HEADERS).send(body);
    });

    api.get<{ Params: { name: string } }>('/console/api/fixtures/:name', async (req, reply) => {
      const one = await fixtures.one(req.params.name);
      const { decision, runtime: rt, ...summary } = one;
      const resources = extractResources(one.bundle);
      const body: FixtureResponse & { evaluation: EvaluateResponse } = {
        ...summary,
        evaluation: evaluator.respond(decision, rt, { sexSpecificUrls: rt.sexSpecificUrls, source: rt.sexSpecificUrls === runtime.sexSpecificUrls ? 'site' : 'request' }, resources, one.now, one.encounter ?? null),
      };
      return reply.headers(SECURITY_HEADERS).send(body);
    });
  });

  // The map: hundreds of evaluations when not cached, so a budget of its own, smaller.
  await app.register(async (mapScope) => {
    await limitRoutes(mapScope, 'consoleMap', settings.rateLimit.consoleMap, limits);
    mapScope.post('/console/api/map', { bodyLimit: API_BODY_LIMIT }, async (req, reply) => {
      const body = validateMapBody(req.body);
      return reply.headers(SECURITY_HEADERS).send(await maps.get(runtime, body));
    });
  });
}
