/**
 * The adoption page's charts: SVG drawn from the report's numbers, each a <figure> with a title and a
 * description the screen reader reads, reachable by keyboard, with the same numbers as a table beside it.
 * Colour is never the only signal: every series also has its own pattern and its name in the legend, and
 * suppressed cells are drawn hatched grey and written "suppressed".
 */
import { h, s, type Child } from './dom.js';

export type N = number | null;

const W = 640;
const H = 300;
const M = { left: 52, right: 12, top: 16, bottom: 46 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;

/** Colours by severity rank (most serious first), with a pattern each. */
const PALETTE = ['#6e1423', '#c0392b', '#b35c00', '#6f777b', '#1d70b8', '#1b8a6b', '#4f7f3a', '#5b3f8c', '#0b3558'];
const PATTERNS = ['solid', 'diagonal', 'dots', 'horizontal', 'cross', 'vertical', 'backdiagonal', 'grid', 'zigzag'];

let uid = 0;
const nextId = (p: string): string => `${p}-${++uid}`;

export interface Series {
  readonly key: string;
  readonly label: string;
}

/** The fill pattern of series `i` (its colour and its own texture), or the grey hatch of suppressed cells (i < 0). */
function patternEl(id: string, i: number): SVGPatternElement {
  if (i < 0) {
    return s('pattern', { id, width: 6, height: 6, patternUnits: 'userSpaceOnUse' }, s('rect', { width: 6, height: 6, fill: '#e6e6e6' }), s('path', { d: 'M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2', stroke: '#505a5f', 'stroke-width': 1 }));
  }
  const kind = PATTERNS[i % PATTERNS.length] ?? 'solid';
  const p = s('pattern', { id, width: 8, height: 8, patternUnits: 'userSpaceOnUse' }, s('rect', { width: 8, height: 8, fill: PALETTE[i % PALETTE.length] ?? '#333' }));
  const ink = { stroke: '#ffffff', 'stroke-width': 1.6, 'stroke-opacity': 0.75 };
  if (kind === 'diagonal' || kind === 'cross') p.append(s('path', { d: 'M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4', ...ink }));
  if (kind === 'backdiagonal' || kind === 'cross') p.append(s('path', { d: 'M-2,6 l4,4 M0,0 l8,8 M6,-2 l4,4', ...ink }));
  if (kind === 'dots') p.append(s('circle', { cx: 4, cy: 4, r: 1.6, fill: '#ffffff', 'fill-opacity': 0.8 }));
  if (kind === 'horizontal' || kind === 'grid') p.append(s('path', { d: 'M0,4 h8', ...ink }));
  if (kind === 'vertical' || kind === 'grid') p.append(s('path', { d: 'M4,0 v8', ...ink }));
  if (kind === 'zigzag') p.append(s('path', { d: 'M0,6 l2,-4 l2,4 l2,-4 l2,4', fill: 'none', ...ink }));
  return p;
}

function patternDefs(ids: readonly string[], count: number): SVGDefsElement {
  const defs = s('defs');
  for (let i = 0; i < count; i++) defs.append(patternEl(ids[i] ?? '', i));
  defs.append(patternEl(`${ids[0] ?? 'p'}-suppressed`, -1));
  return defs;
}

function svgRoot(title: string, desc: string): { svg: SVGSVGElement; titleId: string } {
  const titleId = nextId('chart-title');
  const descId = nextId('chart-desc');
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${titleId} ${descId}`, tabindex: 0, focusable: 'true' }, s('title', { id: titleId }, title), s('desc', { id: descId }, desc));
  return { svg, titleId };
}

function yAxis(svg: SVGSVGElement, max: number, label: string, fmt: (v: number) => string = (v) => String(v)): (v: number) => number {
  const y = (v: number): number => M.top + PLOT_H - (max === 0 ? 0 : (v / max) * PLOT_H);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    svg.append(s('line', { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), stroke: '#d8d8d8' }), s('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#0b0c0c' }, fmt(v)));
  }
  svg.append(s('text', { x: 12, y: M.top + PLOT_H / 2, transform: `rotate(-90 12 ${M.top + PLOT_H / 2})`, 'text-anchor': 'middle', 'font-size': 11, fill: '#0b0c0c' }, label));
  return y;
}

function xLabels(svg: SVGSVGElement, labels: readonly string[], xOf: (i: number) => number): void {
  const every = Math.max(1, Math.ceil(labels.length / 10));
  labels.forEach((l, i) => {
    if (i % every === 0) svg.append(s('text', { x: xOf(i), y: H - M.bottom + 16, 'text-anchor': 'middle', 'font-size': 11, fill: '#0b0c0c' }, l));
  });
}

function legend(series: readonly Series[], suppressed: boolean): HTMLElement {
  const items = series.map((x, i) => h('li', {}, swatch(i), x.label));
  if (suppressed) items.push(h('li', {}, swatch(-1), 'Suppressed (fewer than 5)'));
  return h('ul', { class: 'chart-legend', 'aria-label': 'Legend' }, ...items);
}

function swatch(i: number): SVGSVGElement {
  const id = nextId('swatch');
  return s('svg', { viewBox: '0 0 16 16', 'aria-hidden': 'true' }, s('defs', {}, patternEl(id, i)), s('rect', { width: 16, height: 16, fill: `url(#${id})`, stroke: '#0b0c0c' }));
}

/** A table of the chart's numbers: rows × columns, "suppressed" for null. */
export function dataTable(caption: string, columns: readonly string[], rows: readonly { label: string; values: readonly (N | string)[] }[], summary = 'Data table'): HTMLElement {
  const cell = (v: N | string): HTMLElement => (v === null ? h('td', { class: 'suppressed' }, 'suppressed') : h('td', {}, typeof v === 'number' ? v.toLocaleString('en-GB') : v));
  const table = h('table', { class: 'data-table' }, h('caption', { class: 'visually-hidden' }, caption), h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), ...columns.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, ...rows.map((r) => h('tr', {}, h('th', { scope: 'row' }, r.label), ...r.values.map(cell)))));
  return h('details', {}, h('summary', {}, summary), h('div', { class: 'data-table-wrap', role: 'region', 'aria-label': caption, tabindex: 0 }, table));
}

export function figure(caption: string, svg: SVGSVGElement, ...rest: Child[]): HTMLElement {
  return h('figure', { class: 'chart' }, h('figcaption', {}, caption), svg, ...rest);
}

/** Stacked 100% bars: each period's share of each series; a period (or part) suppressed drawn hatched. */
export function stackedShares(caption: string, desc: string, periods: readonly string[], series: readonly Series[], values: readonly (readonly N[])[], totals: readonly N[], unit = 'episodes'): HTMLElement {
  const { svg } = svgRoot(caption, desc);
  const ids = series.map(() => nextId('pat'));
  svg.append(patternDefs(ids, series.length));
  const sup = `${ids[0] ?? 'pat'}-suppressed`;
  const y = yAxis(svg, 100, `Share of ${unit} (%)`, (v) => `${v}%`);
  const band = PLOT_W / Math.max(1, periods.length);
  const bw = Math.max(2, band * 0.7);
  const xOf = (i: number): number => M.left + band * i + band / 2;
  periods.forEach((p, i) => {
    const total = totals[i] ?? null;
    const x = xOf(i) - bw / 2;
    if (total === null || total === 0) {
      if (total === null) svg.append(s('rect', { x, y: y(100), width: bw, height: y(0) - y(100), fill: `url(#${sup})` }, s('title', {}, `${p}: suppressed`)));
      return;
    }
    let acc = 0;
    series.forEach((sr, k) => {
      const v = values[i]?.[k] ?? null;
      if (v === null || v === 0) return;
      const pct = (v / total) * 100;
      svg.append(s('rect', { x, y: y(acc + pct), width: bw, height: y(acc) - y(acc + pct), fill: `url(#${ids[k] ?? ''})` }, s('title', {}, `${p}: ${sr.label} ${v} of ${total} (${pct.toFixed(1)}%)`)));
      acc += pct;
    });
    if (acc < 99.95) svg.append(s('rect', { x, y: y(100), width: bw, height: y(acc) - y(100), fill: `url(#${sup})` }, s('title', {}, `${p}: ${(100 - acc).toFixed(1)}% in suppressed cells`)));
  });
  xLabels(svg, periods, xOf);
  return figure(caption, svg, legend(series, true), dataTable(caption, [...series.map((x) => x.label), unit.charAt(0).toUpperCase() + unit.slice(1)], periods.map((p, i) => ({ label: p, values: [...series.map((_, k) => values[i]?.[k] ?? null), totals[i] ?? null] }))));
}

/** Bars over bins, with a marker line at `markAt` (a bin boundary label) and each bar's count written on it. */
export function histogram(caption: string, desc: string, bins: readonly { label: string; n: N; group: number }[], groups: readonly Series[], markBefore: string | null, markText: string, xTitle: string): HTMLElement {
  const { svg } = svgRoot(caption, desc);
  const ids = groups.map(() => nextId('pat'));
  svg.append(patternDefs(ids, groups.length));
  const sup = `${ids[0] ?? 'pat'}-suppressed`;
  const max = Math.max(1, ...bins.map((b) => b.n ?? 0));
  const y = yAxis(svg, max, 'Episodes', (v) => String(Math.round(v)));
  const band = PLOT_W / Math.max(1, bins.length);
  const xOf = (i: number): number => M.left + band * i + band / 2;
  bins.forEach((b, i) => {
    const x = xOf(i) - band * 0.4;
    if (b.n === null) {
      svg.append(s('rect', { x, y: y(max), width: band * 0.8, height: y(0) - y(max), fill: `url(#${sup})`, opacity: 0.6 }, s('title', {}, `${b.label}: suppressed`)));
      return;
    }
    svg.append(s('rect', { x, y: y(b.n), width: band * 0.8, height: y(0) - y(b.n), fill: `url(#${ids[b.group] ?? ''})` }, s('title', {}, `${b.label}: ${b.n}`)));
    if (b.n > 0) svg.append(s('text', { x: xOf(i), y: y(b.n) - 3, 'text-anchor': 'middle', 'font-size': 10, fill: '#0b0c0c' }, String(b.n)));
  });
  const k = markBefore === null ? -1 : bins.findIndex((b) => b.label === markBefore);
  if (k >= 0) {
    const x = M.left + band * k;
    svg.append(s('line', { x1: x, x2: x, y1: M.top, y2: M.top + PLOT_H, stroke: '#0b0c0c', 'stroke-width': 2, 'stroke-dasharray': '5 3' }), s('text', { x: x + 4, y: M.top + 10, 'font-size': 11, fill: '#0b0c0c' }, markText));
  }
  xLabels(svg, bins.map((b) => b.label), xOf);
  svg.append(s('text', { x: M.left + PLOT_W / 2, y: H - 8, 'text-anchor': 'middle', 'font-size': 11, fill: '#0b0c0c' }, xTitle));
  return figure(caption, svg, legend(groups, bins.some((b) => b.n === null)), dataTable(caption, ['Episodes'], bins.map((b) => ({ label: b.label, values: [b.n] }))));
}

/** Per period: the quartile range as a bar and the median as a dot (minutes). */
export function rangePlot(caption: string, desc: string, periods: readonly string[], rows: readonly { median: N; p25: N; p75: N; n: N }[], yTitle: string): HTMLElement {
  const { svg } = svgRoot(caption, desc);
  const max = Math.max(60, ...rows.map((r) => r.p75 ?? r.median ?? 0)) * 1.1;
  const y = yAxis(svg, max, yTitle, (v) => String(Math.round(v)));
  const band = PLOT_W / Math.max(1, periods.length);
  const xOf = (i: number): number => M.left + band * i + band / 2;
  rows.forEach((r, i) => {
    if (r.median === null) {
      svg.append(s('text', { x: xOf(i), y: y(0) - 4, 'text-anchor': 'middle', 'font-size': 10, fill: '#505a5f' }, '–'));
      return;
    }
    if (r.p25 !== null && r.p75 !== null) svg.append(s('rect', { x: xOf(i) - Math.min(8, band * 0.3), y: y(r.p75), width: Math.min(16, band * 0.6), height: Math.max(1, y(r.p25) - y(r.p75)), fill: '#9ec5e8', stroke: '#0b3558' }, s('title', {}, `${periods[i] ?? ''}: quartiles ${r.p25}–${r.p75} min`)));
    svg.append(s('circle', { cx: xOf(i), cy: y(r.median), r: 4, fill: '#0b0c0c' }, s('title', {}, `${periods[i] ?? ''}: median ${r.median} min`)));
  });
  xLabels(svg, periods, xOf);
  const note = h('p', { class: 'note' }, 'Dot: median. Bar: from the first to the third quartile. "–": fewer than 5 values or suppressed.');
  return figure(caption, svg, note, dataTable(caption, ['Median (min)', 'First quartile', 'Third quartile', 'Episodes measured'], periods.map((p, i) => ({ label: p, values: [rows[i]?.median ?? null, rows[i]?.p25 ?? null, rows[i]?.p75 ?? null, rows[i]?.n ?? null] }))));
}
