/**
 * S-05: the FHIR client library (fhir-kit-client) never carries the access token or the patient out of
 * src/fhir/http.ts.
 *
 * - Its debug logging (`DEBUG=fhir-kit-client:*`) prints every request's URL (the patient id is in it),
 *   its headers and the bodies of failed answers: the pull switches it off, whatever `DEBUG` says, and a
 *   real process run with that `DEBUG` prints neither the token nor the patient id.
 * - Its errors carry the request URL and the response, and its results hide the `Request` (with the
 *   Authorization header): the pull's errors and results carry neither.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TnpError } from '../../src/errors.js';
import { pullPathwayData, type PullRequest } from '../../src/fhir/pull.js';
import { FHIR_LIMITS } from '../../src/fhir/session.js';
import type { PullChildJob } from '../support/fhir-pull-child.js';
import { startFhirServer, type TestFhirServer } from '../support/fhir-server.js';
import { closedPort, sendJson, startLoopbackServer, type LoopbackServer } from '../support/loopback-server.js';
import { manualTimers } from '../support/manual-timers.js';

const TOKEN = 'fhir-token-5e0c9a71-do-not-log';
const PATIENT = 'pat-secret-4d2b';
const MISSING = 'pat-absent-81ac';
const CHILD = fileURLToPath(new URL('../support/fhir-pull-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let ehr: TestFhirServer;
let odd: LoopbackServer;

beforeAll(async () => {
  ehr = await startFhirServer({ bearerToken: TOKEN });
  const patient: Patient = { resourceType: 'Patient', id: PATIENT };
  const troponin: Observation = {
    resourceType: 'Observation',
    id: 'trop-1',
    status: 'final',
    subject: { reference: `Patient/${PATIENT}` },
    code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] },
    effectiveDateTime: '2026-04-17T12:00:00Z',
    valueQuantity: { value: 12, unit: 'ng/L', system: 'http://unitsofmeasure.org', code: 'ng/L' },
  };
  await ehr.seed([patient, troponin]);
  // Answers by path: a redirect, a body that is not JSON, a body over the limit.
  odd = await startLoopbackServer((req, res) => {
    const url = req.url ?? '';
    if (url.includes('/redirect/')) {
      res.writeHead(302, { location: `${ehr.baseUrl}/Patient/elsewhere` });
      res.end();
    } else if (url.includes('/html/')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<html>${PATIENT}</html>`);
    } else {
      sendJson(res, 200, { resourceType: 'Bundle', type: 'searchset', entry: [], note: 'x'.repeat(FHIR_LIMITS.maxBodyBytes) });
    }
  });
});

afterAll(async () => {
  await ehr?.close();
  await odd?.close();
});

/** Runs the child with `DEBUG` and returns its exit code, stdout and stderr. */
function runChild(mode: PullChildJob['mode'], debug: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const job: PullChildJob = { mode, baseUrl: ehr.baseUrl, accessToken: TOKEN, patientId: PATIENT, missingPatientId: MISSING, otherNamespace: 'tnp-test:other' };
  const env = { ...process.env, DEBUG: debug, DEBUG_COLORS: 'no', FHIR_PULL_CHILD: JSON.stringify(job) };
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => proc.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe("S-05: fhir-kit-client's debug logging", () => {
  it('with DEBUG=fhir-kit-client:* the pull works, and neither the access token nor the patient id reaches stdout or stderr', async () => {
    ehr.requests.length = 0;
    const { code, stdout, stderr } = await runChild('pull', 'tnp-test:*,fhir-kit-client:*');
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
    // The pull did its work, with the token, in that process: for each patient a search and a read.
    expect(result).toEqual({ resources: 2, requests: 2, missing: 'TNP_ERR_FHIR_FAILED', otherNamespaceEnabled: true, clientNamespacesEnabled: false });
    expect(ehr.requests.map((r) => r.authorization)).toEqual(Array(4).fill(`Bearer ${TOKEN}`));
    for (const out of [stdout, stderr]) {
      expect(out).not.toContain(TOKEN);
      expect(out).not.toContain(PATIENT);
      expect(out).not.toContain(MISSING);
      expect(out).not.toContain('fhir-kit-client');
    }
  });

  it('control: fhir-kit-client used directly under the same DEBUG prints the patient ids (what the pull keeps out)', async () => {
    const { code, stdout, stderr } = await runChild('client', 'fhir-kit-client:*');
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout.trim())).toEqual({ patient: 'Patient', missing: 'failed' });
    expect(stderr).toContain('fhir-kit-client:info');
    expect(stderr).toContain(`/Patient/${PATIENT}`);
    expect(stderr).toContain(`/Patient/${MISSING}`);
  });
});

function pullReq(over: Partial<PullRequest>): PullRequest {
  return {
    fhirServer: ehr.baseUrl,
    allowedServers: [ehr.baseUrl, `${odd.origin}/fhir`],
    accessToken: TOKEN,
    patientId: PATIENT,
    observationCodes: [{ system: 'http://loinc.org', code: '67151-1' }],
    includePatient: true,
    timeoutMs: 3000,
    timers: manualTimers(),
    ...over,
  };
}

/** Everything an error holds, hidden properties and causes included. */
function everything(value: unknown): string {
  return inspect(value, { depth: 12, showHidden: true, getters: true, maxArrayLength: null, maxStringLength: null });
}

describe("S-05: fhir-kit-client's errors and results stay inside the FHIR module", () => {
  it('every failure (401, 403, 500, 404, a redirect, a body that is not JSON, an over-large body, a closed port): no request URL, header, token or patient id in the error or its causes', async () => {
    const port = await closedPort();
    const cases: { name: string; req: Partial<PullRequest>; before?: () => void }[] = [
      { name: '401', req: { accessToken: `${TOKEN}-expired` } },
      { name: '403', req: {}, before: () => ehr.setFaults({ fail: { status: 403, text: 'scope missing' } }) },
      { name: '500', req: {}, before: () => ehr.setFaults({ fail: { status: 500, text: 'database down' } }) },
      { name: '404', req: { patientId: MISSING, observationCodes: [] } },
      { name: 'redirect', req: { fhirServer: `${odd.origin}/fhir/redirect` } },
      { name: 'not JSON', req: { fhirServer: `${odd.origin}/fhir/html` } },
      { name: 'too large', req: { fhirServer: `${odd.origin}/fhir/big` } },
      { name: 'closed port', req: { fhirServer: `http://127.0.0.1:${port}/fhir`, allowedServers: [`http://127.0.0.1:${port}/fhir`] } },
    ];
    const codes: string[] = [];
    for (const c of cases) {
      ehr.setFaults({});
      c.before?.();
      const e: unknown = await pullPathwayData(pullReq(c.req)).then(
        () => new Error(`${c.name}: the pull succeeded`),
        (err: unknown) => err,
      );
      expect(e, c.name).toBeInstanceOf(TnpError);
      codes.push(`${c.name}: ${(e as TnpError).code}`);
      const text = everything(e);
      for (const secret of [TOKEN, PATIENT, MISSING, 'Bearer', 'authorization', '?']) expect(text, `${c.name}: ${secret}`).not.toContain(secret);
      // No object of fhir-kit-client's (its `config` and `response`) anywhere in the chain.
      expect(text, c.name).not.toMatch(/\b(config|response|headers)\s*:|__request|__response/);
    }
    ehr.setFaults({});
    expect(codes).toEqual([
      '401: TNP_ERR_FHIR_UNAUTHORIZED',
      '403: TNP_ERR_FHIR_UNAUTHORIZED',
      '500: TNP_ERR_FHIR_FAILED',
      '404: TNP_ERR_FHIR_FAILED',
      'redirect: TNP_ERR_FHIR_FAILED',
      'not JSON: TNP_ERR_FHIR_FAILED',
      'too large: TNP_ERR_FHIR_LIMIT_EXCEEDED',
      'closed port: TNP_ERR_FHIR_FAILED',
    ]);
  });

  it("the resources of a pull carry no hidden Request or Response (where fhir-kit-client keeps the Authorization header)", async () => {
    const { resources } = await pullPathwayData(pullReq({}));
    expect(resources.map((r) => (r as { resourceType: string }).resourceType).sort()).toEqual(['Observation', 'Patient']);
    const text = everything(resources);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toMatch(/__request|__response/);
  });
});
