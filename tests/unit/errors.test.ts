/**
 * The one error registry and its documentation cannot drift apart (after fastify's errors test).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, ERROR_CODE_SYSTEM, TnpError, toOperationOutcome, type ErrorCode } from '../../src/errors.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

/** A row of the table: `| \`CODE\` | status | what | how to fix |`, a pipe inside a cell written `\|`. */
interface DocumentedRow {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly fix: string;
  readonly cells: number;
}
const rows: DocumentedRow[] = doc
  .split('\n')
  .filter((line) => line.startsWith('| `TNP_ERR_'))
  .map((line) => {
    const cells = line
      .slice(1, line.endsWith(' |') ? -1 : undefined)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replace(/\\\|/g, '|'));
    return { code: (cells[0] ?? '').replace(/^`|`$/g, ''), status: Number(cells[1]), title: cells[2] ?? '', fix: cells[3] ?? '', cells: cells.length };
  });
const documented = rows.map((r) => ({ code: r.code, status: r.status }));

describe('error registry', () => {
  it('every code is documented in docs/errors.md with its status', () => {
    for (const [code, def] of Object.entries(ERRORS)) {
      expect(documented.find((d) => d.code === code), code).toEqual({ code, status: def.status });
    }
  });

  it('docs/errors.md lists no code that does not exist, and none twice', () => {
    expect(documented.map((d) => d.code).sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it('every row of docs/errors.md has four cells: code, status, what, how to fix', () => {
    for (const r of rows) expect(r.cells, r.code).toBe(4);
  });

  it('docs/errors.md gives each code the title and how-to-fix of the registry, word for word', () => {
    for (const [code, def] of Object.entries(ERRORS)) {
      const r = rows.find((d) => d.code === code);
      expect(r?.title, `${code}: what`).toBe(def.title);
      expect(r?.fix, `${code}: how to fix`).toBe(def.fix);
    }
  });

  it('every code has a title and a how-to-fix line, and a valid HTTP status', () => {
    for (const [code, def] of Object.entries(ERRORS)) {
      expect(def.title.length, code).toBeGreaterThan(5);
      expect(def.fix.length, code).toBeGreaterThan(10);
      expect(def.status >= 400 && def.status < 600, code).toBe(true);
    }
  });

  it('an error becomes an OperationOutcome carrying its code, message and fix', () => {
    for (const code of Object.keys(ERRORS) as ErrorCode[]) {
      const oo = toOperationOutcome(new TnpError(code, 'what is wrong', { details: ['detail one'], expression: ['Bundle.entry[0]'] }));
      expect(oo.resourceType).toBe('OperationOutcome');
      expect(oo.issue[0]?.details?.coding?.[0]).toEqual({ system: ERROR_CODE_SYSTEM, code });
      expect(oo.issue[0]?.details?.text).toBe('what is wrong');
      expect(oo.issue[0]?.diagnostics).toContain(ERRORS[code].fix);
      expect(oo.issue[0]?.expression).toEqual(['Bundle.entry[0]']);
      expect(oo.issue[1]?.diagnostics).toBe('detail one');
    }
  });
});
