/**
 * The hazard log is read by the clinical safety officer as rendered Markdown (GitHub-flavoured tables).
 * A blank line inside a table left 24 rows with no header (run-on text), two rows had six cells and no
 * residual risk, and a pipe in a formula (`|Δ|`) split a row into nine cells. This test reads the log as
 * a GFM table parser would and fails on each of those, and on an id given twice.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const LOG = readFileSync(new URL('../../docs/safety/hazard-log.md', import.meta.url), 'utf8');

/** A row of the log: `| H-01 | ...`, an id of capital letters, a hyphen and digits. */
const ROW = /^\| *[A-Z]+-\d+ *\|/;
const SEPARATOR = /^\|( *:?-+:? *\|)+ *$/;

/** The cells of a table line; a pipe inside a cell is written `\|` (in a code span too, as GFM wants). */
function cellsOf(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/(?<!\\)\|$/, '');
  return inner.split(/(?<!\\)\|/).map((c) => c.trim());
}

/** Every layout problem of a hazard log, one sentence each; none for a sound log. */
function problemsOf(text: string): string[] {
  const lines = text.split('\n');
  const problems: string[] = [];
  const seen = new Map<string, number>();
  let columns: number | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const n = i + 1;
    if (!line.startsWith('|')) {
      columns = null;
      continue;
    }
    if (SEPARATOR.test(line)) continue;
    if (SEPARATOR.test(lines[i + 1] ?? '')) {
      // A header: the table's width.
      columns = cellsOf(line).length;
      const header = cellsOf(line);
      if (header[0] === 'id' && header[1] === 'hazard' && columns !== 7) problems.push(`line ${n}: a hazard table has ${columns} columns, not 7`);
      continue;
    }
    const cells = cellsOf(line);
    const id = ROW.test(line) ? (cells[0] as string) : null;
    if (columns === null) {
      problems.push(`line ${n}: ${id ?? 'a row'} sits outside a table (no header above it)`);
      continue;
    }
    if (!line.trimEnd().endsWith('|')) problems.push(`line ${n}: ${id ?? 'a row'} does not end with |`);
    if (cells.length !== columns) problems.push(`line ${n}: ${id ?? 'a row'} has ${cells.length} cells, not ${columns}`);
    else if (cells.some((c) => c === '')) problems.push(`line ${n}: ${id ?? 'a row'} has an empty cell`);
    if (id !== null) {
      const first = seen.get(id);
      if (first !== undefined) problems.push(`line ${n}: ${id} repeats the id of line ${first}`);
      else seen.set(id, n);
    }
  }
  return problems;
}

const HEADER = '| id | hazard | cause | effect | controls | tests that prove the controls | residual |\n|---|---|---|---|---|---|---|';
const row = (id: string, residual = 'minor / low'): string => `| ${id} | a hazard | a cause | an effect | a control | a test | ${residual} |`;

describe('the hazard log renders as tables, one row per hazard', () => {
  it('docs/safety/hazard-log.md: every row in a table, with its table\'s cells, and every id once', () => {
    expect(problemsOf(LOG)).toEqual([]);
  });

  it('the check finds a row after a blank line, a row short of a cell, a pipe that splits a cell, and a repeated id', () => {
    expect(problemsOf(`${HEADER}\n${row('H-01')}\n${row('H-02')}\n`)).toEqual([]);
    expect(problemsOf(`${HEADER}\n${row('H-01')}\n\n${row('H-50')}\n`)).toEqual(['line 5: H-50 sits outside a table (no header above it)']);
    expect(problemsOf(`${HEADER}\n| L-13 | a hazard | a cause | an effect | a control | a test |\n`)).toEqual(['line 3: L-13 has 6 cells, not 7']);
    expect(problemsOf(`${HEADER}\n${row('H-68').replace('a control', '|Δ| counts')}\n`)).toEqual(['line 3: H-68 has 9 cells, not 7']);
    expect(problemsOf(`${HEADER}\n${row('H-68').replace('a control', '\\|Δ\\| counts')}\n`)).toEqual([]);
    expect(problemsOf(`${HEADER}\n${row('S-44')}\n\n## Another\n\n${HEADER}\n${row('S-44')}\n`)).toEqual(['line 9: S-44 repeats the id of line 3']);
    expect(problemsOf(`${HEADER}\n${row('S-44', '')}\n`)).toEqual(['line 3: S-44 has an empty cell']);
    expect(problemsOf('| id | hazard | residual |\n|---|---|---|\n| X-01 | a | b |\n')).toEqual(['line 1: a hazard table has 3 columns, not 7']);
  });
});
