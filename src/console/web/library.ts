/** The scenario library: every fixture, its expected outcome and a live pass/fail mark. And export. */
import type { EvaluateResponse, FixtureSummary, FixturesResponse } from './api-types.js';
import { byId, clear, h, outcomeChip } from './dom.js';

export function renderLibrary(res: FixturesResponse, onOpen: (name: string) => void): void {
  const body = byId('library-rows', HTMLTableSectionElement);
  const summary = byId('library-summary', HTMLParagraphElement);
  const filter = byId('library-filter', HTMLInputElement);
  const failing = byId('library-failing', HTMLInputElement);
  const total = res.fixtures.length;
  summary.textContent = `${res.passed} of ${total} fixtures pass${res.failed > 0 ? `; ${res.failed} FAIL` : ''}. Evaluated live with ${res.basis}.`;
  summary.dataset['passed'] = String(res.passed);
  summary.dataset['failed'] = String(res.failed);
  const rowOf = (f: FixtureSummary): HTMLTableRowElement => {
    const open = h('button', { type: 'button', class: 'link', 'data-fixture': f.name, 'aria-label': `Open fixture ${f.name}` }, f.name);
    open.addEventListener('click', () => onOpen(f.name));
    const expected = h('td', {}, outcomeChip(f.expected.outcome), f.expected.missing.length > 0 ? h('div', { class: 'hint' }, `missing: ${f.expected.missing.join(', ')}`) : null, f.expected.retestDue === undefined ? null : h('div', { class: 'hint' }, `retest due ${f.expected.retestDue}`));
    const actual = h(
      'td',
      {},
      f.actual === null ? h('span', { class: 'diff' }, 'not evaluated') : outcomeChip(f.actual.outcome),
      f.actual !== null && f.actual.missing.length > 0 ? h('div', { class: 'hint' }, `missing: ${f.actual.missing.join(', ')}`) : null,
      f.actual?.retestDue === undefined ? null : h('div', { class: 'hint' }, `retest due ${f.actual.retestDue}`),
      ...f.differences.map((d) => h('div', { class: 'diff' }, d)),
    );
    return h(
      'tr',
      { class: f.pass ? 'pass' : 'fail', 'data-fixture': f.name, 'data-pass': f.pass ? 'true' : 'false' },
      h('td', {}, h('span', { class: `mark ${f.pass ? 'pass' : 'fail'}` }, f.pass ? '✔ PASS' : '✘ FAIL')),
      h('td', {}, open),
      h('td', {}, f.rules.join(', ')),
      expected,
      actual,
      h('td', { class: 'desc' }, f.description),
    );
  };
  const draw = (): void => {
    clear(body);
    const q = filter.value.trim().toLowerCase();
    const shown = res.fixtures.filter((f) => (!failing.checked || !f.pass) && (q === '' || [f.name, f.description, f.expected.outcome, f.actual?.outcome ?? '', ...f.rules.map((r) => `rule ${r}`)].some((t) => t.toLowerCase().includes(q))));
    for (const f of shown) body.append(rowOf(f));
    if (shown.length === 0) body.append(h('tr', {}, h('td', { colspan: 6 }, 'No fixture matches.')));
  };
  filter.oninput = draw;
  failing.onchange = draw;
  draw();

  const select = byId('fixture-select', HTMLSelectElement);
  clear(select);
  for (const f of res.fixtures) select.append(h('option', { value: f.name }, `${f.pass ? '✔' : '✘'} ${f.name} (${f.expected.outcome})`));
  const desc = byId('fixture-description', HTMLParagraphElement);
  const describe = (): void => {
    const f = res.fixtures.find((x) => x.name === select.value);
    desc.textContent = f === undefined ? '' : `${f.description} Rules ${f.rules.join(', ')}. Expected ${f.expected.outcome}.`;
  };
  select.onchange = describe;
  describe();
}

function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The Bundle and expected JSON of the current case, as fhir-fixtures/ holds them. */
export function fixtureFiles(res: EvaluateResponse, description: string, rules: readonly string[]): { bundle: unknown; expected: unknown } {
  const bundle = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: res.resources.map((r) => ({ fullUrl: `urn:uuid:${crypto.randomUUID()}`, resource: r })),
  };
  const d = res.decision;
  const expected = {
    description,
    rules,
    now: d.evaluatedAt,
    ...(res.encounter === null ? {} : { encounter: res.encounter }),
    ...(res.settings.sexSpecificUrls ? { settings: { sexSpecificUrls: true } } : {}),
    outcome: d.outcome,
    missing: d.missing,
    ...(d.retestDue === undefined ? {} : { retestDue: d.retestDue }),
  };
  return { bundle, expected };
}

export function exportFixture(res: EvaluateResponse, name: string, description: string, rules: readonly string[]): void {
  const { bundle, expected } = fixtureFiles(res, description, rules);
  download(`${name}.json`, `${JSON.stringify(bundle, null, 2)}\n`);
  download(`${name}.expected.json`, `${JSON.stringify(expected, null, 2)}\n`);
}
