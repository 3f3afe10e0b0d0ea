/**
 * The map of the pathway, from the API's real evaluations: the outcome over the retest value (a step plot
 * with the URL, the baseline, the ±change-threshold lines and the indeterminate zones), and a
 * baseline × retest heat map with the same lines and a legend. When the map is the evaluated case's
 * (its assay and baseline), the case's own values are marked on both.
 */
import type { MapResponse, OutcomeCode } from './api-types.js';
import { OUTCOME_STYLE, clear, h, s, wrap } from './dom.js';

const FONT = '"Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", sans-serif';

function niceTicks(max: number, count = 8): number[] {
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw) ?? mag * 10;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(10)));
  return out;
}

function fmt(n: number): string {
  return Number(n.toPrecision(6)).toString();
}

interface Run {
  readonly outcome: OutcomeCode;
  readonly from: number;
  readonly to: number;
  readonly first: number;
  readonly last: number;
}

/** Consecutive samples with the same outcome, with the extent each covers (to the midpoints). */
export function runsOf(samples: MapResponse['retest']['samples']): Run[] {
  const vals = samples.map((x) => Number(x.value));
  const runs: Run[] = [];
  let start = 0;
  for (let i = 1; i <= samples.length; i++) {
    if (i < samples.length && samples[i]?.outcome === samples[start]?.outcome) continue;
    const first = vals[start] ?? 0;
    const last = vals[i - 1] ?? 0;
    const prev = vals[start - 1];
    const next = vals[i];
    runs.push({
      outcome: samples[start]?.outcome ?? 'needs-input',
      first,
      last,
      from: prev === undefined ? first : (prev + first) / 2,
      to: next === undefined ? last : (last + next) / 2,
    });
    start = i;
  }
  return runs;
}

function hatch(id: string, color: string): SVGPatternElement {
  return s(
    'pattern',
    { id, patternUnits: 'userSpaceOnUse', width: 8, height: 8, patternTransform: 'rotate(45)' },
    s('rect', { width: 8, height: 8, fill: color, 'fill-opacity': 0.25 }),
    s('line', { x1: 0, y1: 0, x2: 0, y2: 8, stroke: color, 'stroke-width': 3 }),
  );
}

interface RefLine {
  readonly key: string;
  readonly value: number;
  readonly label: string;
  readonly color: string;
  readonly dash: string | null;
  readonly width: number;
}

function refLines(m: MapResponse): RefLine[] {
  const pct = m.thresholdPercent;
  return [
    { key: 'lod', value: Number(m.lines.lod), label: `LoD ${m.lines.lod}`, color: '#6f777b', dash: '2 3', width: 1.5 },
    { key: 'fall', value: Number(m.lines.fall), label: `−${pct}%: ${m.lines.fall}`, color: '#0b3558', dash: '3 3', width: 2 },
    { key: 'baseline', value: Number(m.lines.baseline), label: `baseline ${m.lines.baseline}`, color: '#0b3558', dash: '9 4', width: 2.5 },
    { key: 'rise', value: Number(m.lines.rise), label: `+${pct}%: ${m.lines.rise}`, color: '#0b3558', dash: '3 3', width: 2 },
    { key: 'url', value: Number(m.lines.url), label: `URL ${m.lines.url}`, color: '#b3261e', dash: null, width: 3 },
  ];
}

/** The evaluated case's values (ng/L), marked on the map when it is the case's map. */
export interface CaseMarks {
  readonly baseline: number;
  readonly retests: readonly number[];
}

function caseMark(cx: number, cy: number, label: string, cls: string, anchor: 'start' | 'end'): SVGGElement {
  const t = s('text', { x: anchor === 'start' ? cx + 12 : cx - 12, y: cy + 5, 'text-anchor': anchor, 'font-size': 14, 'font-weight': 700, fill: '#0b0c0c', stroke: '#ffffff', 'stroke-width': 3, 'paint-order': 'stroke' });
  t.textContent = label;
  return s('g', { class: cls }, s('circle', { cx, cy, r: 8, fill: '#ffffff', stroke: '#0b0c0c', 'stroke-width': 3 }), s('circle', { cx, cy, r: 3, fill: '#0b0c0c' }), t, s('title', {}, label));
}

/** `name`: an outcome's name, the pathway's label. */
export function drawRetestPlot(m: MapResponse, marks: CaseMarks | null, name: (outcome: string) => string): SVGSVGElement {
  const max = Number(m.retest.max);
  const runs = runsOf(m.retest.samples);
  const present = [...new Set(runs.map((r) => r.outcome))];
  const order = Object.keys(OUTCOME_STYLE);
  present.sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const W = 1040;
  const left = 215;
  const right = 30;
  const top = 74;
  const rowH = 46;
  const plotH = Math.max(2, present.length) * rowH;
  const H = top + plotH + 62;
  const x = (v: number): number => left + (v / max) * (W - left - right);
  const rowY = (o: OutcomeCode): number => top + present.indexOf(o) * rowH + rowH / 2;
  const describe = runs.map((r) => (r.first === r.last ? `at ${fmt(r.first)}: ${r.outcome}` : `${fmt(r.first)} to ${fmt(r.last)}: ${r.outcome}`)).join('; ');
  const svg = s('svg', { xmlns: 'http://www.w3.org/2000/svg', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-labelledby': 'retest-title retest-desc', id: 'retest-plot', 'font-family': FONT });
  svg.append(
    s('title', { id: 'retest-title' }, `Outcome over the retest value: ${m.assay.name}, baseline ${m.baseline} ng/L, TIMI ${m.timi}`),
    s('desc', { id: 'retest-desc' }, `Retest drawn ${m.retestIntervalMinutes} minutes after the baseline. URL ${m.url} ng/L; change lines at ${m.lines.fall} and ${m.lines.rise} ng/L. Outcomes by retest value (ng/L): ${describe}.`),
    s('defs', {}, hatch('hatch-indeterminate', OUTCOME_STYLE['indeterminate']?.color ?? '#e8a317')),
  );
  // Indeterminate zones, full height.
  for (const r of runs.filter((q) => q.outcome === 'indeterminate')) {
    const x0 = x(r.from);
    const x1 = Math.max(x(r.to), x0 + 3);
    svg.append(s('rect', { x: x0, y: top, width: x1 - x0, height: plotH, fill: 'url(#hatch-indeterminate)', class: 'indeterminate-zone', 'data-from': fmt(r.first), 'data-to': fmt(r.last) }));
  }
  // Rows and grid.
  for (const o of present) {
    const y = rowY(o);
    svg.append(s('line', { x1: left, x2: W - right, y1: y, y2: y, stroke: '#e3e5e6', 'stroke-width': 1 }));
    const st = OUTCOME_STYLE[o];
    svg.append(s('rect', { x: 10, y: y - 9, width: 18, height: 18, fill: st?.color ?? '#999', stroke: '#0b0c0c', 'stroke-width': 1 }));
    // The pathway's name of the outcome, on up to two lines beside its row.
    const lines = wrap(name(o), left - 46, 15, true);
    const t = s('text', { x: 36, y: y + 5 - (lines.length > 1 ? 8 : 0), 'font-size': 15, 'font-weight': 600, fill: '#0b0c0c' });
    lines.slice(0, 2).forEach((line, i) => t.append(s('tspan', { x: 36, dy: i === 0 ? 0 : 17 }, line)));
    svg.append(t);
  }
  svg.append(s('rect', { x: left, y: top, width: W - left - right, height: plotH, fill: 'none', stroke: '#6f777b' }));
  // Axis.
  for (const v of niceTicks(max)) {
    svg.append(s('line', { x1: x(v), x2: x(v), y1: top + plotH, y2: top + plotH + 6, stroke: '#0b0c0c' }));
    const t = s('text', { x: x(v), y: top + plotH + 22, 'text-anchor': 'middle', 'font-size': 14, fill: '#0b0c0c' });
    t.textContent = fmt(v);
    svg.append(t);
  }
  const axis = s('text', { x: (left + W - right) / 2, y: H - 12, 'text-anchor': 'middle', 'font-size': 15, 'font-weight': 600, fill: '#0b0c0c' });
  axis.textContent = `Retest value (ng/L), drawn ${m.retestIntervalMinutes} min after a baseline of ${m.baseline} ng/L`;
  svg.append(axis);
  // Reference lines, labels staggered when close.
  const lines = refLines(m).filter((l) => l.value >= 0 && l.value <= max).sort((a, b) => a.value - b.value);
  let lastX = -1e9;
  let level = 0;
  for (const l of lines) {
    const lx = x(l.value);
    level = lx - lastX < 95 ? (level + 1) % 3 : 0;
    lastX = lx;
    svg.append(s('line', { x1: lx, x2: lx, y1: top - 4, y2: top + plotH, stroke: l.color, 'stroke-width': l.width, 'stroke-dasharray': l.dash, class: `ref-line ref-${l.key}`, 'data-value': fmt(l.value) }));
    const t = s('text', { x: lx, y: top - 10 - level * 19, 'text-anchor': 'middle', 'font-size': 14, 'font-weight': 700, fill: l.color, class: `ref-label ref-${l.key}` });
    t.textContent = l.label;
    svg.append(t);
  }
  // The outcome, as a step plot: thick bars per run, thin risers between them, dots for single values.
  let prev: { x: number; y: number } | null = null;
  for (const r of runs) {
    const y = rowY(r.outcome);
    const st = OUTCOME_STYLE[r.outcome];
    const x0 = x(r.from);
    const x1 = x(r.to);
    if (prev !== null) svg.append(s('line', { x1: prev.x, x2: x0, y1: prev.y, y2: y, stroke: '#505a5f', 'stroke-width': 1.2, 'stroke-dasharray': '2 2' }));
    if (x1 - x0 < 4) {
      svg.append(s('circle', { cx: (x0 + x1) / 2, cy: y, r: 7, fill: st?.color ?? '#999', stroke: '#0b0c0c', 'stroke-width': 1.5, class: 'run point', 'data-outcome': r.outcome, 'data-value': fmt(r.first) }, s('title', {}, `Exactly ${fmt(r.first)} ng/L: ${r.outcome}`)));
    } else {
      svg.append(s('rect', { x: x0, y: y - 9, width: x1 - x0, height: 18, fill: st?.color ?? '#999', stroke: '#0b0c0c', 'stroke-width': 1, class: 'run', 'data-outcome': r.outcome, 'data-from': fmt(r.first), 'data-to': fmt(r.last) }, s('title', {}, `${fmt(r.first)} to ${fmt(r.last)} ng/L: ${r.outcome}`)));
    }
    prev = { x: x1, y };
  }
  // The case's later results, each on the row of the outcome the map gives at its value.
  // A value past the axis is marked at its end, and says so.
  for (const v of marks?.retests ?? []) {
    const at = v > max ? runs[runs.length - 1] : runs.find((r) => v >= r.from && v <= r.to);
    if (at === undefined) continue;
    const cx = x(Math.min(v, max));
    svg.append(caseMark(cx, rowY(at.outcome), `this case: ${fmt(v)}${v > max ? ' (past the axis)' : ''}`, 'case-mark', cx > W - 200 ? 'end' : 'start'));
  }
  return svg;
}

export function drawHeatMap(m: MapResponse, marks: CaseMarks | null = null): SVGSVGElement {
  const n = m.grid.retests.length;
  const max = Number(m.grid.max);
  const size = 560;
  const left = 86;
  const top = 34;
  const right = 150;
  const bottom = 64;
  const W = left + size + right;
  const H = top + size + bottom;
  const cell = size / n;
  const x = (v: number): number => left + (v / max) * size;
  const y = (v: number): number => top + size - (v / max) * size;
  const svg = s('svg', { xmlns: 'http://www.w3.org/2000/svg', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-labelledby': 'heat-title heat-desc', id: 'heat-map', 'font-family': FONT });
  const counts = new Map<string, number>();
  for (const row of m.grid.outcomes) for (const o of row) counts.set(o, (counts.get(o) ?? 0) + 1);
  svg.append(
    s('title', { id: 'heat-title' }, `Baseline × retest heat map: ${m.assay.name}, TIMI ${m.timi}`),
    s('desc', { id: 'heat-desc' }, `${n} × ${n} evaluations, baseline and retest from 0 to ${m.grid.max} ng/L. Cells per outcome: ${[...counts.entries()].map(([o, c]) => `${o} ${c}`).join(', ')}. Lines: the URL ${m.url} ng/L on both axes, and retest = baseline ± ${m.thresholdPercent}%.`),
    s('defs', {}, hatch('hatch-heat', '#0b0c0c')),
  );
  const cells = s('g', { class: 'cells' });
  m.grid.outcomes.forEach((row, i) => {
    let j = 0;
    while (j < row.length) {
      const o = row[j] ?? 'needs-input';
      let k = j;
      while (k + 1 < row.length && row[k + 1] === o) k++;
      const rx = left + j * cell;
      const ry = top + size - (i + 1) * cell;
      cells.append(s('rect', { x: rx, y: ry, width: (k - j + 1) * cell + 0.4, height: cell + 0.4, fill: OUTCOME_STYLE[o]?.color ?? '#999', 'data-outcome': o }));
      if (o === 'indeterminate') cells.append(s('rect', { x: rx, y: ry, width: (k - j + 1) * cell, height: cell, fill: 'url(#hatch-heat)', 'fill-opacity': 0.35 }));
      j = k + 1;
    }
  });
  svg.append(cells, s('rect', { x: left, y: top, width: size, height: size, fill: 'none', stroke: '#0b0c0c' }));
  const pct = Number(m.thresholdPercent) / 100;
  const url = Number(m.url);
  const lineTwice = (attrs: Record<string, number>, color: string, dash: string | null, cls: string): void => {
    svg.append(s('line', { ...attrs, stroke: '#ffffff', 'stroke-width': 5 }), s('line', { ...attrs, stroke: color, 'stroke-width': 2.2, 'stroke-dasharray': dash, class: cls }));
  };
  const clipY = (r: number): number => Math.min(max, r);
  // retest = baseline × (1 ± p): rays from the origin.
  const riseEnd = { b: Math.min(max, max / (1 + pct)), r: clipY(max) };
  const fallEnd = { b: max, r: clipY(max * (1 - pct)) };
  lineTwice({ x1: x(0), y1: y(0), x2: x(riseEnd.r), y2: y(riseEnd.b) }, '#0b3558', '6 4', 'heat-rise');
  lineTwice({ x1: x(0), y1: y(0), x2: x(fallEnd.r), y2: y(fallEnd.b) }, '#0b3558', '6 4', 'heat-fall');
  if (url <= max) {
    lineTwice({ x1: x(url), y1: y(0), x2: x(url), y2: y(max) }, '#b3261e', null, 'heat-url-x');
    lineTwice({ x1: x(0), y1: y(url), x2: x(max), y2: y(url) }, '#b3261e', null, 'heat-url-y');
  }
  const b = Number(m.lines.baseline);
  if (b <= max) lineTwice({ x1: x(0), y1: y(b), x2: x(max), y2: y(b) }, '#0b0c0c', '2 3', 'heat-baseline');
  const labels: [number, number, string, string][] = [
    [x(max) + 8, y(riseEnd.b) + 5, `+${m.thresholdPercent}%`, '#0b3558'],
    [x(fallEnd.r) + 4, y(max) - 8, `−${m.thresholdPercent}%`, '#0b3558'],
    [x(max) + 8, y(url) + 5, `URL ${m.url}`, '#b3261e'],
    [x(max) + 8, y(b) + 5, `baseline ${m.lines.baseline}`, '#0b0c0c'],
  ];
  for (const [lx, ly, text, color] of labels) {
    const t = s('text', { x: lx, y: ly, 'font-size': 14, 'font-weight': 700, fill: color });
    t.textContent = text;
    svg.append(t);
  }
  for (const v of niceTicks(max, 6)) {
    const tx = s('text', { x: x(v), y: top + size + 22, 'text-anchor': 'middle', 'font-size': 14 });
    tx.textContent = fmt(v);
    const ty = s('text', { x: left - 10, y: y(v) + 5, 'text-anchor': 'end', 'font-size': 14 });
    ty.textContent = fmt(v);
    svg.append(s('line', { x1: x(v), x2: x(v), y1: top + size, y2: top + size + 6, stroke: '#0b0c0c' }), s('line', { x1: left - 6, x2: left, y1: y(v), y2: y(v), stroke: '#0b0c0c' }), tx, ty);
  }
  const xl = s('text', { x: left + size / 2, y: H - 14, 'text-anchor': 'middle', 'font-size': 15, 'font-weight': 600 });
  xl.textContent = `Retest (ng/L), at ${m.retestIntervalMinutes} min`;
  const yl = s('text', { x: 20, y: top + size / 2, 'text-anchor': 'middle', 'font-size': 15, 'font-weight': 600, transform: `rotate(-90 20 ${top + size / 2})` });
  yl.textContent = 'Baseline (ng/L)';
  svg.append(xl, yl);
  for (const v of marks?.retests ?? []) {
    if (marks === null) continue;
    const past = v > max || marks.baseline > max;
    const cx = x(Math.min(v, max));
    svg.append(caseMark(cx, y(Math.min(marks.baseline, max)), `this case: ${fmt(marks.baseline)} → ${fmt(v)}${past ? ' (past the axes)' : ''}`, 'case-mark', cx > left + size / 2 ? 'end' : 'start'));
  }
  return svg;
}

export function renderLegend(el: HTMLElement, m: MapResponse, name: (outcome: string) => string): void {
  clear(el);
  const present = new Set<string>(m.retest.samples.map((x) => x.outcome));
  for (const row of m.grid.outcomes) for (const o of row) present.add(o);
  for (const o of Object.keys(OUTCOME_STYLE)) {
    if (!present.has(o)) continue;
    el.append(h('span', { 'data-outcome': o }, h('span', { class: 'swatch', 'data-outcome': o, 'aria-hidden': 'true' }), `${name(o)}${o === 'indeterminate' ? ' (hatched)' : ''}`));
  }
  el.append(
    h('span', {}, h('span', { class: 'swatch line-url', 'aria-hidden': 'true' }), `URL ${m.url} ng/L`),
    h('span', {}, h('span', { class: 'swatch line-change', 'aria-hidden': 'true' }), `±${m.thresholdPercent}% from the baseline`),
    h('span', {}, h('span', { class: 'swatch line-baseline', 'aria-hidden': 'true' }), 'the baseline'),
  );
}
