// Layout quality as numbers: edge crossings, edges passing through a box that is neither their end
// nor holds one, overlapping boxes, and text too small to draw at Fit. The window publishes them on
// the graph (data-quality) for the GUI test; the layout tests and benchmark compute them directly.
import { fitLabel, fitView, labelsOf } from "./labels";
import type { Layout } from "./layout";

export interface Quality {
  crossings: number;
  edgesThroughBoxes: number;
  overlaps: number;
  /** Labels hidden at Fit because they would be under 9 px (shown on hover instead). */
  hiddenText: number;
  /** Titles and parameter names cut short at Fit. */
  truncatedTitles: number;
  /** The smallest title or parameter name at Fit, in screen pixels (0 when one is hidden). */
  minTitlePx: number;
  /** The zoom at Fit. */
  k: number;
}

interface Rect {
  id: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Polylines as flat x0 y0 x1 y1 … arrays. */
export function crossings(lines: number[][]): number {
  // Segments into a uniform grid; a crossing is counted in the cell that holds its point.
  type Seg = { line: number; x1: number; y1: number; x2: number; y2: number };
  const segs: Seg[] = [];
  lines.forEach((p, line) => {
    for (let i = 0; i + 3 < p.length; i += 2) {
      const s = { line, x1: p[i]!, y1: p[i + 1]!, x2: p[i + 2]!, y2: p[i + 3]! };
      if (s.x1 !== s.x2 || s.y1 !== s.y2) segs.push(s);
    }
  });
  const cell = 120;
  const grid = new Map<string, number[]>();
  segs.forEach((s, i) => {
    const cx0 = Math.floor(Math.min(s.x1, s.x2) / cell);
    const cx1 = Math.floor(Math.max(s.x1, s.x2) / cell);
    const cy0 = Math.floor(Math.min(s.y1, s.y2) / cell);
    const cy1 = Math.floor(Math.max(s.y1, s.y2) / cell);
    for (let cx = cx0; cx <= cx1; cx++) {
      for (let cy = cy0; cy <= cy1; cy++) {
        const k = `${cx},${cy}`;
        const list = grid.get(k);
        if (list) list.push(i);
        else grid.set(k, [i]);
      }
    }
  });
  let n = 0;
  for (const [key, list] of grid) {
    const [cx, cy] = key.split(",").map(Number) as [number, number];
    for (let a = 0; a < list.length; a++) {
      const s = segs[list[a]!]!;
      for (let b = a + 1; b < list.length; b++) {
        const t = segs[list[b]!]!;
        if (s.line === t.line) continue;
        const p = properCrossing(s, t);
        if (p && Math.floor(p[0] / cell) === cx && Math.floor(p[1] / cell) === cy) n++;
      }
    }
  }
  return n;
}

/** The point where two segments cross inside both (touching ends and collinear runs do not count). */
function properCrossing(
  s: { x1: number; y1: number; x2: number; y2: number },
  t: { x1: number; y1: number; x2: number; y2: number },
): [number, number] | null {
  const dx1 = s.x2 - s.x1;
  const dy1 = s.y2 - s.y1;
  const dx2 = t.x2 - t.x1;
  const dy2 = t.y2 - t.y1;
  const den = dx1 * dy2 - dy1 * dx2;
  if (Math.abs(den) < 1e-9) return null;
  const u = ((t.x1 - s.x1) * dy2 - (t.y1 - s.y1) * dx2) / den;
  const v = ((t.x1 - s.x1) * dy1 - (t.y1 - s.y1) * dx1) / den;
  const e = 1e-6;
  if (u <= e || u >= 1 - e || v <= e || v >= 1 - e) return null;
  return [s.x1 + u * dx1, s.y1 + u * dy1];
}

function segmentHitsRect(x1: number, y1: number, x2: number, y2: number, r: Rect): boolean {
  // Liang–Barsky clipping against the rectangle shrunk by a pixel (touching a side is not passing through).
  const xmin = r.x + 1;
  const xmax = r.x + r.w - 1;
  const ymin = r.y + 1;
  const ymax = r.y + r.h - 1;
  let t0 = 0;
  let t1 = 1;
  const dx = x2 - x1;
  const dy = y2 - y1;
  const clip = (p: number, q: number) => {
    if (p === 0) return q >= 0;
    const t = q / p;
    if (p < 0) {
      if (t > t1) return false;
      if (t > t0) t0 = t;
    } else {
      if (t < t0) return false;
      if (t < t1) t1 = t;
    }
    return true;
  };
  return clip(-dx, x1 - xmin) && clip(dx, xmax - x1) && clip(-dy, y1 - ymin) && clip(dy, ymax - y1) && t1 - t0 > 1e-9;
}

function rectsOf(lay: Layout): { rects: Rect[]; parent: Map<string, string> } {
  const rects: Rect[] = [];
  const parent = new Map<string, string>();
  for (const b of lay.boxes) rects.push({ id: `box:${b.key}`, x: b.x, y: b.y, w: b.w, h: b.h });
  for (const n of lay.nodes) {
    rects.push({ id: n.id, x: n.x, y: n.y, w: n.w, h: n.h });
    if (n.kind === "resource") parent.set(n.id, `box:${n.cluster}`);
  }
  return { rects, parent };
}

/** Edges with a segment through a box that is neither an end of the edge nor the open cluster holding one. */
export function edgesThroughBoxes(lay: Layout): number {
  const { rects, parent } = rectsOf(lay);
  const cell = 200;
  const grid = new Map<string, Rect[]>();
  for (const r of rects) {
    for (let cx = Math.floor(r.x / cell); cx <= Math.floor((r.x + r.w) / cell); cx++) {
      for (let cy = Math.floor(r.y / cell); cy <= Math.floor((r.y + r.h) / cell); cy++) {
        const k = `${cx},${cy}`;
        (grid.get(k) ?? grid.set(k, []).get(k)!).push(r);
      }
    }
  }
  let n = 0;
  for (const e of lay.edges) {
    const allowed = new Set([e.from, e.to, parent.get(e.from), parent.get(e.to)]);
    let hit = false;
    const p = e.points;
    for (let i = 0; !hit && i + 3 < p.length; i += 2) {
      const [x1, y1, x2, y2] = [p[i]!, p[i + 1]!, p[i + 2]!, p[i + 3]!];
      for (let cx = Math.floor(Math.min(x1, x2) / cell); !hit && cx <= Math.floor(Math.max(x1, x2) / cell); cx++) {
        for (let cy = Math.floor(Math.min(y1, y2) / cell); !hit && cy <= Math.floor(Math.max(y1, y2) / cell); cy++) {
          for (const r of grid.get(`${cx},${cy}`) ?? []) {
            if (!allowed.has(r.id) && segmentHitsRect(x1, y1, x2, y2, r)) {
              hit = true;
              break;
            }
          }
        }
      }
    }
    if (hit) n++;
  }
  return n;
}

/** Pairs of boxes that overlap, where neither holds the other. */
export function overlaps(lay: Layout): number {
  const { rects, parent } = rectsOf(lay);
  rects.sort((a, b) => a.x - b.x);
  let n = 0;
  for (let i = 0; i < rects.length; i++) {
    const a = rects[i]!;
    for (let j = i + 1; j < rects.length; j++) {
      const b = rects[j]!;
      if (b.x >= a.x + a.w) break;
      if (parent.get(a.id) === b.id || parent.get(b.id) === a.id) continue;
      if (b.y < a.y + a.h && a.y < b.y + b.h) n++;
    }
  }
  return n;
}

export function quality(lay: Layout, screenW: number, screenH: number): Quality {
  const k = fitView(lay, screenW, screenH).k;
  let hiddenText = 0;
  let truncatedTitles = 0;
  let minTitlePx = Infinity;
  for (const l of labelsOf(lay)) {
    const f = fitLabel(l, k);
    if (!f) hiddenText++;
    if (l.role === "body") continue;
    if (f && f.text !== l.text) truncatedTitles++;
    minTitlePx = Math.min(minTitlePx, f ? f.px : 0);
  }
  return {
    crossings: crossings(lay.edges.map((e) => e.points)),
    edgesThroughBoxes: edgesThroughBoxes(lay),
    overlaps: overlaps(lay),
    hiddenText,
    truncatedTitles,
    minTitlePx: minTitlePx === Infinity ? 0 : Math.round(minTitlePx * 10) / 10,
    k: Math.round(k * 1000) / 1000,
  };
}
