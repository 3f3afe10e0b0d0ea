/**
 * The engine's shape (issue 8, item 2): small files, `evaluate.ts` only the sequence of parts, and a
 * pure core: every import in src/engine resolves inside src/engine or to an allowed package.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ENGINE = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/engine');
/** Packages the engine may import: the rules engine and exact decimals. Nothing that does IO, clocks or environment. */
const ALLOWED_PACKAGES: ReadonlySet<string> = new Set(['json-rules-engine', 'big.js']);
const MAX_LINES = 300;
const MAX_EVALUATE_LINES = 250;

const files = readdirSync(ENGINE).filter((f) => f.endsWith('.ts'));
const linesOf = (f: string): number => readFileSync(join(ENGINE, f), 'utf8').split('\n').length;

/** Every module specifier in the file: static imports and exports, and dynamic imports. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm)) out.push(m[1] as string);
  for (const m of text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) out.push(m[1] as string);
  for (const m of text.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1] as string);
  return out;
}

describe('the engine is small and pure', () => {
  it('has its files', () => {
    expect(files.length).toBeGreaterThan(5);
    expect(files).toContain('evaluate.ts');
  });

  it.each(files)('%s is at most 300 lines', (f) => {
    expect(linesOf(f)).toBeLessThanOrEqual(MAX_LINES);
  });

  it('evaluate.ts is under 250 lines', () => {
    expect(linesOf('evaluate.ts')).toBeLessThan(MAX_EVALUATE_LINES);
  });

  it.each(files)('%s imports only from src/engine and the allowed packages', (f) => {
    const bad: string[] = [];
    for (const s of specifiers(readFileSync(join(ENGINE, f), 'utf8'))) {
      if (s.startsWith('.')) {
        const target = resolve(ENGINE, s);
        if (dirname(target) !== ENGINE || !files.includes(target.slice(ENGINE.length + 1).replace(/\.js$/, '.ts'))) bad.push(s);
      } else if (!ALLOWED_PACKAGES.has(s)) bad.push(s);
    }
    expect(bad, `${f} imports from outside src/engine`).toEqual([]);
  });

  it('the walk and the wording name no outcome and state no number: indicators, summaries and names are the pathway file\'s', () => {
    const codes = /'(acute-mi-pathway|consistent-with-mi|indeterminate|needs-input|awaiting-retest|not-consistent-with-mi|low-risk-pathway|rule-in|observe|rule-out)'/;
    for (const f of ['walk.ts', 'wording.ts']) {
      const text = readFileSync(join(ENGINE, f), 'utf8');
      expect(text, f).not.toMatch(codes);
      expect(text, f).not.toMatch(/\b3 h\b|\b20%|\b180\b|\b99th\b|'ECG'|TIMI score/);
    }
  });

  it('the import check can fail: it sees an import from outside src/engine and a package not allowed', () => {
    const text = "import { TnpError } from '../errors.js';\nimport type { X } from 'node:fs';\nexport { y } from './trace.js';";
    expect(specifiers(text)).toEqual(['../errors.js', 'node:fs', './trace.js']);
  });
});
