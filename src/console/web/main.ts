/**
 * The console page: wires the case entry, the card, the chart, the reasoning, the map and the scenario
 * library to the console API. Plain ES modules served by the service; no network access beyond it.
 */
import { ApiError, api, type EvaluateRequest } from './api.js';
import type { EvaluateResponse, MapResponse, PathwayResponse } from './api-types.js';
import { renderCard } from './card.js';
import { caseFromLocation, renderLinkBanner } from './caselink.js';
import { drawChartFor, setUpChartSize } from './chart-view.js';
import { byId, clear, h } from './dom.js';
import { CaseForm } from './form.js';
import { renderFormProblems, showOutcome } from './form-problems.js';
import { exportFixture, renderLibrary } from './library.js';
import { drawHeatMap, drawRetestPlot, renderLegend, type CaseMarks } from './mapplot.js';
import { renderReasoning } from './reasoning.js';
import { setUpTabs } from './tabs.js';

interface State {
  pathway: PathwayResponse | null;
  last: EvaluateResponse | null;
  /** A fixture's own settings, kept while its Bundle is in the paste panel. */
  pasteSettings: { sexSpecificUrls?: boolean } | null;
}

const state: State = { pathway: null, last: null, pasteSettings: null };

function showError(e: unknown, context: string): void {
  const box = byId('global-error', HTMLDivElement);
  clear(box);
  const message = e instanceof Error ? e.message : String(e);
  box.append(h('p', {}, `${context}: ${message}`));
  if (e instanceof ApiError) for (const d of e.details) box.append(h('p', { class: 'hint' }, d));
  box.hidden = false;
}

function clearError(): void {
  const box = byId('global-error', HTMLDivElement);
  clear(box);
  box.hidden = true;
}

function outcomeLabel(o: string): string {
  const p = state.pathway?.pathway;
  return p === undefined ? o : (p.outcomes[o as keyof typeof p.outcomes]?.label ?? o);
}

async function drawMap(): Promise<void> {
  const status = byId('map-status', HTMLParagraphElement);
  // The map plots a baseline against a retest: a pathway that reads samples in timing windows has none.
  if (state.pathway !== null && state.pathway.pathway.classification === undefined) {
    status.textContent = `The map is drawn for a pathway with a baseline and one retest; ${state.pathway.pathway.title} reads samples in timing windows.`;
    return;
  }
  const baselineEl = byId('map-baseline', HTMLInputElement);
  const baseline = baselineEl.value.trim();
  if (!/^\d{1,6}(\.\d{1,6})?$/.test(baseline)) {
    baselineEl.setAttribute('aria-invalid', 'true');
    status.textContent = 'Baseline: a number of ng/L, such as 10 or 13.5.';
    return;
  }
  baselineEl.removeAttribute('aria-invalid');
  status.textContent = 'Evaluating the map…';
  const sex = byId('map-sex', HTMLSelectElement).value;
  const m = await api.map({
    assay: byId('map-assay', HTMLSelectElement).value,
    baseline,
    timi: Number(byId('map-timi', HTMLSelectElement).value),
    ...(sex === '' ? {} : { sex: sex as 'female' | 'male' | 'unknown' }),
  });
  renderLegend(byId('map-legend', HTMLDivElement), m, outcomeLabel);
  const line = byId('map-line', HTMLDivElement);
  const heat = byId('map-heat', HTMLDivElement);
  clear(line);
  clear(heat);
  const marks = caseMarksFor(state.last, m);
  line.append(drawRetestPlot(m, marks, outcomeLabel));
  heat.append(drawHeatMap(m, marks));
  status.textContent = `${m.assay.name}, baseline ${m.baseline} ng/L, TIMI ${m.timi}${m.sex === null ? '' : `, ${m.sex}`}: URL ${m.url} ng/L. ${m.evaluations} evaluations by the engine.`;
}

/** The evaluated case's values, when the map drawn is the case's (its assay and baseline). */
function caseMarksFor(res: EvaluateResponse | null, m: MapResponse): CaseMarks | null {
  const b = res?.decision.troponin.baseline ?? null;
  if (res === null || b === null || b.assay !== m.assay.id || Number(b.valueNgL) !== Number(m.baseline)) return null;
  const retests = res.decision.troponin.later.filter((r) => r.assay === m.assay.id).map((r) => Number(r.valueNgL));
  return { baseline: Number(b.valueNgL), retests: retests.filter((v) => Number.isFinite(v)) };
}

function mapFollowsCase(res: EvaluateResponse): boolean {
  const b = res.decision.troponin.baseline;
  if (b === null || !/^\d+(\.\d+)?$/.test(b.valueNgL)) return false;
  const assay = byId('map-assay', HTMLSelectElement);
  if (![...assay.options].some((o) => o.value === b.assay)) return false;
  assay.value = b.assay;
  byId('map-baseline', HTMLInputElement).value = b.valueNgL;
  const timi = res.decision.trace.find((t) => t.node === 'timi' && typeof t.facts?.['timiScore'] === 'number')?.facts?.['timiScore'];
  if (typeof timi === 'number') byId('map-timi', HTMLSelectElement).value = String(Math.max(0, Math.min(7, timi)));
  return true;
}

function show(res: EvaluateResponse): void {
  const p = state.pathway;
  if (p === null) return;
  state.last = res;
  clearError();
  renderCard(byId('outcome-banner', HTMLDivElement), byId('card-view', HTMLDivElement), res, outcomeLabel);
  drawChartFor(p, res, outcomeLabel);
  renderReasoning(byId('reasoning-view', HTMLDivElement), res, p.pathway, p.rulesUrl);
  const rules = [...new Set(res.decision.trace.map((t) => t.rule))].sort((a, b) => Number(a) - Number(b));
  byId('export-rules', HTMLInputElement).value = rules.join(', ');
  byId('export-view', HTMLDivElement).hidden = false;
  document.body.dataset['outcome'] = res.decision.outcome;
  if (mapFollowsCase(res)) {
    drawMap().catch((e: unknown) => showError(e, 'The map'));
  }
}

async function evaluate(body: EvaluateRequest, context: string): Promise<void> {
  try {
    show(await api.evaluate(body));
  } catch (e) {
    showError(e, context);
  }
}

function fillPaste(resources: readonly unknown[], now: string, encounter: string | null, settings: { sexSpecificUrls?: boolean } | null): void {
  const bundle = { resourceType: 'Bundle', type: 'collection', entry: resources.map((r) => ({ resource: r })) };
  byId('bundle-text', HTMLTextAreaElement).value = JSON.stringify(bundle, null, 2);
  byId('paste-now', HTMLInputElement).value = now;
  byId('paste-encounter', HTMLInputElement).value = encounter ?? '';
  byId('paste-sex-urls', HTMLInputElement).checked = settings?.sexSpecificUrls ?? state.pathway?.sexSpecificUrls ?? false;
  state.pasteSettings = settings;
  byId('paste-settings-hint', HTMLSpanElement).textContent = settings === null ? '' : 'Set by the fixture.';
}

/** The case banner with one line of text (a fixture), not a link's verification. */
function plainBanner(text: string): void {
  const banner = byId('case-banner', HTMLDivElement);
  banner.className = 'banner';
  delete banner.dataset['link'];
  delete banner.dataset['summarised'];
  banner.textContent = text;
  banner.hidden = false;
}

/** Opens the case of the page's address (a card's link), if it has one. */
async function openLinkedCase(selectTab: (id: string) => void): Promise<void> {
  const param = caseFromLocation();
  if (param === null) return;
  try {
    const res = await api.evaluate({ case: param });
    fillPaste(res.resources, res.now, res.encounter, null);
    selectTab('tab-paste');
    renderLinkBanner(byId('case-banner', HTMLDivElement), res, outcomeLabel);
    show(res);
  } catch (e) {
    showError(e, 'The case link');
  }
}

async function openFixture(name: string, selectTab: (id: string) => void): Promise<void> {
  try {
    const f = await api.fixture(name);
    fillPaste(f.evaluation.resources, f.now, f.encounter ?? null, f.settings ?? null);
    const select = byId('fixture-select', HTMLSelectElement);
    select.value = name;
    select.dispatchEvent(new Event('change'));
    selectTab('tab-fixture');
    plainBanner(`Fixture ${name} (${f.pass ? 'passes' : 'FAILS'}: expected ${f.expected.outcome}, the engine gives ${f.actual?.outcome ?? 'no outcome'}). Its Bundle is in "Paste FHIR" to edit.`);
    show(f.evaluation);
    byId('card-heading', HTMLHeadingElement).focus();
  } catch (e) {
    showError(e, `Fixture ${name}`);
  }
}

async function start(): Promise<void> {
  const pathway = await api.pathway();
  state.pathway = pathway;
  const p = pathway.pathway;
  byId('pathway-identity', HTMLParagraphElement).textContent = `${p.title} · pathway ${p.id} ${p.version} · ${pathway.sexSpecificUrls ? 'sex-specific URLs' : 'overall URLs'} · times in ${pathway.displayTimeZone}`;
  byId('footer-identity', HTMLParagraphElement).textContent = `Pathway file sha256 ${pathway.identity.sha256}; assay catalogue sha256 ${pathway.identity.catalogueSha256}; site settings sha256 ${pathway.identity.settingsSha256}.`;
  const mapAssay = byId('map-assay', HTMLSelectElement);
  for (const a of pathway.assays) mapAssay.append(h('option', { value: a.id }, a.name));
  drawChartFor(pathway, null, outcomeLabel);
  setUpChartSize();

  const selectTab = setUpTabs(byId('case-section', HTMLElement).querySelector<HTMLElement>('[role="tablist"]') ?? document.body);
  const form = new CaseForm(pathway);
  form.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const built = form.build();
    const status = byId('form-status', HTMLSpanElement);
    const summary = byId('form-errors', HTMLDivElement);
    if (!built.ok) {
      status.textContent = '';
      renderFormProblems(summary, built.problems, state.pathway?.pathway.cards?.text?.missing ?? 'Missing');
      summary.focus();
      return;
    }
    clear(summary);
    summary.hidden = true;
    status.textContent = 'Evaluating…';
    byId('case-banner', HTMLDivElement).hidden = true;
    evaluate({ resources: built.value.resources, now: built.value.now }, 'The case')
      .then(() => {
        status.textContent = state.last === null ? '' : `Evaluated: ${state.last.decision.outcome}.`;
        if (state.last !== null) showOutcome();
      })
      .catch((e: unknown) => showError(e, 'The case'));
  });

  byId('paste-form', HTMLFormElement).addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = byId('bundle-text', HTMLTextAreaElement).value;
    let doc: unknown;
    try {
      doc = JSON.parse(text) as unknown;
    } catch (e) {
      showError(new Error(`not JSON (${e instanceof Error ? e.message : String(e)})`), 'The pasted Bundle');
      byId('bundle-text', HTMLTextAreaElement).focus();
      return;
    }
    const now = byId('paste-now', HTMLInputElement).value.trim();
    const encounter = byId('paste-encounter', HTMLInputElement).value.trim();
    const sexUrls = byId('paste-sex-urls', HTMLInputElement).checked;
    const body: EvaluateRequest = {
      ...(Array.isArray(doc) ? { resources: doc } : typeof doc === 'object' && doc !== null && (doc as { resourceType?: unknown }).resourceType === 'Bundle' ? { bundle: doc } : { resources: [doc] }),
      ...(now === '' ? {} : { now }),
      ...(encounter === '' ? {} : { encounter }),
      settings: { sexSpecificUrls: sexUrls },
    };
    evaluate(body, 'The pasted Bundle')
      .then(() => {
        if (state.last !== null) showOutcome();
      })
      .catch((e: unknown) => showError(e, 'The pasted Bundle'));
  });

  byId('fixture-form', HTMLFormElement).addEventListener('submit', (ev) => {
    ev.preventDefault();
    openFixture(byId('fixture-select', HTMLSelectElement).value, selectTab).catch((e: unknown) => showError(e, 'The fixture'));
  });

  byId('map-form', HTMLFormElement).addEventListener('submit', (ev) => {
    ev.preventDefault();
    drawMap().catch((e: unknown) => showError(e, 'The map'));
  });

  byId('export-form', HTMLFormElement).addEventListener('submit', (ev) => {
    ev.preventDefault();
    const status = byId('export-status', HTMLSpanElement);
    const nameEl = byId('export-name', HTMLInputElement);
    const name = nameEl.value.trim();
    if (state.last === null) return;
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
      nameEl.setAttribute('aria-invalid', 'true');
      status.textContent = 'The name: lower-case letters, digits and hyphens.';
      nameEl.focus();
      return;
    }
    nameEl.removeAttribute('aria-invalid');
    const rules = byId('export-rules', HTMLInputElement).value.split(/[\s,]+/).filter((r) => /^\d+$/.test(r));
    exportFixture(state.last, name, byId('export-description', HTMLTextAreaElement).value.trim(), rules);
    status.textContent = `Downloaded ${name}.json and ${name}.expected.json: add both to fhir-fixtures/.`;
  });

  const linked = caseFromLocation() !== null;
  const jobs: Promise<unknown>[] = [
    api
      .fixtures()
      .then((f) => renderLibrary(f, (name) => void openFixture(name, selectTab)))
      .catch((e: unknown) => {
        byId('library-summary', HTMLParagraphElement).textContent = 'The fixtures could not be loaded.';
        showError(e, 'The scenario library');
      }),
    linked ? openLinkedCase(selectTab) : drawMap().catch((e: unknown) => showError(e, 'The map')),
  ];
  // A link opened in a tab already showing the console changes only the fragment: no page load.
  window.addEventListener('hashchange', () => {
    // Only a new case: the section links (#card-heading, ...) change the fragment too.
    if (!/^#(.*&)?case=/.test(window.location.hash)) return;
    document.body.dataset['ready'] = 'false';
    openLinkedCase(selectTab)
      .catch((e: unknown) => showError(e, 'The case link'))
      .finally(() => {
        document.body.dataset['ready'] = 'true';
      });
  });
  await Promise.all(jobs);
  document.body.dataset['ready'] = 'true';
}

start().catch((e: unknown) => showError(e, 'Starting the console'));
