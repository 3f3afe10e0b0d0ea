/**
 * `npx hs-troponin-cds dev`: the service as `npm start` runs it (HOST, PORT, HS_TROPONIN_CDS_SETTINGS),
 * in one process, with the local development client trusted: its ES384 key is made once in the data
 * directory (src/dev/dev-key.ts) and its public half added to `cdsClients` under the issuer
 * `urn:hs-troponin-cds:local-dev-client`. The verifier accepts that client's tokens from this machine
 * only (src/dev/local-peer.ts, hazard I-01), and this service alone honours the evaluation time it asks
 * for (src/dev/evaluation-time.ts, hazard I-02). After the start line it says how to make a call.
 */
import { relative } from 'node:path';
import { runService } from '../service-main.js';
import type { Settings } from '../settings.js';
import { deepFreeze } from '../util/freeze.js';
import { loadOrCreateDevKey } from './dev-key.js';
import { DEV_CLIENT_ISS } from './local-peer.js';

/** The fixture the start message suggests (Chart 2, two troponins, consistent with MI). */
export const EXAMPLE_FIXTURE = 'fhir-fixtures/below-url-rise-above-url-consistent.json';

/** The settings `dev` runs with: the local client trusted (replacing a client of that issuer), one process. */
export async function devSettings(settings: Settings): Promise<{ settings: Settings; keyFile: string }> {
  const key = await loadOrCreateDevKey(settings.dataDir);
  const others = settings.cdsClients.filter((c) => c.iss !== DEV_CLIENT_ISS);
  const client = { iss: DEV_CLIENT_ISS, jwks: { keys: [{ ...key.publicJwk }] } };
  return { settings: deepFreeze({ ...settings, cdsClients: [...others, client], workers: 1 }), keyFile: key.file };
}

/** The lines after the start line: who is trusted, and the command that makes a call. */
export function howToCall(url: string, env: Readonly<Record<string, string | undefined>>, keyFile: string): string {
  const vars = ['HOST', 'PORT', 'HS_TROPONIN_CDS_SETTINGS'].filter((v) => env[v] !== undefined && env[v] !== '').map((v) => `${v}=${env[v] ?? ''}`);
  const prefix = vars.length === 0 ? '' : `${vars.join(' ')} `;
  return [
    `Development mode: the local client (${DEV_CLIENT_ISS}, key ${relative(process.cwd(), keyFile) || keyFile}) is trusted for calls from this machine only.`,
    'Make a CDS call from another terminal in this directory (the fixture\'s own evaluation time is used):',
    `  ${prefix}npx hs-troponin-cds call ${EXAMPLE_FIXTURE}`,
    `Discovery: ${url}/cds-services (needs a token; \`call\` signs one). Stop with Ctrl-C.`,
    '',
  ].join('\n');
}

/** Runs `dev`; a failed start writes why and exits 1, as `npm start` does. */
export async function runDev(env: Readonly<Record<string, string | undefined>>): Promise<void> {
  let keyFile = '';
  await runService({
    env,
    devEvaluationTime: true,
    prepare: async (s) => {
      const dev = await devSettings(s);
      keyFile = dev.keyFile;
      return dev.settings;
    },
    afterReady: (url) => howToCall(url, env, keyFile),
  });
}
