/**
 * `npx hs-troponin-cds call <bundle.json> [--now <ISO time>] [--encounter <id>]`: a real CDS Hooks call to
 * the service `npx hs-troponin-cds dev` runs, as an EHR makes it. It finds the service by HOST and PORT
 * (as `npm start` listens), reads the local development key from the data directory of the same settings,
 * signs each request's JWT (ES384, `aud` = publicBaseUrl + the path called, `iat`, `exp`, `jti`), reads
 * the discovery document, answers its prefetch templates from the file's resources
 * (src/dev/prefetch-fill.ts), posts a `patient-view` call, and prints each card for a person: indicator,
 * summary, detail, suggestions and links, and the audit id.
 *
 * The fixtures hold fixed clinical times: the call is evaluated at `--now`, else at the `now` of the
 * fixture's `.expected.json` beside it, else when the service receives it (src/dev/evaluation-time.ts).
 * Exit 0 with the cards; 2 when an argument or the file is wrong; 1 when the service cannot be reached
 * or does not answer 200 (the message says why and what to do).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { MAX_BODY_BYTES } from '../app.js';
import { TnpError } from '../errors.js';
import { parseInstant } from '../engine/time.js';
import { urlOf } from '../http/listen.js';
import { loadSettings, type Settings } from '../settings.js';
import { readDevKey, signDevToken, type DevKey } from './dev-key.js';
import { DEV_EXTENSION_KEY } from './evaluation-time.js';
import { isLoopbackAddress } from './local-peer.js';
import { entriesOf, fillPrefetch } from './prefetch-fill.js';
import { printCards } from './print-cards.js';
import { isObject } from '../util/guards.js';

type Json = Record<string, unknown>;

export interface CallArgs {
  readonly file: string;
  readonly now?: string;
  readonly encounter?: string;
}

export interface CallIo {
  readonly out: (s: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly nowMs: () => number;
}

/** A failure of the call itself (the service is not there, or did not answer 200): exit 1. */
export class CallFailed extends Error {}

const TIMEOUT_MS = 30_000;

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new TnpError('TNP_ERR_BAD_ARGUMENT', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  if (text.trim() === '') throw new TnpError('TNP_ERR_INPUT_EMPTY', `${file} is empty`);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new TnpError('TNP_ERR_INPUT_NOT_JSON', `${file} is not JSON: ${(cause as Error).message}`, { cause });
  }
}

/** The fixture's expectations beside it (`x.json` → `x.expected.json`), when there are. */
function expectedOf(file: string): Json | null {
  const beside = file.replace(/\.json$/i, '.expected.json');
  if (beside === file || !existsSync(beside)) return null;
  const doc = readJson(beside);
  return isObject(doc) ? doc : null;
}

/** The patient of the file: its Patient, else the patient its observations name most. */
function patientIdOf(entries: readonly { resource: Json }[]): string {
  const patient = entries.find((e) => e.resource['resourceType'] === 'Patient' && typeof e.resource['id'] === 'string');
  if (patient !== undefined) return patient.resource['id'] as string;
  const counts = new Map<string, number>();
  for (const e of entries) {
    const ref = isObject(e.resource['subject']) ? e.resource['subject']['reference'] : undefined;
    const m = typeof ref === 'string' ? /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref) : null;
    if (m?.[1] !== undefined) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
  }
  const best = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
  if (best === undefined) throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', 'the file names no patient: it holds no Patient and no Observation.subject "Patient/<id>"');
  return best[0];
}

interface Answer {
  readonly status: number;
  readonly json: unknown;
}

function unreachable(url: string, cause: unknown): CallFailed {
  const code = (cause as { cause?: { code?: string } }).cause?.code ?? (cause as Error).name;
  return new CallFailed(
    `no service answers at ${url} (${code}). Start it in another terminal of this directory with \`npx hs-troponin-cds dev\` ` +
      '(give both commands the same HOST, PORT and HS_TROPONIN_CDS_SETTINGS; the defaults are 127.0.0.1 and 8080). [TNP_ERR_SERVICE_UNREACHABLE]',
  );
}

function why401(settings: Settings, aud: string): string {
  const hints = [
    'the service was started with `npm start`, which trusts no local client: start it with `npx hs-troponin-cds dev`',
    `it runs from another directory or settings file, with another key (this call signed with ${settings.dataDir}/dev-client-key.json)`,
    `its publicBaseUrl differs from this call's (the token's aud was ${aud})`,
  ];
  if (!isLoopbackAddress(settings.host) && settings.host !== '0.0.0.0' && settings.host !== '::') hints.push(`HOST ${settings.host} is not a loopback address: the local client is trusted from loopback only (set HOST=127.0.0.1)`);
  else hints.push('the call went through a proxy (the local client is refused when a forwarding header is present)');
  return `401: the service refused the local client's token. Likely causes:\n${hints.map((h) => `  - ${h}`).join('\n')}\nThe service's log says which (event "jwt-refused").`;
}

async function send(url: string, token: string, body?: unknown): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    throw unreachable(new URL(url).origin, e);
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

/** The words of an OperationOutcome answer: its text, code and how to fix it. */
function outcomeWords(json: unknown): string {
  const issues = isObject(json) && Array.isArray(json['issue']) ? json['issue'].filter(isObject) : [];
  if (issues.length === 0) return typeof json === 'string' ? json.slice(0, 500) : JSON.stringify(json).slice(0, 500);
  return issues
    .map((i) => {
      const details = isObject(i['details']) ? i['details'] : {};
      const code = Array.isArray(details['coding']) && isObject(details['coding'][0]) ? ` [${String(details['coding'][0]['code'])}]` : '';
      return [typeof details['text'] === 'string' ? `${details['text']}${code}` : '', typeof i['diagnostics'] === 'string' ? i['diagnostics'] : ''].filter((s) => s !== '').join('\n  ');
    })
    .join('\n');
}

function refused(what: string, a: Answer, settings: Settings, aud: string): CallFailed {
  if (a.status === 401) return new CallFailed(`${what}: ${why401(settings, aud)}`);
  return new CallFailed(`${what}: the service answered ${a.status}:\n  ${outcomeWords(a.json)}`);
}

/** Makes the call and prints the cards. Throws TnpError (exit 2) or CallFailed (exit 1). */
export async function runCall(args: CallArgs, io: CallIo): Promise<void> {
  const settings = loadSettings({ env: io.env });
  const doc = readJson(args.file);
  const entries = entriesOf(doc);
  if (entries.length === 0) throw new TnpError('TNP_ERR_INPUT_NOT_FHIR', `${args.file} holds no FHIR resource (a Bundle, an array of resources, or a resource)`);
  const expected = expectedOf(args.file);
  const nowText = args.now ?? (typeof expected?.['now'] === 'string' ? expected['now'] : undefined);
  if (nowText !== undefined) {
    const p = parseInstant(nowText);
    if (!p.ok) throw new TnpError('TNP_ERR_BAD_ARGUMENT', `--now ${p.problem}`);
  }
  const encounter = args.encounter ?? (typeof expected?.['encounter'] === 'string' ? expected['encounter'] : undefined);
  const key: DevKey = readDevKey(settings.dataDir);
  const base = urlOf(settings.host, settings.port);

  const discoveryAud = `${settings.publicBaseUrl}/cds-services`;
  const discovery = await send(`${base}/cds-services`, await signDevToken(key, discoveryAud, io.nowMs()));
  if (discovery.status !== 200) throw refused('discovery (GET /cds-services)', discovery, settings, discoveryAud);
  const services = isObject(discovery.json) && Array.isArray(discovery.json['services']) ? discovery.json['services'].filter(isObject) : [];
  const service = services.find((s) => s['hook'] === 'patient-view' && typeof s['id'] === 'string');
  if (service === undefined) throw new CallFailed(`discovery at ${base}/cds-services lists no patient-view service`);
  const id = String(service['id']);

  const context = { userId: 'Practitioner/local-developer', patientId: patientIdOf(entries), ...(encounter === undefined ? {} : { encounterId: encounter }) };
  const prefetch = fillPrefetch(isObject(service['prefetch']) ? service['prefetch'] : {}, context, entries);
  const body = {
    hook: 'patient-view',
    hookInstance: randomUUID(),
    context,
    prefetch,
    ...(nowText === undefined ? {} : { extension: { [DEV_EXTENSION_KEY]: { evaluationTime: nowText } } }),
  };
  // Bound: the service takes bodies up to MAX_BODY_BYTES (413 above); say so before sending.
  const bytes = Buffer.byteLength(JSON.stringify(body));
  if (bytes > MAX_BODY_BYTES) throw new TnpError('TNP_ERR_BAD_ARGUMENT', `the call for ${args.file} would be ${(bytes / 1048576).toFixed(1)} MiB, over the ${MAX_BODY_BYTES / 1048576} MiB the service takes: keep the file to one patient's episode`);
  const aud = `${settings.publicBaseUrl}/cds-services/${id}`;
  const answer = await send(`${base}/cds-services/${encodeURIComponent(id)}`, await signDevToken(key, aud, io.nowMs()), body);
  if (answer.status !== 200) throw refused(`the CDS call (POST /cds-services/${id})`, answer, settings, aud);
  const when = nowText === undefined ? 'when received (no --now, and no .expected.json beside the file)' : `as at ${nowText}${args.now === undefined ? " (the fixture's now)" : ' (--now)'}`;
  io.out(`CDS call: ${args.file} for patient ${context.patientId}${encounter === undefined ? '' : `, encounter ${encounter}`}, evaluated ${when}\n`);
  io.out(`POST ${base}/cds-services/${id}: 200\n\n`);
  io.out(printCards(answer.json));
  const pathway = typeof expected?.['pathway'] === 'string' ? expected['pathway'] : 'chart2';
  const cards = isObject(answer.json) && Array.isArray(answer.json['cards']) ? answer.json['cards'].filter(isObject) : [];
  const ext = cards.map((c) => (isObject(c['extension']) ? c['extension']['hs-troponin-cds'] : undefined)).find(isObject);
  const served = isObject(ext) && isObject(ext['pathway']) ? ext['pathway']['id'] : undefined;
  if (expected !== null && typeof served === 'string' && served !== pathway) {
    io.out(`\nNote: this fixture is for the pathway "${pathway}", the service runs "${served}": set "pathway": "${pathway}" in the settings file to compare with the fixture's expected outcome.\n`);
  }
  if (expected !== null && typeof expected['outcome'] === 'string' && served === pathway && isObject(ext)) {
    io.out(`\nThe fixture expects ${expected['outcome']}; the card's outcome is ${String(ext['outcome'])}.\n`);
  }
}
