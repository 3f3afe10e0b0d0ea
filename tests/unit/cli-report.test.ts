/**
 * `hs-troponin-cds report` run with settings whose SQLite store does not exist (another directory, the
 * wrong settings file, a service never started) said TNP_ERR_AUDIT_UNAVAILABLE, with a how-to-fix about a
 * writable directory, a full disk and "Nothing was sent without its record; retry": none of it true of a
 * read-only report. It now names the missing file and the settings it came from, and says to point the
 * report at the service's own store. The real command line, a real settings file.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tnp-report-missing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function report(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['report', '--from', '2026-01-01', '--to', '2026-01-31', ...args], { out: (s) => (out += s), err: (s) => (err += s), env, nowMs: () => Date.parse('2026-06-01T00:00:00Z') });
  return { code, out, err };
}

describe('report: a store file that does not exist', () => {
  const store = join(dir, 'nowhere', 'audit.sqlite');
  const settingsFile = join(dir, 'settings.json');
  writeFileSync(settingsFile, JSON.stringify({ storage: { kind: 'sqlite', path: store } }));

  it('names the missing file and the settings it came from, and says to point the report at the service\'s store', async () => {
    for (const [args, env, from] of [
      [['--settings', settingsFile], {}, `--settings ${settingsFile}`],
      [[], { HS_TROPONIN_CDS_SETTINGS: settingsFile }, `HS_TROPONIN_CDS_SETTINGS (${settingsFile})`],
    ] as const) {
      const { code, out, err } = await report([...args], { ...env });
      expect(code).toBe(1);
      expect(out).toBe('');
      expect(err).toContain(`the audit store file ${store} does not exist`);
      expect(err).toContain(from);
      expect(err).toContain('[TNP_ERR_REPORT_STORE_MISSING]');
      expect(err).toMatch(/How to fix: .*--settings.*storage\.path/);
      // Nothing about writing, a full disk or retrying: the report only reads.
      expect(err).not.toMatch(/writable|disk|Nothing was sent|retry/i);
      expect(existsSync(store)).toBe(false);
    }
  });
});
