/**
 * The adoption page (/console/adoption): asks GET /reports/adoption with the admin token typed in (kept in
 * this page's memory only) and draws, for each pathway and settings hash, the outcome mix over time, the
 * retest intervals against the due time, the time to decision and the card feedback. Downloads (CSV,
 * MeasureReport, JSON) are fetched with the same token.
 */
import { byId, clear, h } from './dom.js';
import { dataTable, histogram, rangePlot, stackedShares, type N, type Series } from './adoption-charts.js';

interface Count {
  readonly n: N;
  readonly suppressed?: true;
}
type Nested = { readonly [k: string]: Nested | Count | undefined };
interface Cell {
  readonly start: string;
  readonly end: string;
  readonly suppressed: boolean;
  readonly measures: Nested;
  readonly statistics: Readonly<Record<string, N>>;
}
interface SeriesJson {
  readonly pathway: { readonly id: string; readonly title: string; readonly outcomes: readonly { code: string; label: string; final: boolean }[]; readonly singleSampleRuleOut: boolean };
  readonly settingsSha256: string;
  readonly periods: readonly Cell[];
  readonly total: Cell;
}
interface ReportJson {
  readonly coverage: { readonly start: string; readonly end: string };
  readonly throughSeq: number;
  readonly series: readonly SeriesJson[];
}

const n = (c: Cell, ...path: string[]): N => {
  let at: Nested | Count | undefined = c.measures;
  for (const p of path) at = at === undefined || 'n' in at ? undefined : (at)[p];
  return at !== undefined && 'n' in at && (typeof at.n === 'number' || at.n === null) ? (at as Count).n : 0;
};
const keys = (c: Cell, ...path: string[]): string[] => {
  let at: Nested | Count | undefined = c.measures;
  for (const p of path) at = at === undefined || 'n' in at ? undefined : (at)[p];
  return at === undefined || 'n' in at ? [] : Object.keys(at);
};
const pct = (v: N): string => (v === null ? 'suppressed' : `${(v * 100).toFixed(1)}%`);
const num = (v: N, unit = ''): string => (v === null ? 'suppressed' : `${v.toLocaleString('en-GB')}${unit}`);

let token = '';

function params(format: string): string {
  const q = new URLSearchParams({ from: byId('from', HTMLInputElement).value, to: byId('to', HTMLInputElement).value, granularity: byId('granularity', HTMLSelectElement).value, format });
  const p = byId('pathway', HTMLInputElement).value.trim();
  if (p !== '') q.set('pathway', p);
  return q.toString();
}

async function fetchReport(format: string): Promise<Response> {
  const res = await fetch(`/reports/adoption?${params(format)}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.ok) return res;
  if (res.status === 401) throw new Error('The admin token was not accepted.');
  const body = (await res.json().catch(() => null)) as { issue?: { details?: { text?: string } }[] } | null;
  throw new Error(body?.issue?.[0]?.details?.text ?? `The report could not be made (HTTP ${res.status}).`);
}

function stat(label: string, value: string): HTMLElement {
  return h('li', {}, label, h('strong', {}, value));
}

function renderSeries(sj: SeriesJson): HTMLElement {
  const t = sj.total;
  const periods = sj.periods.map((p) => p.start);
  const codes = [...new Set([...sj.pathway.outcomes.map((o) => o.code), ...keys(t, 'finalOutcome')])];
  const label = (c: string): string => sj.pathway.outcomes.find((o) => o.code === c)?.label ?? c;
  const outcomeSeries: Series[] = codes.map((c) => ({ key: c, label: label(c) }));
  const st = t.statistics;
  const stats = h(
    'ul',
    { class: 'stat-list' },
    stat('Episodes', num(n(t, 'episodes'))),
    stat('Evaluations', num(n(t, 'evaluations'))),
    stat('Median time to decision', st['timeToDecisionMedianMinutes'] == null ? 'not published' : `${st['timeToDecisionMedianMinutes']} min`),
    stat('Retests on time', pct(st['retestOnTimeRate'] ?? null)),
    stat('Retests never drawn', num(n(t, 'retestTiming', 'notDrawn'))),
    stat('Indeterminate evaluations', pct(st['indeterminateRate'] ?? null)),
    stat('Needs-input evaluations', pct(st['needsInputRate'] ?? null)),
    stat('Feedback accepted', pct(st['feedbackAcceptedRate'] ?? null)),
    ...(sj.pathway.singleSampleRuleOut ? [stat('Ruled out on one sample', pct(st['singleSampleRuleOutRate'] ?? null))] : []),
  );
  const mix = stackedShares(
    'Final outcome of each episode, by period',
    `The share of each final outcome among the episodes that started in each period, for ${sj.pathway.title}. Hatched grey: suppressed.`,
    periods,
    outcomeSeries,
    sj.periods.map((p) => codes.map((c) => n(p, 'finalOutcome', c))),
    sj.periods.map((p) => n(p, 'episodes')),
  );
  const bins = keys(t, 'retestTiming', 'bins');
  const retest = histogram(
    'Retest draws against the due time',
    `How many minutes before or after the due time the retest was drawn, over the whole range: ${num(n(t, 'retestTiming', 'early'))} early, ${num(n(t, 'retestTiming', 'onTime'))} on time, ${num(n(t, 'retestTiming', 'late'))} late, ${num(n(t, 'retestTiming', 'notDrawn'))} never drawn.`,
    bins.map((b) => ({ label: b, n: n(t, 'retestTiming', 'bins', b), group: b.startsWith('<') || b.startsWith('-') ? 0 : 1 })),
    [{ key: 'before', label: 'Drawn before the due time' }, { key: 'after', label: 'Drawn at or after the due time' }],
    bins.find((b) => b.startsWith('0-')) ?? null,
    'due',
    'Minutes from the due time to the retest draw',
  );
  const ttd = rangePlot(
    'Time from the first troponin draw to a final outcome, by period',
    `Median and quartiles, in minutes, of the time from the baseline draw to the first final outcome, for the episodes that started in each period. Over the whole range: median ${st['timeToDecisionMedianMinutes'] ?? 'not published'} minutes.`,
    periods,
    sj.periods.map((p) => ({ median: p.statistics['timeToDecisionMedianMinutes'] ?? null, p25: p.statistics['timeToDecisionP25Minutes'] ?? null, p75: p.statistics['timeToDecisionP75Minutes'] ?? null, n: n(p, 'timeToDecision', 'measured') })),
    'Minutes',
  );
  const reasons = keys(t, 'overrideReasons');
  const feedback = stackedShares(
    'Card feedback, by period',
    `Accepted and overridden cards among the feedback received for the evaluations of each period. Over the whole range: ${num(n(t, 'feedback', 'accepted'))} accepted, ${num(n(t, 'feedback', 'overridden'))} overridden.`,
    periods,
    [{ key: 'accepted', label: 'Accepted' }, { key: 'overridden', label: 'Overridden' }],
    sj.periods.map((p) => [n(p, 'feedback', 'accepted'), n(p, 'feedback', 'overridden')]),
    sj.periods.map((p) => n(p, 'feedback', 'total')),
    'feedback',
  );
  feedback.append(dataTable('Override reasons over the whole range', ['Overrides'], reasons.map((r) => ({ label: r, values: [n(t, 'overrideReasons', r)] })), 'Override reasons (table)'));
  return h(
    'section',
    { class: 'series', 'aria-label': `${sj.pathway.title}, settings ${sj.settingsSha256.slice(0, 12)}` },
    h('h3', {}, sj.pathway.title),
    h('p', { class: 'series-meta' }, `Pathway ${sj.pathway.id} · site settings ${sj.settingsSha256.slice(0, 16)}… · ${t.start} to ${t.end} (exclusive)`),
    stats,
    h('div', { class: 'charts' }, mix, retest, ttd, feedback),
  );
}

async function run(ev: Event): Promise<void> {
  ev.preventDefault();
  const status = byId('status', HTMLDivElement);
  const error = byId('error', HTMLDivElement);
  error.hidden = true;
  token = byId('token', HTMLInputElement).value.trim();
  if (token === '') {
    error.textContent = 'Enter the admin token.';
    error.hidden = false;
    byId('token', HTMLInputElement).focus();
    return;
  }
  status.textContent = 'Making the report…';
  try {
    const report = (await (await fetchReport('json')).json()) as ReportJson;
    const results = byId('results', HTMLDivElement);
    clear(results);
    for (const sj of report.series) results.append(renderSeries(sj));
    byId('results-empty', HTMLParagraphElement).hidden = report.series.length > 0;
    byId('results-empty', HTMLParagraphElement).textContent = 'No evaluation in this range.';
    byId('downloads', HTMLParagraphElement).hidden = false;
    document.body.dataset['report'] = 'ready';
    status.textContent = `Report ready: ${report.series.length} series, ${report.coverage.start} to ${report.coverage.end}, through audit record ${report.throughSeq}.`;
  } catch (e) {
    status.textContent = '';
    error.textContent = e instanceof Error ? e.message : String(e);
    error.hidden = false;
  }
}

async function download(format: string, ext: string): Promise<void> {
  const error = byId('error', HTMLDivElement);
  try {
    const blob = await (await fetchReport(format)).blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `adoption-${byId('from', HTMLInputElement).value}-${byId('to', HTMLInputElement).value}.${ext}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    error.textContent = e instanceof Error ? e.message : String(e);
    error.hidden = false;
  }
}

function init(): void {
  const today = new Date();
  const yearAgo = new Date(Date.UTC(today.getUTCFullYear() - 1, today.getUTCMonth(), 1));
  byId('to', HTMLInputElement).value = today.toISOString().slice(0, 10);
  byId('from', HTMLInputElement).value = yearAgo.toISOString().slice(0, 10);
  byId('query-form', HTMLFormElement).addEventListener('submit', (ev) => void run(ev));
  byId('download-csv', HTMLButtonElement).addEventListener('click', () => void download('csv', 'csv'));
  byId('download-mr', HTMLButtonElement).addEventListener('click', () => void download('measure-report', 'measure-report.json'));
  byId('download-json', HTMLButtonElement).addEventListener('click', () => void download('json', 'json'));
}

init();
document.body.dataset['ready'] = 'true';
