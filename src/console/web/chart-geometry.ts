/** Text measured in the chart's font, word wrap to a measured width, and smooth edge routes. */
import { textWidth } from './dom.js';

export const FONT = '"Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", sans-serif';

let canvas: CanvasRenderingContext2D | null | undefined;

/** The width of a text in the chart's font, measured by the browser (an estimate where it cannot). */
export function measure(text: string, size: number, weight: number): number {
  if (canvas === undefined) canvas = document.createElement('canvas').getContext('2d');
  if (canvas === null) return textWidth(text, size, weight >= 700);
  canvas.font = `${weight} ${size}px ${FONT}`;
  return canvas.measureText(text).width;
}

/** Greedy word wrap to a width, measured. */
export function wrapText(text: string, width: number, size: number, weight: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(/\s+/).filter((x) => x !== '')) {
    const next = line === '' ? w : `${line} ${w}`;
    if (line !== '' && measure(next, size, weight) > width) {
      lines.push(line);
      line = w;
    } else line = next;
  }
  if (line !== '') lines.push(line);
  return lines.length === 0 ? [''] : lines;
}

/** A smooth path through dagre's edge points (a uniform B-spline, ending on the first and last point). */
export function basisPath(points: readonly { x: number; y: number }[]): string {
  const p = points;
  const [a, b] = [p[0], p[1]];
  if (a === undefined || b === undefined) return '';
  if (p.length === 2) return `M${a.x},${a.y}L${b.x},${b.y}`;
  let d = `M${a.x},${a.y}L${(5 * a.x + b.x) / 6},${(5 * a.y + b.y) / 6}`;
  for (let i = 2; i < p.length; i++) {
    const p0 = p[i - 2] ?? a;
    const p1 = p[i - 1] ?? a;
    const q = p[i] ?? a;
    d += `C${(2 * p0.x + p1.x) / 3},${(2 * p0.y + p1.y) / 3} ${(p0.x + 2 * p1.x) / 3},${(p0.y + 2 * p1.y) / 3} ${(p0.x + 4 * p1.x + q.x) / 6},${(p0.y + 4 * p1.y + q.y) / 6}`;
  }
  const last = p[p.length - 1] ?? a;
  const prev = p[p.length - 2] ?? a;
  d += `C${(2 * prev.x + last.x) / 3},${(2 * prev.y + last.y) / 3} ${(prev.x + 2 * last.x) / 3},${(prev.y + 2 * last.y) / 3} ${last.x},${last.y}`;
  return d;
}

