/**
 * The pathway chart, drawn as SVG from the pathway file's graph: nothing about Chart 2 is written here.
 *
 * Layout: nodes are layered by their longest distance from the start node; the order within a layer
 * is improved by a few barycentre sweeps; nodes are then pulled under their parents without overlapping.
 * Parallel edges (several branches between the same two nodes) are drawn as one connector with every
 * branch's label stacked on it. The path the decision took (Decision.path) is drawn thick and numbered,
 * each decision point on it carries the values used (the API's annotations), and every node or branch
 * where the printed chart is silent (`silent` in the file) carries a ◆ and the rule that resolves it.
 */
import type { DecisionView, GraphEdgeView, GraphNodeView, PathwayFileView } from './api-types.js';
import { OUTCOME_STYLE, rulesIn, s, textWidth, wrap } from './dom.js';

interface Placed {
  readonly node: GraphNodeView;
  readonly layer: number;
  x: number;
  y: number;
  readonly w: number;
  h: number;
  readonly labelLines: readonly string[];
  readonly annotationLines: readonly string[];
}

interface Group {
  readonly from: string;
  readonly to: string;
  readonly edges: readonly GraphEdgeView[];
}

interface LabelBox {
  readonly group: Group;
  readonly lines: readonly { readonly text: string; readonly edge: GraphEdgeView }[];
  t: number;
  x: number;
  y: number;
  readonly w: number;
  readonly h: number;
}

const LABEL_FONT = 15;
const ANNOT_FONT = 13.5;
const EDGE_FONT = 13.5;
const LINE = 19;
const ANNOT_LINE = 17.5;
const EDGE_LINE = 18;
const H_GAP = 20;
const LABEL_WRAP = 250;
const LANE_MARGIN = 14;
const PAD = 10;
const PATH_COLOR = '#0b3558';
const IDLE_STROKE = '#8a9197';
const SILENT_COLOR = '#8a5a00';

function layering(file: PathwayFileView): Map<string, number> {
  const depth = new Map<string, number>([[file.graph.start, 0]]);
  const indeg = new Map<string, number>(file.graph.nodes.map((n) => [n.id, 0]));
  for (const e of file.graph.edges) indeg.set(e.to, (indeg.get(e.to) ?? 0) + 1);
  const queue = file.graph.nodes.filter((n) => (indeg.get(n.id) ?? 0) === 0).map((n) => n.id);
  while (queue.length > 0) {
    const id = queue.shift() ?? '';
    for (const e of file.graph.edges.filter((x) => x.from === id)) {
      depth.set(e.to, Math.max(depth.get(e.to) ?? 0, (depth.get(id) ?? 0) + 1));
      indeg.set(e.to, (indeg.get(e.to) ?? 0) - 1);
      if (indeg.get(e.to) === 0) queue.push(e.to);
    }
  }
  return depth;
}

function silentText(x: { readonly silent?: string }): string | null {
  return x.silent === undefined || x.silent === '' ? null : x.silent;
}

function ruleTag(text: string): string {
  const r = rulesIn(text);
  return r.length === 0 ? '' : `rule ${r.join(', ')}`;
}

export interface ChartOptions {
  readonly decision?: DecisionView | null;
  readonly annotations?: Readonly<Record<string, readonly string[]>>;
  readonly outcomeLabel?: (o: string) => string;
}

export function drawChart(file: PathwayFileView, opts: ChartOptions = {}): SVGSVGElement {
  const decision = opts.decision ?? null;
  const pathNodes = decision?.path.nodes ?? [];
  const pathEdges = new Set(decision?.path.edges ?? []);
  const stepOf = new Map(pathNodes.map((id, i) => [id, i + 1]));
  const depth = layering(file);

  // Groups of parallel edges, in file order.
  const groups: Group[] = [];
  for (const e of file.graph.edges) {
    const g = groups.find((x) => x.from === e.from && x.to === e.to);
    if (g === undefined) groups.push({ from: e.from, to: e.to, edges: [e] });
    else (g.edges as GraphEdgeView[]).push(e);
  }

  // Layers and their order: breadth first from the start, then barycentre sweeps.
  const maxLayer = Math.max(...[...depth.values()]);
  const layers: string[][] = Array.from({ length: maxLayer + 1 }, () => []);
  const seen = new Set<string>();
  const bfs = [file.graph.start];
  while (bfs.length > 0) {
    const id = bfs.shift() ?? '';
    if (seen.has(id)) continue;
    seen.add(id);
    layers[depth.get(id) ?? 0]?.push(id);
    for (const e of file.graph.edges) if (e.from === id) bfs.push(e.to);
  }
  for (const n of file.graph.nodes) if (!seen.has(n.id)) layers[depth.get(n.id) ?? 0]?.push(n.id);
  const index = (id: string): number => {
    const l = layers[depth.get(id) ?? 0] ?? [];
    return l.indexOf(id) / Math.max(1, l.length - 1);
  };
  const avg = (xs: number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);
  for (let iter = 0; iter < 6; iter++) {
    const down = iter % 2 === 0;
    const order = down ? layers.map((_, i) => i).slice(1) : layers.map((_, i) => i).reverse().slice(1);
    for (const li of order) {
      const layer = layers[li] ?? [];
      const keyed = layer.map((id, pos) => {
        const nb = down ? file.graph.edges.filter((e) => e.to === id).map((e) => index(e.from)) : file.graph.edges.filter((e) => e.from === id).map((e) => index(e.to));
        return { id, key: avg(nb) ?? pos / Math.max(1, layer.length - 1), pos };
      });
      keyed.sort((a, b) => a.key - b.key || a.pos - b.pos);
      layers[li] = keyed.map((k) => k.id);
    }
  }

  // Node boxes.
  const nodes = new Map(file.graph.nodes.map((n) => [n.id, n]));
  const placed = new Map<string, Placed>();
  for (const n of file.graph.nodes) {
    const w = n.kind === 'outcome' ? 162 : 248;
    const annotations = opts.annotations?.[n.id] ?? [];
    const labelLines = wrap(n.label, w - 2 * PAD - 4, LABEL_FONT, true);
    const annotationLines = annotations.flatMap((a) => wrap(`▸ ${a}`, w - 2 * PAD, ANNOT_FONT));
    placed.set(n.id, { node: n, layer: depth.get(n.id) ?? 0, x: 0, y: 0, w, h: 0, labelLines, annotationLines });
  }
  for (const p of placed.values()) {
    const ruleRow = p.node.rule !== undefined || silentText(p.node) !== null ? 17 : 0;
    p.h = PAD + ruleRow + p.labelLines.length * LINE + (p.annotationLines.length > 0 ? 10 + p.annotationLines.length * ANNOT_LINE : 0) + PAD;
  }

  // Horizontal placement: packed and centred, then pulled under parents (top-down), without overlap.
  const widthOf = (layer: readonly string[]): number => layer.reduce((a, id) => a + (placed.get(id)?.w ?? 0), 0) + H_GAP * Math.max(0, layer.length - 1);
  const maxWidth = Math.max(...layers.map(widthOf));
  for (const layer of layers) {
    let x = (maxWidth - widthOf(layer)) / 2;
    for (const id of layer) {
      const p = placed.get(id);
      if (p === undefined) continue;
      p.x = x;
      x += p.w + H_GAP;
    }
  }
  const centre = (p: Placed): number => p.x + p.w / 2;
  for (let iter = 0; iter < 4; iter++) {
    for (const layer of layers.slice(1)) {
      const wanted = layer.map((id) => {
        const p = placed.get(id);
        const parents = file.graph.edges.filter((e) => e.to === id).map((e) => placed.get(e.from)).filter((q): q is Placed => q !== undefined);
        const c = avg(parents.map(centre));
        return { p, want: c === null || p === undefined ? (p === undefined ? 0 : centre(p)) : c - p.w / 2 };
      });
      // Two placements without overlap, one packed from the left and one from the right, each as close
      // to the wanted places as it can be; their average keeps the order and the gaps.
      const left = new Map<Placed, number>();
      let minX = Number.NEGATIVE_INFINITY;
      for (const { p, want } of wanted) {
        if (p === undefined) continue;
        const x = Math.max(want, minX);
        left.set(p, x);
        minX = x + p.w + H_GAP;
      }
      let maxX = Number.POSITIVE_INFINITY;
      for (const { p, want } of [...wanted].reverse()) {
        if (p === undefined) continue;
        const x = Math.min(want, maxX - p.w);
        p.x = ((left.get(p) ?? x) + x) / 2;
        maxX = x - H_GAP;
      }
    }
  }

  // Labels of each group: every branch's label, long ones wrapped.
  const labelOf = (g: Group): LabelBox => {
    const lines = g.edges
      .filter((e) => e.label !== '' || silentText(e) !== null)
      .flatMap((e) => {
        const silent = silentText(e);
        const tag = silent === null ? '' : ruleTag(silent);
        const text = `${silent === null ? '' : '◆ '}${e.label}${tag === '' ? '' : ` · ${tag}`}`;
        return wrap(text, LABEL_WRAP, EDGE_FONT, true).map((t) => ({ text: t, edge: e }));
      });
    const w = lines.length === 0 ? 0 : Math.max(...lines.map((l) => textWidth(l.text, EDGE_FONT, true))) + 14;
    return { group: g, lines, t: 0.5, x: 0, y: 0, w, h: lines.length === 0 ? 0 : lines.length * EDGE_LINE + 8 };
  };
  const labels = groups.map(labelOf);

  // Every node of a layer gets the layer's height, so that connectors leave a layer at one y.
  for (const layer of layers) {
    const hMax = Math.max(0, ...layer.map((id) => placed.get(id)?.h ?? 0));
    for (const id of layer) {
      const p = placed.get(id);
      if (p !== undefined) p.h = hMax;
    }
  }

  // Ports: outgoing groups spread along the bottom, incoming along the top, ordered by the other end.
  const portX = new Map<Group, { s: number; t: number }>();
  for (const p of placed.values()) {
    const out = groups.filter((g) => g.from === p.node.id).sort((a, b) => centre(placed.get(a.to) ?? p) - centre(placed.get(b.to) ?? p));
    out.forEach((g, i) => portX.set(g, { s: p.x + ((i + 1) * p.w) / (out.length + 1), t: portX.get(g)?.t ?? 0 }));
  }
  for (const p of placed.values()) {
    const inc = groups.filter((g) => g.to === p.node.id).sort((a, b) => centre(placed.get(a.from) ?? p) - centre(placed.get(b.from) ?? p));
    inc.forEach((g, i) => portX.set(g, { s: portX.get(g)?.s ?? 0, t: p.x + ((i + 1) * p.w) / (inc.length + 1) }));
  }

  // Labels in lanes: in the gap below each layer, every label sits in a horizontal lane where it
  // overlaps no other label, centred on its connector at that height. The connector's x at a given
  // fraction of the gap does not depend on the gap's height, so the lanes can be chosen first and
  // the gap made tall enough for them.
  const fracT = (f: number): number => {
    // y(t) = 3t^2 - 2t^3 of the connector's cubic, inverted by bisection.
    let lo = 0;
    let hi = 1;
    for (let i = 0; i < 30; i++) {
      const mid = (lo + hi) / 2;
      if (3 * mid * mid - 2 * mid * mid * mid < f) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  const gapOf: number[] = [];
  for (let li = 0; li < layers.length; li++) {
    const inGap = labels.filter((l) => l.h > 0 && (depth.get(l.group.from) ?? 0) === li).sort((a, b) => (portX.get(a.group)?.s ?? 0) - (portX.get(b.group)?.s ?? 0));
    if (inGap.length === 0) {
      gapOf[li] = 56;
      continue;
    }
    const laneH = Math.max(...inGap.map((l) => l.h)) + 6;
    for (let lanes = 1; lanes <= inGap.length; lanes++) {
      const gap = LANE_MARGIN * 2 + lanes * laneH;
      const placedBoxes: { lane: number; x: number; w: number }[] = [];
      let ok = true;
      const prefer = Array.from({ length: lanes }, (_, k) => k).sort((a, b) => Math.abs(a - (lanes - 1) / 2) - Math.abs(b - (lanes - 1) / 2) || a - b);
      for (const l of inGap) {
        const px = portX.get(l.group) ?? { s: 0, t: 0 };
        let done = false;
        for (const k of prefer) {
          const laneTop = LANE_MARGIN + k * laneH;
          const f = (laneTop + laneH / 2) / gap;
          const t = fracT(f);
          const u = 3 * t * t - 2 * t * t * t;
          const cx = px.s + (px.t - px.s) * u;
          const box = { x: cx - l.w / 2, y: laneTop + (laneH - l.h) / 2 };
          if (placedBoxes.some((b) => b.lane === k && box.x < b.x + b.w + 10 && b.x < box.x + l.w + 10)) continue;
          l.t = t;
          l.x = box.x;
          l.y = box.y;
          placedBoxes.push({ lane: k, x: box.x, w: l.w });
          done = true;
          break;
        }
        if (!done) {
          ok = false;
          break;
        }
      }
      if (ok) {
        gapOf[li] = gap;
        break;
      }
    }
  }

  // Vertical placement, then the labels' offsets become absolute.
  let y = 30;
  const layerBottom: number[] = [];
  for (let li = 0; li < layers.length; li++) {
    const layer = layers[li] ?? [];
    const hMax = Math.max(0, ...layer.map((id) => placed.get(id)?.h ?? 0));
    for (const id of layer) {
      const p = placed.get(id);
      if (p !== undefined) p.y = y;
    }
    layerBottom[li] = y + hMax;
    y += hMax + (gapOf[li] ?? 56);
  }
  for (const l of labels) l.y += layerBottom[depth.get(l.group.from) ?? 0] ?? 0;
  // Shift everything right so that nothing (node or label) starts left of the margin.
  const shift = 30 - Math.min(...[...placed.values()].map((p) => p.x), ...labels.filter((l) => l.h > 0).map((l) => l.x));
  for (const p of placed.values()) p.x += shift;
  for (const l of labels) l.x += shift;
  for (const [g, px] of portX) portX.set(g, { s: px.s + shift, t: px.t + shift });
  const height = y - 20;
  const width = Math.max(...[...placed.values()].map((p) => p.x + p.w), ...labels.map((l) => l.x + l.w)) + 30;
  const port = new Map<Group, { s: [number, number]; t: [number, number] }>();
  for (const g of groups) {
    const from = placed.get(g.from);
    const to = placed.get(g.to);
    const px = portX.get(g);
    if (from === undefined || to === undefined || px === undefined) continue;
    port.set(g, { s: [px.s, from.y + from.h], t: [px.t, to.y - 2] });
  }

  // Drawing.
  const outcomeText = decision === null ? 'No case evaluated yet.' : `Outcome ${decision.outcome}: ${opts.outcomeLabel?.(decision.outcome) ?? decision.outcome}.`;
  const pathWords = pathNodes
    .map((id, i) => {
      const n = nodes.get(id);
      const e = file.graph.edges.find((x) => x.from === id && pathEdges.has(x.id));
      const values = opts.annotations?.[id] ?? [];
      return `${i + 1}. ${n?.label ?? id}${values.length > 0 ? ` (${values.join('; ')})` : ''}${e !== undefined && e.label !== '' ? ` → ${e.label}` : ''}`;
    })
    .join('; ');
  const svg = s('svg', {
    xmlns: 'http://www.w3.org/2000/svg',
    viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`,
    width: Math.ceil(width),
    height: Math.ceil(height),
    role: 'img',
    'aria-labelledby': 'chart-title chart-desc',
    class: 'pathway-chart',
    'font-family': '"Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", sans-serif',
  });
  svg.append(
    s('title', { id: 'chart-title' }, `${file.title} (${file.id} ${file.version}), drawn from the pathway file`),
    s('desc', { id: 'chart-desc' }, decision === null ? `The chart with ${file.graph.nodes.length} steps and ${file.graph.edges.length} branches. ${outcomeText}` : `Path taken: ${pathWords}. ${outcomeText}`),
  );
  const defs = s('defs');
  for (const [id, color] of [
    ['arrow-idle', IDLE_STROKE],
    ['arrow-path', PATH_COLOR],
  ] as const) {
    defs.append(s('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', fill: color })));
  }
  svg.append(defs);

  const edgeLayer = s('g', { class: 'edges' });
  const groupOnPath = (g: Group): boolean => g.edges.some((e) => pathEdges.has(e.id));
  for (const g of [...groups].sort((a, b) => Number(groupOnPath(a)) - Number(groupOnPath(b)))) {
    const pt = port.get(g);
    if (pt === undefined) continue;
    const on = groupOnPath(g);
    const dy = (pt.t[1] - pt.s[1]) / 2;
    const silent = g.edges.some((e) => silentText(e) !== null);
    edgeLayer.append(
      s('path', {
        d: `M${pt.s[0]},${pt.s[1]} C${pt.s[0]},${pt.s[1] + dy} ${pt.t[0]},${pt.t[1] - dy} ${pt.t[0]},${pt.t[1]}`,
        fill: 'none',
        stroke: on ? PATH_COLOR : IDLE_STROKE,
        'stroke-width': on ? 5 : 1.6,
        'marker-end': `url(#${on ? 'arrow-path' : 'arrow-idle'})`,
        'data-edges': g.edges.map((e) => e.id).join(' '),
        'data-on-path': on ? 'true' : 'false',
        'data-silent': silent ? 'true' : 'false',
        class: on ? 'edge on-path' : 'edge',
      }),
    );
  }
  svg.append(edgeLayer);

  const labelLayer = s('g', { class: 'edge-labels' });
  for (const l of labels) {
    if (l.lines.length === 0) continue;
    const g = s('g', { class: 'edge-label', 'data-edges': l.group.edges.map((e) => e.id).join(' ') });
    g.append(s('rect', { x: l.x, y: l.y, width: l.w, height: l.h, fill: '#ffffff', stroke: '#d0d3d4', rx: 3, 'fill-opacity': 0.96 }));
    l.lines.forEach((line, i) => {
      const on = pathEdges.has(line.edge.id);
      const ty = l.y + 4 + i * EDGE_LINE;
      if (on) g.append(s('rect', { x: l.x + 1, y: ty, width: l.w - 2, height: EDGE_LINE, fill: PATH_COLOR, rx: 2 }));
      const silent = silentText(line.edge);
      const text = s('text', {
        x: l.x + l.w / 2,
        y: ty + EDGE_LINE - 5,
        'text-anchor': 'middle',
        'font-size': EDGE_FONT,
        'font-weight': on ? 700 : 600,
        fill: on ? '#ffffff' : silent !== null ? SILENT_COLOR : '#3d4551',
        'data-edge': line.edge.id,
        'data-on-path': on ? 'true' : 'false',
      });
      text.textContent = line.text;
      if (silent !== null) text.append(s('title', {}, `Where the chart is silent: ${silent}`));
      g.append(text);
    });
    labelLayer.append(g);
  }

  const nodeLayer = s('g', { class: 'nodes' });
  for (const p of placed.values()) {
    const n = p.node;
    const on = stepOf.has(n.id);
    const step = stepOf.get(n.id);
    const silent = silentText(n);
    const isOutcome = n.kind === 'outcome';
    const style = n.outcome === undefined ? undefined : OUTCOME_STYLE[n.outcome];
    const final = on && isOutcome;
    const g = s('g', { class: `node${on ? ' on-path' : ''}`, 'data-node': n.id, 'data-kind': n.kind, 'data-on-path': on ? 'true' : 'false', ...(step === undefined ? {} : { 'data-step': step }), 'data-silent': silent === null ? 'false' : 'true' });
    const fill = final ? (style?.color ?? '#e8f0f8') : on ? '#e8f0f8' : '#ffffff';
    const ink = final ? (style?.ink ?? '#0b0c0c') : on ? '#0b0c0c' : '#3d4551';
    g.append(
      s('rect', {
        x: p.x,
        y: p.y,
        width: p.w,
        height: p.h,
        rx: isOutcome ? 16 : n.kind === 'start' ? 24 : 4,
        fill,
        stroke: on ? PATH_COLOR : silent !== null ? SILENT_COLOR : '#6f777b',
        'stroke-width': on ? 4 : 1.6,
        'stroke-dasharray': silent !== null ? '7 4' : null,
      }),
    );
    if (isOutcome && !final && style !== undefined) {
      g.append(s('rect', { x: p.x + 1, y: p.y + 8, width: 7, height: p.h - 16, rx: 3, fill: style.color }));
    }
    let ty = p.y + PAD;
    if (n.rule !== undefined || silent !== null) {
      const tag = [n.rule === undefined ? '' : `rule ${n.rule}`, silent === null ? '' : `◆ silent · ${ruleTag(silent) || 'see the rules'}`].filter((x) => x !== '').join('   ');
      const t = s('text', { x: p.x + PAD + (isOutcome ? 6 : 0), y: ty + 12, 'font-size': 12.5, 'font-weight': 600, fill: final ? ink : silent !== null ? SILENT_COLOR : '#505a5f', 'letter-spacing': 0.3 });
      t.textContent = tag;
      if (silent !== null) t.append(s('title', {}, `Where the chart is silent: ${silent}`));
      g.append(t);
      ty += 17;
    }
    p.labelLines.forEach((line, i) => {
      const t = s('text', { x: p.x + p.w / 2 + (isOutcome ? 3 : 0), y: ty + (i + 1) * LINE - 4, 'text-anchor': 'middle', 'font-size': LABEL_FONT, 'font-weight': 700, fill: ink });
      t.textContent = line;
      g.append(t);
    });
    ty += p.labelLines.length * LINE;
    if (p.annotationLines.length > 0) {
      g.append(s('line', { x1: p.x + 8, x2: p.x + p.w - 8, y1: ty + 4, y2: ty + 4, stroke: final ? ink : '#9aa5b1', 'stroke-width': 1 }));
      const ann = s('g', { class: 'annotation', 'data-annotation-for': n.id });
      p.annotationLines.forEach((line, i) => {
        const t = s('text', { x: p.x + PAD, y: ty + 8 + (i + 1) * ANNOT_LINE - 4, 'font-size': ANNOT_FONT, 'font-weight': 600, fill: final ? ink : '#0b3558' });
        t.textContent = line;
        ann.append(t);
      });
      g.append(ann);
    }
    if (step !== undefined) {
      g.append(s('circle', { cx: p.x + 2, cy: p.y + 2, r: 13, fill: PATH_COLOR, stroke: '#ffffff', 'stroke-width': 2 }));
      const t = s('text', { x: p.x + 2, y: p.y + 7, 'text-anchor': 'middle', 'font-size': 13, 'font-weight': 700, fill: '#ffffff' });
      t.textContent = String(step);
      g.append(t);
    }
    if (silent !== null) g.append(s('title', {}, `${n.label}. Where the chart is silent: ${silent}`));
    nodeLayer.append(g);
  }
  svg.append(nodeLayer, labelLayer);
  return svg;
}

/** Every place the printed chart is silent, with the rules that resolve it (for the list under the chart). */
export function silentPlaces(file: PathwayFileView): { id: string; kind: 'node' | 'edge'; name: string; text: string; rules: string[] }[] {
  const nodes = new Map(file.graph.nodes.map((n) => [n.id, n]));
  const out: { id: string; kind: 'node' | 'edge'; name: string; text: string; rules: string[] }[] = [];
  for (const n of file.graph.nodes) {
    const t = silentText(n);
    if (t !== null) out.push({ id: n.id, kind: 'node', name: n.label, text: t, rules: rulesIn(t) });
  }
  for (const e of file.graph.edges) {
    const t = silentText(e);
    if (t !== null) out.push({ id: e.id, kind: 'edge', name: `${nodes.get(e.from)?.label ?? e.from} → ${e.label}`, text: t, rules: rulesIn(t) });
  }
  return out;
}
