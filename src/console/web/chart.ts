/**
 * The pathway chart, drawn as SVG from the pathway file's graph: nothing about any one pathway is written
 * here, so every pathway file the service runs is drawn the same way.
 *
 * Layout: @dagrejs/dagre (a layered graph layout: ranks, crossing reduction, coordinates, edge routes),
 * served by the service from node_modules. Parallel edges (several branches between the same two
 * nodes) are one connector carrying every branch's label, stacked; dagre places each label as a node
 * of its own, so labels overlap neither nodes nor each other. Text is measured with the page's own
 * font (a canvas), so boxes fit their text. The path the decision took (Decision.path) is drawn thick
 * and numbered, each decision point on it carries the values used (the API's annotations), and every
 * node or branch where the printed chart is silent (`silent` in the file) carries a ◆ and the rule
 * that resolves it. The SVG has a viewBox: the page scales it to its container (or shows it full size).
 */
import type { DecisionView, GraphEdgeView, GraphNodeView, PathwayFileView } from './api-types.js';
import dagre, { type EdgeLabel, type GraphLabel, type NodeLabel } from './vendor/dagre.esm.js';
import { basisPath, FONT, measure, wrapText } from './chart-geometry.js';
import { OUTCOME_STYLE, rulesIn, s } from './dom.js';

interface Placed {
  readonly node: GraphNodeView;
  /** Top-left corner. */
  x: number;
  y: number;
  readonly w: number;
  readonly h: number;
  readonly tagLines: readonly string[];
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
  /** Top-left corner. */
  x: number;
  y: number;
  readonly w: number;
  readonly h: number;
}

const LABEL_FONT = 15;
const ANNOT_FONT = 13.5;
const EDGE_FONT = 13.5;
const TAG_FONT = 12.5;
const LINE = 19;
const ANNOT_LINE = 17.5;
const EDGE_LINE = 18;
const DECISION_W = 224;
const OUTCOME_W = 138;
const LABEL_WRAP = 124;
const TAG_LINE = 16;
/** Room at the left of each node's text for the step number (drawn inside the box, top left). */
const BADGE = 20;
const PAD = 10;
const MARGIN = 18;
const PATH_COLOR = '#0b3558';
const IDLE_STROKE = '#6f777b';
const SILENT_COLOR = '#7a5000';

export function silentText(x: { readonly silent?: string }): string | null {
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

  // Groups of parallel edges, in file order.
  const groups: Group[] = [];
  for (const e of file.graph.edges) {
    const g = groups.find((x) => x.from === e.from && x.to === e.to);
    if (g === undefined) groups.push({ from: e.from, to: e.to, edges: [e] });
    else (g.edges as GraphEdgeView[]).push(e);
  }

  // Node boxes, sized to their measured text.
  const nodes = new Map(file.graph.nodes.map((n) => [n.id, n]));
  const placed = new Map<string, Placed>();
  for (const n of file.graph.nodes) {
    const w = n.kind === 'outcome' ? OUTCOME_W : DECISION_W;
    const inner = w - 2 * PAD - BADGE - (n.kind === 'outcome' ? 6 : 0);
    const labelLines = wrapText(n.label, inner, LABEL_FONT, 700);
    const annotationLines = (opts.annotations?.[n.id] ?? []).flatMap((a) => wrapText(`▸ ${a}`, inner, ANNOT_FONT, 600));
    const silent = silentText(n);
    const tag = [n.rule === undefined ? '' : `rule ${n.rule}`, silent === null ? '' : `◆ silent · ${ruleTag(silent) || 'see the rules'}`].filter((x) => x !== '').join('  ');
    const tagLines = tag === '' ? [] : wrapText(tag, inner, TAG_FONT, 600);
    const h = PAD + tagLines.length * TAG_LINE + labelLines.length * LINE + (annotationLines.length > 0 ? 10 + annotationLines.length * ANNOT_LINE : 0) + PAD;
    placed.set(n.id, { node: n, x: 0, y: 0, w, h, tagLines, labelLines, annotationLines });
  }

  // Labels of each group: every branch's label, long ones wrapped.
  const labels = groups.map((g): LabelBox => {
    const lines = g.edges
      .filter((e) => e.label !== '' || silentText(e) !== null)
      .flatMap((e) => {
        const silent = silentText(e);
        const tag = silent === null ? '' : ruleTag(silent);
        const text = `${silent === null ? '' : '◆ '}${e.label}${tag === '' ? '' : ` · ${tag}`}`;
        return wrapText(text, LABEL_WRAP, EDGE_FONT, 700).map((t) => ({ text: t, edge: e }));
      });
    const w = lines.length === 0 ? 0 : Math.ceil(Math.max(...lines.map((l) => measure(l.text, EDGE_FONT, 700)))) + 16;
    return { group: g, lines, x: 0, y: 0, w, h: lines.length === 0 ? 0 : lines.length * EDGE_LINE + 8 };
  });

  // The layout: dagre ranks the graph top to bottom and places nodes, labels and edge routes.
  const g = new dagre.graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 14, edgesep: 10, ranksep: 22, marginx: MARGIN, marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  for (const p of placed.values()) g.setNode(p.node.id, { width: p.w, height: p.h });
  labels.forEach((l, i) => g.setEdge(l.group.from, l.group.to, { width: l.w, height: l.h, labelpos: 'c', minlen: 1 }, `g${i}`));
  dagre.layout(g);
  for (const p of placed.values()) {
    const n = g.node(p.node.id);
    p.x = (n.x ?? 0) - p.w / 2;
    p.y = (n.y ?? 0) - p.h / 2;
  }
  const routes = new Map<Group, { x: number; y: number }[]>();
  labels.forEach((l, i) => {
    const e = g.edge(l.group.from, l.group.to, `g${i}`);
    l.x = (e.x ?? 0) - l.w / 2;
    l.y = (e.y ?? 0) - l.h / 2;
    routes.set(l.group, e.points ?? []);
  });
  const graph = g.graph();
  const width = Math.ceil(graph.width ?? 0);
  const height = Math.ceil(graph.height ?? 0);

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
    viewBox: `0 0 ${width} ${height}`,
    // Its natural size; the page's CSS scales it down to fit its container (height follows the viewBox).
    width,
    height,
    preserveAspectRatio: 'xMidYMin meet',
    role: 'img',
    'aria-labelledby': 'chart-title chart-desc',
    class: 'pathway-chart',
    'font-family': FONT,
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
    defs.append(s('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerUnits: 'userSpaceOnUse', markerWidth: 12, markerHeight: 12, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', fill: color })));
  }
  svg.append(defs);

  const edgeLayer = s('g', { class: 'edges' });
  const groupOnPath = (g: Group): boolean => g.edges.some((e) => pathEdges.has(e.id));
  for (const g of [...groups].sort((a, b) => Number(groupOnPath(a)) - Number(groupOnPath(b)))) {
    const route = routes.get(g);
    if (route === undefined || route.length < 2) continue;
    const on = groupOnPath(g);
    const silent = g.edges.some((e) => silentText(e) !== null);
    edgeLayer.append(
      s('path', {
        d: basisPath(route),
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
    g.append(s('rect', { x: l.x, y: l.y, width: l.w, height: l.h, fill: '#ffffff', stroke: '#b1b4b6', rx: 3, class: 'label-box' }));
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
        class: 'node-box',
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
    p.tagLines.forEach((line) => {
      const t = s('text', { x: p.x + PAD + BADGE + (isOutcome ? 6 : 0), y: ty + 12, 'font-size': TAG_FONT, 'font-weight': 600, fill: final ? ink : silent !== null ? SILENT_COLOR : '#505a5f' });
      t.textContent = line;
      if (silent !== null) t.append(s('title', {}, `Where the chart is silent: ${silent}`));
      g.append(t);
      ty += TAG_LINE;
    });
    p.labelLines.forEach((line, i) => {
      const t = s('text', { x: p.x + PAD + BADGE + (isOutcome ? 6 : 0) + (p.w - 2 * PAD - BADGE - (isOutcome ? 6 : 0)) / 2, y: ty + (i + 1) * LINE - 4, 'text-anchor': 'middle', 'font-size': LABEL_FONT, 'font-weight': 700, fill: ink });
      t.textContent = line;
      g.append(t);
    });
    ty += p.labelLines.length * LINE;
    if (p.annotationLines.length > 0) {
      g.append(s('line', { x1: p.x + 8, x2: p.x + p.w - 8, y1: ty + 4, y2: ty + 4, stroke: final ? ink : '#9aa5b1', 'stroke-width': 1 }));
      const ann = s('g', { class: 'annotation', 'data-annotation-for': n.id });
      p.annotationLines.forEach((line, i) => {
        const t = s('text', { x: p.x + PAD + BADGE + (isOutcome ? 6 : 0), y: ty + 8 + (i + 1) * ANNOT_LINE - 4, 'font-size': ANNOT_FONT, 'font-weight': 600, fill: final ? ink : '#0b3558' });
        t.textContent = line;
        ann.append(t);
      });
      g.append(ann);
    }
    if (step !== undefined) {
      g.append(s('circle', { cx: p.x + PAD + 8 + (isOutcome ? 6 : 0), cy: p.y + PAD + 9, r: 11, fill: PATH_COLOR, stroke: '#ffffff', 'stroke-width': 1.5 }));
      const t = s('text', { x: p.x + PAD + 8 + (isOutcome ? 6 : 0), y: p.y + PAD + 13.5, 'text-anchor': 'middle', 'font-size': 13, 'font-weight': 700, fill: '#ffffff' });
      t.textContent = String(step);
      g.append(t);
    }
    if (silent !== null) g.append(s('title', {}, `${n.label}. Where the chart is silent: ${silent}`));
    nodeLayer.append(g);
  }
  svg.append(nodeLayer, labelLayer);
  return svg;
}
