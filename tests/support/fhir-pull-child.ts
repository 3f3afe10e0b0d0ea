/**
 * A separate process that reads a FHIR server with whatever `DEBUG` its environment holds, for
 * tests/security/fhir-client-secrets.test.ts. Run with `node --import tsx tests/support/fhir-pull-child.ts`
 * and its job in the FHIR_PULL_CHILD environment variable (JSON, {@link PullChildJob}).
 *
 * - `pull`: the service's own FHIR pull (src/fhir/pull.ts), once for a patient that exists and once for
 *   one that does not (a 404 with an OperationOutcome, a failure fhir-kit-client logs with its body).
 * - `client`: fhir-kit-client used directly, as the control: what its debug logging prints when nothing
 *   switches it off.
 *
 * It prints one line of JSON (what it got) and exits; it never waits on the clock (the pull's time
 * bound is a timer that never fires: the test's own timeout bounds the process).
 */
import createDebug from 'debug';
import { Client } from 'fhir-kit-client';
import { TnpError } from '../../src/errors.js';
import { pullPathwayData } from '../../src/fhir/pull.js';
import type { Timers } from '../../src/util/timers.js';

export interface PullChildJob {
  readonly mode: 'pull' | 'client';
  /** The FHIR base. */
  readonly baseUrl: string;
  readonly accessToken: string;
  readonly patientId: string;
  /** A patient the server does not have (pull mode). */
  readonly missingPatientId: string;
  /** A debug namespace the child checks is still enabled (other namespaces of DEBUG are left on). */
  readonly otherNamespace: string;
}

const never: Timers = { after: () => () => undefined };

async function main(): Promise<void> {
  const job = JSON.parse(process.env['FHIR_PULL_CHILD'] ?? '{}') as PullChildJob;
  if (job.mode === 'client') {
    const client = new Client({ baseUrl: job.baseUrl, bearerToken: job.accessToken });
    const patient = await client.read({ resourceType: 'Patient', id: job.patientId });
    const missing = await client.read({ resourceType: 'Patient', id: job.missingPatientId }).then(
      () => 'found',
      () => 'failed',
    );
    process.stdout.write(`${JSON.stringify({ patient: patient.resourceType, missing })}\n`);
    return;
  }
  const req = {
    fhirServer: job.baseUrl,
    allowedServers: [job.baseUrl],
    accessToken: job.accessToken,
    observationCodes: [{ system: 'http://loinc.org', code: '67151-1' }],
    includePatient: true,
    timeoutMs: 60_000,
    timers: never,
  };
  const found = await pullPathwayData({ ...req, patientId: job.patientId });
  const missing = await pullPathwayData({ ...req, patientId: job.missingPatientId }).then(
    () => 'found',
    (e: unknown) => (e instanceof TnpError ? e.code : 'not a TnpError'),
  );
  const result = {
    resources: found.resources.length,
    requests: found.requests,
    missing,
    otherNamespaceEnabled: createDebug.enabled(job.otherNamespace),
    clientNamespacesEnabled: createDebug.enabled('fhir-kit-client:info') || createDebug.enabled('fhir-kit-client:error'),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`child failed: ${e instanceof Error ? e.name : 'unknown'}\n`);
  process.exitCode = 1;
});
