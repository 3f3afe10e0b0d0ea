/**
 * Outside services the integration and browser suites need (PostgreSQL, Chromium, ...).
 *
 * The rule: under a plain `npm test` on a developer machine, a suite whose service is absent prints a
 * loud warning and is skipped, so the rest of the tests still run; with CI=true (the CI script sets it)
 * a missing service is a FAILED test, never a silent skip, so CI cannot go green without having run them.
 *
 * Pattern, at the top of a test file:
 *
 *     const runPg = requireService('PostgreSQL at 127.0.0.1:5432', await pgAvailable());
 *     describe.runIf(runPg)('... on PostgreSQL', () => { ... });
 */
import pg from 'pg';
import { it } from 'vitest';

/** The test database: local only, trust auth (the CI script starts it). */
export const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** True when the CI variable asks for the strict behaviour (CI=true, CI=1, ...). */
export function isCi(): boolean {
  const v = (process.env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false' && v !== 'no';
}

/** Whether the test PostgreSQL answers a query within `timeoutMs`. Never throws. */
export async function pgAvailable(timeoutMs = 3000): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Decides whether the suites needing `name` run, and registers the test that makes its absence visible:
 * a failing test under CI, a skipped one (plus a loud warning on stderr) otherwise. Returns `available`,
 * to pass to `describe.runIf`. Call it at collection time (top level of a test file).
 */
export function requireService(name: string, available: boolean, howToStart = ''): boolean {
  if (available) return true;
  const hint = howToStart === '' ? '' : ` (${howToStart})`;
  if (isCi()) {
    it(`${name} is available (required when CI=true)`, () => {
      throw new Error(`${name} is not available${hint}; CI=true, so the suites that need it fail instead of being skipped`);
    });
  } else {
    const bar = '!'.repeat(100);
    process.stderr.write(`\n${bar}\n!! WARNING: ${name} is not available${hint}.\n!! The suites that need it are SKIPPED. Under CI=true they would FAIL.\n${bar}\n\n`);
    it.skip(`${name} is available (skipped: service absent, see warning)`, () => undefined);
  }
  return false;
}
