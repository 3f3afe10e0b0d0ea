/**
 * The command line, as the service contract fixes it: every fixture through the real `bin/` entry
 * point prints its expected outcome; bad files exit 2 with a clear message.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli.js';
import { type Expected, FIXTURES_DIR as FIXTURES, fixtureNames } from '../support/fixtures.js';
import { folderFixtureNames, loadPathwayFixture, pathwayFolders } from '../support/vignettes.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin/hs-troponin-cds.js');
const tmp = mkdtempSync(join(tmpdir(), 'hs-cli-'));

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

function file(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

describe('command line: hs-troponin-cds evaluate', () => {
  const names = fixtureNames();

  it('prints the expected decision for every fixture (in-process, the same code as bin/)', async () => {
    for (const name of names) {
      const exp = JSON.parse(readFileSync(join(FIXTURES, `${name}.expected.json`), 'utf8')) as Expected;
      const args = ['evaluate', join(FIXTURES, `${name}.json`), '--now', exp.now];
      if (exp.encounter !== undefined) args.push('--encounter', exp.encounter);
      if (exp.settings !== undefined) args.push('--settings', file(`${name}.settings.json`, JSON.stringify(exp.settings)));
      let out = '';
      const code = await runCli(args, { out: (s) => (out += s), err: () => undefined, env: {}, nowMs: () => 0 });
      expect(code, name).toBe(0);
      const d = JSON.parse(out) as { outcome: string; missing: string[]; retestDue?: string; reasons: unknown[]; trace: unknown[]; pathway: { id: string } };
      expect({ name, outcome: d.outcome, missing: d.missing, retestDue: d.retestDue }).toEqual({ name, outcome: exp.outcome, missing: exp.missing, retestDue: exp.retestDue });
      expect(d.reasons.length + d.trace.length).toBeGreaterThan(0);
      expect(d.pathway.id).toBe('chart2');
    }
  });

  it('the installed entry point prints a fixture\'s decision as JSON', async () => {
    const r = await cli(['evaluate', join(FIXTURES, 'below-url-rise-above-url-consistent.json'), '--now', (JSON.parse(readFileSync(join(FIXTURES, 'below-url-rise-above-url-consistent.expected.json'), 'utf8')) as Expected).now]);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const k of ['outcome', 'missing', 'reasons', 'trace', 'pathway']) expect(d).toHaveProperty(k);
    expect(d['outcome']).toBe('consistent-with-mi');
  });

  for (const folder of pathwayFolders()) {
    it(`--pathway ${folder}: every worked vignette of fhir-fixtures/${folder}/ prints its expected decision (in-process)`, async () => {
      for (const name of folderFixtureNames(folder)) {
        const { expected: exp, dir } = loadPathwayFixture(folder, name);
        const args = ['evaluate', join(dir, `${name}.json`), '--now', exp.now, '--pathway', folder];
        if (exp.settings !== undefined) args.push('--settings', file(`${folder}-${name}.settings.json`, JSON.stringify(exp.settings)));
        let out = '';
        const code = await runCli(args, { out: (s) => (out += s), err: () => undefined, env: {}, nowMs: () => 0 });
        expect(code, name).toBe(0);
        const d = JSON.parse(out) as { outcome: string; missing: string[]; retestDue?: string; onset?: unknown; pathway: { id: string } };
        expect({ name, outcome: d.outcome, missing: d.missing, retestDue: d.retestDue, pathway: d.pathway.id }).toEqual({ name, outcome: exp.outcome, missing: exp.missing, retestDue: exp.retestDue, pathway: folder });
        if (exp.onset !== undefined) expect(d.onset, name).toEqual(exp.onset);
      }
    });

    it(`the installed entry point takes --pathway ${folder}`, async () => {
      const name = folderFixtureNames(folder).find((n) => loadPathwayFixture(folder, n).expected.outcome === 'rule-out') ?? '';
      const { expected: exp, dir } = loadPathwayFixture(folder, name);
      const r = await cli(['evaluate', join(dir, `${name}.json`), '--now', exp.now, '--pathway', folder]);
      expect(r.code, r.stderr).toBe(0);
      const d = JSON.parse(r.stdout) as { outcome: string; pathway: { id: string } };
      expect([d.outcome, d.pathway.id]).toEqual(['rule-out', folder]);
      // The same file by Chart 2 (the default) is a different pathway's decision.
      const c2 = JSON.parse((await cli(['evaluate', join(dir, `${name}.json`), '--now', exp.now])).stdout) as { pathway: { id: string } };
      expect(c2.pathway.id).toBe('chart2');
    });
  }

  it('--pathway with an unknown id: exit 2, naming the pathways there are', async () => {
    const r = await cli(['evaluate', join(FIXTURES, 'stemi-on-ecg.json'), '--pathway', 'esc-0h3h']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/esc-0h3h/);
    expect(r.stderr).toMatch(/esc-0h1h/);
  });

  it('rule 15: the same decision, byte for byte, whatever the host time zone and locale', async () => {
    const fx = join(FIXTURES, 'shuffled-resource-order.json');
    const now = (JSON.parse(readFileSync(join(FIXTURES, 'shuffled-resource-order.expected.json'), 'utf8')) as Expected).now;
    const a = await cli(['evaluate', fx, '--now', now], { TZ: 'UTC', LC_ALL: 'C', LANG: 'C' });
    const b = await cli(['evaluate', fx, '--now', now], { TZ: 'Pacific/Chatham', LC_ALL: 'de_DE.UTF-8', LANG: 'ar_EG.UTF-8' });
    expect(a.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
  });

  it('malformed JSON: exit 2 and says the file is not JSON', async () => {
    const r = await cli(['evaluate', file('bad.json', '{"resourceType": "Bundle",'), '--now', '2026-03-14T12:00:00Z']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not JSON/);
    expect(r.stdout).toBe('');
  });

  it('a non-FHIR document: exit 2 and says it is not FHIR', async () => {
    const r = await cli(['evaluate', file('notfhir.json', '{"patient": "x", "values": [1, 2]}')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a FHIR resource|not FHIR/);
  });

  it('an empty file: exit 2 and says it is empty', async () => {
    for (const text of ['', '   \n', '[]', '{}', '{"resourceType":"Bundle","type":"collection","entry":[]}']) {
      const r = await cli(['evaluate', file('empty.json', text)]);
      expect(r.code, JSON.stringify(text)).toBe(2);
      expect(r.stderr).toMatch(/empty|no entries|holds no/);
    }
  });

  it('a JSON value that is not an object: exit 2', async () => {
    const r = await cli(['evaluate', file('num.json', '42')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a FHIR resource/);
  });

  it('a bad --now or a missing file: exit 2 with the reason', async () => {
    const fx = join(FIXTURES, 'timi-zero-low-risk.json');
    const bad = await cli(['evaluate', fx, '--now', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/evaluation time/);
    const missing = await cli(['evaluate', join(tmp, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read/);
  });

  it('an invalid settings file: exit 2 naming the key', async () => {
    const r = await cli(['evaluate', join(FIXTURES, 'timi-zero-low-risk.json'), '--settings', file('s.json', '{"sexSpecificUrl": true}')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/sexSpecificUrl/);
  });

  it('some unusable resources still give a decision (exit 0) and are listed', async () => {
    const doc = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Condition', id: 'c1' } }, { resource: { resourceType: 'Observation', id: 'o1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '67151-1' }] }, effectiveDateTime: '2026-03-14T09:00:00Z', valueQuantity: { value: 5, unit: 'U/L' } } }] };
    const r = await cli(['evaluate', file('mixed.json', JSON.stringify(doc)), '--now', '2026-03-14T10:00:00Z']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as { outcome: string; inputs: { ref: string; use: string }[] };
    expect(d.outcome).toBe('indeterminate');
    expect(d.inputs.map((i) => `${i.ref}:${i.use}`)).toEqual(expect.arrayContaining(['Condition/c1:ignored', 'Observation/o1:uninterpretable']));
  });

  it('--help explains the command', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/evaluate <file>/);
    expect(r.stdout).toMatch(/--now/);
  });
});
