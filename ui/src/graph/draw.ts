// Drawing a laid-out graph: on the screen's canvas, on an offscreen canvas for PNG, and as SVG text.
// One set of colours and edge styles for all three, so an export looks like the window.
import { NODE_H, type Layout, type LaidEdge, type LaidNode } from "./layout";

export interface Palette {
  bg: string;
  panel: string;
  text: string;
  muted: string;
  line: string;
  accent: string;
  owner: Record<string, string>;
}

export function readPalette(): Palette {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return {
    bg: v("--bg", "#f6f7f9"),
    panel: v("--panel", "#ffffff"),
    text: v("--text", "#1d2230"),
    muted: v("--muted", "#667085"),
    line: v("--line", "#e3e6ec"),
    accent: v("--accent", "#3b5bdb"),
    owner: {
      terraform: v("--tf", "#7048e8"),
      serverless: v("--sls", "#e8590c"),
      cloudformation: v("--cfn", "#f59f00"),
      unmanaged: v("--muted", "#667085"),
      conflict: v("--err", "#c92a2a"),
    },
  };
}

export interface EdgeStyle {
  colour: (p: Palette) => string;
  dash: number[];
  width: number;
}

/** How each link kind is drawn; the legend shows the same. */
export const EDGE_STYLES: Record<string, EdgeStyle> = {
  "ssm-write": { colour: (p) => p.owner.terraform ?? p.accent, dash: [], width: 2 },
  "ssm-read": { colour: (p) => p.owner.serverless ?? p.accent, dash: [], width: 2 },
  names: { colour: (p) => p.accent, dash: [6, 4], width: 1.5 },
  "attached-policy": { colour: (p) => p.muted, dash: [], width: 1.2 },
  mapping: { colour: (p) => p.accent, dash: [2, 3], width: 1.5 },
  invokes: { colour: (p) => p.muted, dash: [], width: 1.2 },
  "in-api": { colour: (p) => p.line, dash: [], width: 1 },
  integration: { colour: (p) => p.muted, dash: [], width: 1 },
  "execution-role": { colour: (p) => p.muted, dash: [], width: 1 },
  "stack-member": { colour: (p) => p.line, dash: [1, 3], width: 1 },
};

export interface View {
  x: number;
  y: number;
  k: number;
}

export interface DrawOptions {
  selected: string | null;
  /** Nodes to emphasise (the selection's neighbours, a finding's resources); null for none. */
  lit: Set<string> | null;
  /** Screen size in CSS pixels (for culling). */
  width: number;
  height: number;
}

function edgePath(a: LaidNode, b: LaidNode): [number, number, number, number, number, number, number, number] {
  const forward = b.x >= a.x + a.w;
  const backward = b.x + b.w <= a.x;
  if (forward || backward) {
    const x1 = forward ? a.x + a.w : a.x;
    const x2 = forward ? b.x : b.x + b.w;
    const y1 = a.y + a.h / 2;
    const y2 = b.y + b.h / 2;
    const dx = Math.max(40, Math.abs(x2 - x1) / 2) * (forward ? 1 : -1);
    return [x1, y1, x1 + dx, y1, x2 - dx, y2, x2, y2];
  }
  // Same column: leave and enter on the right, bulging outwards.
  const x1 = a.x + a.w;
  const x2 = b.x + b.w;
  const y1 = a.y + a.h / 2;
  const y2 = b.y + b.h / 2;
  const bulge = 30 + Math.min(120, Math.abs(y2 - y1) / 6);
  return [x1, y1, x1 + bulge, y1, x2 + bulge, y2, x2, y2];
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(1, max - 1))}…`;
}

export function drawScene(
  ctx: CanvasRenderingContext2D,
  lay: Layout,
  byId: Map<string, LaidNode>,
  view: View,
  p: Palette,
  o: DrawOptions,
): void {
  ctx.save();
  ctx.fillStyle = p.bg;
  ctx.fillRect(0, 0, o.width, o.height);
  ctx.translate(view.x, view.y);
  ctx.scale(view.k, view.k);
  const vx0 = -view.x / view.k;
  const vy0 = -view.y / view.k;
  const vx1 = vx0 + o.width / view.k;
  const vy1 = vy0 + o.height / view.k;
  const visible = (x: number, y: number, w: number, h: number) => x + w >= vx0 && x <= vx1 && y + h >= vy0 && y <= vy1;
  const labels = view.k * 11 >= 6.5;

  // Lanes: one per stage, with its name and the band titles.
  lay.lanes.forEach((lane, i) => {
    if (!visible(-60, lane.y - 10, lay.width + 120, lane.h + 20)) return;
    ctx.fillStyle = i % 2 ? p.bg : p.panel;
    ctx.globalAlpha = 0.6;
    ctx.fillRect(-40, lane.y - 10, lay.width + 80, lane.h + 20);
    ctx.globalAlpha = 1;
    ctx.fillStyle = p.text;
    ctx.font = "600 16px system-ui, sans-serif";
    ctx.fillText(`stage ${lane.stage}`, -30, lane.y + 12);
    ctx.fillStyle = p.muted;
    ctx.font = "12px system-ui, sans-serif";
    for (const b of lay.bands) ctx.fillText(b.label.toUpperCase(), b.x + 120, lane.y + 12);
  });

  // Cluster boxes.
  for (const b of lay.boxes) {
    if (!visible(b.x, b.y, b.w, b.h)) continue;
    ctx.strokeStyle = p.line;
    ctx.lineWidth = 1 / Math.max(view.k, 0.5);
    ctx.fillStyle = p.panel;
    roundRect(ctx, b.x, b.y, b.w, b.h, 8);
    ctx.fill();
    ctx.stroke();
    if (labels) {
      ctx.fillStyle = p.muted;
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillText(`${b.collapsed ? "▸" : "▾"} ${truncate(b.label, Math.floor(b.w / 6.5) - 6)} (${b.count})`, b.x + 8, b.y + 15);
    }
  }

  // Edges: one path per link kind (a stroke per kind, not per edge), dimmed when something is
  // selected and they do not touch it; arrowheads only when near enough to see them.
  const touches = (e: LaidEdge) => o.selected !== null && (e.from === o.selected || e.to === o.selected);
  const unit = 1 / Math.max(view.k, 0.35);
  const paths = new Map<string, { path: Path2D; heads: Path2D }>();
  const arrows = view.k > 0.6;
  const addEdge = (e: LaidEdge, key: string) => {
    const a = byId.get(e.from);
    const b = byId.get(e.to);
    if (!a || !b) return;
    const minX = Math.min(a.x, b.x) - 150;
    const minY = Math.min(a.y, b.y);
    if (!visible(minX, minY, Math.abs(a.x - b.x) + a.w + 300, Math.abs(a.y - b.y) + NODE_H)) return;
    let entry = paths.get(key);
    if (!entry) paths.set(key, (entry = { path: new Path2D(), heads: new Path2D() }));
    const [x1, y1, c1x, c1y, c2x, c2y, x2, y2] = edgePath(a, b);
    entry.path.moveTo(x1, y1);
    entry.path.bezierCurveTo(c1x, c1y, c2x, c2y, x2, y2);
    if (arrows || key.endsWith("|strong")) {
      const ang = Math.atan2(y2 - c2y, x2 - c2x);
      const len = 7 / Math.max(view.k, 0.5);
      entry.heads.moveTo(x2, y2);
      entry.heads.lineTo(x2 - len * Math.cos(ang - 0.4), y2 - len * Math.sin(ang - 0.4));
      entry.heads.lineTo(x2 - len * Math.cos(ang + 0.4), y2 - len * Math.sin(ang + 0.4));
      entry.heads.closePath();
    }
  };
  for (const e of lay.edges) addEdge(e, `${e.kind}|${touches(e) ? "strong" : "weak"}`);
  const dimAll = o.selected !== null || o.lit !== null;
  for (const [key, { path, heads }] of paths) {
    const [kind, strength] = key.split("|");
    const strong = strength === "strong";
    const s = EDGE_STYLES[kind ?? ""] ?? EDGE_STYLES["in-api"]!;
    ctx.globalAlpha = strong ? 1 : dimAll ? 0.18 : 0.85;
    ctx.strokeStyle = s.colour(p);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.lineWidth = (strong ? s.width + 1 : s.width) * unit;
    ctx.setLineDash(s.dash.map((d) => d * unit));
    ctx.stroke(path);
    ctx.setLineDash([]);
    ctx.fill(heads);
  }
  ctx.globalAlpha = 1;
  ctx.setLineDash([]);

  // Nodes. Far out: plain boxes, one fill per owner colour. Near: cards with labels.
  if (!labels) {
    const fills = new Map<string, Path2D>();
    const dims = new Map<string, Path2D>();
    for (const n of lay.nodes) {
      if (!visible(n.x, n.y, n.w, n.h)) continue;
      const dim = o.lit !== null && !o.lit.has(n.id) && n.id !== o.selected;
      const m = dim ? dims : fills;
      const colour = p.owner[n.owner] ?? p.muted;
      let path = m.get(colour);
      if (!path) m.set(colour, (path = new Path2D()));
      path.rect(n.x, n.y, n.w, n.h);
    }
    for (const [m, alpha] of [
      [dims, 0.25],
      [fills, 0.9],
    ] as const) {
      ctx.globalAlpha = alpha;
      for (const [colour, path] of m) {
        ctx.fillStyle = colour;
        ctx.fill(path);
      }
    }
    ctx.globalAlpha = 1;
    const sel = o.selected ? byId.get(o.selected) : undefined;
    if (sel) {
      ctx.strokeStyle = p.accent;
      ctx.lineWidth = 4 / view.k;
      ctx.strokeRect(sel.x, sel.y, sel.w, sel.h);
    }
    ctx.restore();
    return;
  }
  ctx.font = "11px system-ui, sans-serif";
  for (const n of lay.nodes) {
    if (!visible(n.x, n.y, n.w, n.h)) continue;
    const colour = p.owner[n.owner] ?? p.muted;
    const dim = o.lit !== null && !o.lit.has(n.id) && n.id !== o.selected;
    ctx.globalAlpha = dim ? 0.35 : 1;
    ctx.fillStyle = p.panel;
    roundRect(ctx, n.x, n.y, n.w, n.h, 5);
    ctx.fill();
    ctx.fillStyle = colour;
    ctx.fillRect(n.x, n.y + 2, 4, n.h - 4);
    ctx.strokeStyle = n.id === o.selected ? p.accent : n.owner === "conflict" ? colour : p.line;
    ctx.lineWidth = (n.id === o.selected ? 3 : n.owner === "conflict" ? 2.5 : 1) / Math.max(view.k, 0.5);
    ctx.stroke();
    ctx.fillStyle = p.text;
    ctx.fillText(truncate(n.label, 27), n.x + 10, n.y + 13);
    ctx.fillStyle = p.muted;
    ctx.font = "9px system-ui, sans-serif";
    ctx.fillText(truncate(n.members ? "collapsed cluster" : n.type, 34), n.x + 10, n.y + 25);
    ctx.font = "11px system-ui, sans-serif";
  }
  ctx.globalAlpha = 1;
  ctx.restore();
}

function roundRect(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number, r: number): void {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}

/** The view that fits the whole layout (or one box) into a w×h screen. */
export function fitView(lay: Layout, w: number, h: number): View {
  const margin = 60;
  const k = Math.min(1.2, (w - margin) / (lay.width + 80), (h - margin) / (lay.height + 40));
  return { k, x: (w - lay.width * k) / 2, y: Math.max(margin / 2, (h - lay.height * k) / 2) };
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** The layout as a standalone SVG document. */
export function toSvg(lay: Layout, byId: Map<string, LaidNode>, p: Palette): string {
  const pad = 50;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="${-pad} ${-pad} ${lay.width + 2 * pad} ${lay.height + 2 * pad}" width="${lay.width + 2 * pad}" height="${lay.height + 2 * pad}" font-family="system-ui, sans-serif">`,
    `<rect x="${-pad}" y="${-pad}" width="${lay.width + 2 * pad}" height="${lay.height + 2 * pad}" fill="${p.bg}"/>`,
  ];
  for (const lane of lay.lanes) {
    out.push(`<text x="-30" y="${lane.y + 12}" font-size="16" font-weight="600" fill="${p.text}">stage ${esc(lane.stage)}</text>`);
  }
  for (const b of lay.boxes) {
    out.push(`<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="8" fill="${p.panel}" stroke="${p.line}"/>`);
    out.push(`<text x="${b.x + 8}" y="${b.y + 15}" font-size="11" fill="${p.muted}">${esc(b.label)} (${b.count})</text>`);
  }
  for (const e of lay.edges) {
    const a = byId.get(e.from);
    const b = byId.get(e.to);
    if (!a || !b) continue;
    const s = EDGE_STYLES[e.kind] ?? EDGE_STYLES["in-api"]!;
    const [x1, y1, c1x, c1y, c2x, c2y, x2, y2] = edgePath(a, b);
    const dash = s.dash.length ? ` stroke-dasharray="${s.dash.join(" ")}"` : "";
    out.push(
      `<path d="M${x1} ${y1} C${c1x} ${c1y} ${c2x} ${c2y} ${x2} ${y2}" fill="none" stroke="${s.colour(p)}" stroke-width="${s.width}"${dash} opacity="0.85"><title>${esc(e.kind)}: ${esc(e.evidence)}</title></path>`,
    );
  }
  for (const n of lay.nodes) {
    const colour = p.owner[n.owner] ?? p.muted;
    out.push(
      `<g><title>${esc(n.id)}</title><rect x="${n.x}" y="${n.y}" width="${n.w}" height="${n.h}" rx="5" fill="${p.panel}" stroke="${n.owner === "conflict" ? colour : p.line}" stroke-width="${n.owner === "conflict" ? 2.5 : 1}"/>` +
        `<rect x="${n.x}" y="${n.y + 2}" width="4" height="${n.h - 4}" fill="${colour}"/>` +
        `<text x="${n.x + 10}" y="${n.y + 13}" font-size="11" fill="${p.text}">${esc(truncate(n.label, 27))}</text>` +
        `<text x="${n.x + 10}" y="${n.y + 25}" font-size="9" fill="${p.muted}">${esc(truncate(n.type, 34))}</text></g>`,
    );
  }
  out.push("</svg>");
  return out.join("\n");
}
