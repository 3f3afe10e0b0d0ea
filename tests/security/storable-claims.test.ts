/**
 * A signed token whose claims cannot be stored as text (a NUL, a lone surrogate, a control character, an
 * absurd length) is refused by the verifier with the plain 401, on every CDS route and on both audit
 * stores: it never reaches the replay guard or the audit trail, where it used to end in a 500 carrying
 * the store's internal message. And whatever else goes wrong, a 500 body carries no internal message.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCdsClient, type CdsTestClient } from '../support/cds-client.js';
import { pgAvailable, requireService } from '../support/services.js';
import { call, DISCOVERY_PATH, EHR_ISS, FEEDBACK_PATH, harnessFor, hookBody, PUBLIC_BASE_URL, SERVICE_PATH, startApp, type RunningApp } from '../support/cds-app.js';

const UNAUTHORIZED = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', details: { text: 'Unauthorized' } }] };

const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());

/** Claims that no store can keep as text, each named for the test title (a fresh jti on every call). */
const BAD: readonly (readonly [string, () => { claims?: Record<string, unknown>; jti?: string }])[] = [
  ['jti with a NUL', () => ({ jti: `a\u0000b-${randomUUID()}` })],
  ['jti that is a lone high surrogate', () => ({ jti: `\uD800-${randomUUID()}` })],
  ['jti with a lone low surrogate', () => ({ jti: `${randomUUID()}\uDC00` })],
  ['jti with a control character', () => ({ jti: `line\nbreak-${randomUUID()}` })],
  ['jti of 4,000 characters', () => ({ jti: `${randomUUID()}${'j'.repeat(4000 - 36)}` })],
  ['tenant with a NUL', () => ({ claims: { tenant: 'hospital\u0000a' } })],
  ['tenant with a lone surrogate', () => ({ claims: { tenant: 'hospital-\uDFFF' } })],
  ['sub with a NUL', () => ({ claims: { sub: 'Practitioner/\u0000' } })],
];

const ROUTES = [
  ['GET', DISCOVERY_PATH],
  ['POST', SERVICE_PATH],
  ['POST', FEEDBACK_PATH],
] as const;

function bodyFor(path: string): unknown {
  if (path === SERVICE_PATH) return hookBody('p-storable', { prefetch: { observations: null } });
  if (path === FEEDBACK_PATH) return { feedback: [{ card: randomUUID(), outcome: 'overridden', outcomeTimestamp: '2026-01-01T00:00:00Z' }] };
  return undefined;
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe.runIf(kind === 'sqlite' || runPg)(`claims that cannot be stored: 401 on every CDS route (${kind})`, () => {
    const harness = harnessFor(kind);
    let app: RunningApp;
    let ehr: CdsTestClient;

    beforeAll(async () => {
      ehr = await createCdsClient({ iss: EHR_ISS, alg: 'ES384' });
      app = await startApp({ storage: harness.fresh(), clients: [ehr] });
    });

    afterAll(async () => {
      await app?.close();
      await harness.cleanup();
    });

    for (const [method, path] of ROUTES) {
      it.each(BAD)(`${method} ${path}: %s`, async (_label, make) => {
        const bad = make();
        const token = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${path}`, ...(bad.jti === undefined ? {} : { jti: bad.jti }), ...(bad.claims === undefined ? {} : { claims: bad.claims }) });
        const res = await call(app, null, method, path, bodyFor(path), { token });
        expect(res.status, res.text.slice(0, 300)).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
        expect(res.json).toEqual(UNAUTHORIZED);
      });
    }

    it('the same token with storable claims is accepted on every route (the refusals above are about the claims)', async () => {
      for (const [method, path] of ROUTES.slice(0, 2)) {
        const res = await call(app, ehr, method, path, bodyFor(path));
        expect(res.status, res.text.slice(0, 300)).toBe(200);
      }
      // Feedback on a card never issued is a 404 past the JWT check.
      expect((await call(app, ehr, 'POST', FEEDBACK_PATH, bodyFor(FEEDBACK_PATH))).status).toBe(404);
    });

    it('nothing of a refused token reaches the audit trail or the replay guard', async () => {
      const jti = `x\u0000y-${randomUUID()}`;
      const before = app.store.stats();
      const token = await ehr.sign({ aud: `${PUBLIC_BASE_URL}${SERVICE_PATH}`, jti });
      expect((await call(app, null, 'POST', SERVICE_PATH, bodyFor(SERVICE_PATH), { token })).status).toBe(401);
      const after = app.store.stats();
      expect(after.appended).toBe(before.appended);
      expect(after.jtiChecks).toBe(before.jtiChecks);
      expect(app.logText()).toContain('"event":"jwt-refused"');
    });
  });
}
