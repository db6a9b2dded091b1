// Drawing a laid-out graph: on the screen's canvas, on an offscreen canvas for PNG, and as SVG text.
// One set of colours, edge styles and text rules for all three, so an export looks like the window.
import { fitLabel, labelsOf, type Label, type View } from "./labels";
import { STAGE_HEAD, type Layout, type LaidEdge } from "./layout";

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

export interface DrawOptions {
  /** The unit drawn for the selection (itself or its closed cluster). */
  selected: string | null;
  /** Units to emphasise (the selection's neighbours, a finding's resources); null for none. */
  lit: Set<string> | null;
  /** Screen size in CSS pixels (for culling). */
  width: number;
  height: number;
}

const FAR = 0.3;

function edgeWidth(s: EdgeStyle, count: number): number {
  return s.width + Math.min(3, Math.log2(Math.max(1, count)));
}

export function drawScene(
  ctx: CanvasRenderingContext2D,
  lay: Layout,
  labels: Label[],
  view: View,
  p: Palette,
  o: DrawOptions,
): void {
  ctx.save();
  ctx.fillStyle = p.bg;
  ctx.fillRect(0, 0, o.width, o.height);
  ctx.translate(view.x, view.y);
  ctx.scale(view.k, view.k);
  const k = view.k;
  const vx0 = -view.x / k;
  const vy0 = -view.y / k;
  const vx1 = vx0 + o.width / k;
  const vy1 = vy0 + o.height / k;
  const visible = (x: number, y: number, w: number, h: number) => x + w >= vx0 && x <= vx1 && y + h >= vy0 && y <= vy1;
  const unit = 1 / Math.max(k, 0.35);
  const dim = (id: string) => o.lit !== null && !o.lit.has(id) && id !== o.selected;

  // Stages: alternating bands behind their columns.
  lay.stages.forEach((s, i) => {
    ctx.fillStyle = i % 2 ? p.bg : p.panel;
    ctx.globalAlpha = 0.55;
    ctx.fillRect(s.x - 24, s.y - 8, s.w + 48, s.h + 16);
  });
  ctx.globalAlpha = 1;

  // Open clusters.
  for (const b of lay.boxes) {
    if (!visible(b.x, b.y, b.w, b.h)) continue;
    ctx.fillStyle = p.panel;
    roundRect(ctx, b.x, b.y, b.w, b.h, 8);
    ctx.fill();
    const chosen = o.selected === `cluster:${b.key}`;
    ctx.strokeStyle = chosen ? p.accent : p.line;
    ctx.lineWidth = (chosen ? 3 : 1) * unit;
    ctx.stroke();
    ctx.fillStyle = p.owner[b.owner] ?? p.muted;
    ctx.fillRect(b.x, b.y + 6, 4, b.h - 12);
  }
  ctx.globalAlpha = 1;

  // Edges: one path per kind, strength and width (a stroke per group, not per edge); dimmed when
  // something is selected and they do not touch it; arrowheads when near enough to see them.
  const touches = (e: LaidEdge) => o.selected !== null && (e.from === o.selected || e.to === o.selected);
  const groups = new Map<string, { path: Path2D; heads: Path2D; style: EdgeStyle; strong: boolean; width: number }>();
  const arrows = k > 0.45;
  for (const e of lay.edges) {
    const pts = e.points;
    if (pts.length < 4) continue;
    let x0 = Infinity;
    let y0 = Infinity;
    let x1 = -Infinity;
    let y1 = -Infinity;
    for (let i = 0; i < pts.length; i += 2) {
      x0 = Math.min(x0, pts[i]!);
      x1 = Math.max(x1, pts[i]!);
      y0 = Math.min(y0, pts[i + 1]!);
      y1 = Math.max(y1, pts[i + 1]!);
    }
    if (!visible(x0, y0, x1 - x0, y1 - y0)) continue;
    const style = EDGE_STYLES[e.kind] ?? EDGE_STYLES["in-api"]!;
    const strong = touches(e);
    const width = edgeWidth(style, e.count);
    const key = `${e.kind}|${strong}|${width}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { path: new Path2D(), heads: new Path2D(), style, strong, width }));
    g.path.moveTo(pts[0]!, pts[1]!);
    for (let i = 2; i < pts.length; i += 2) g.path.lineTo(pts[i]!, pts[i + 1]!);
    if (arrows || strong) {
      const n = pts.length;
      const ex = pts[n - 2]!;
      const ey = pts[n - 1]!;
      const ang = Math.atan2(ey - pts[n - 3]!, ex - pts[n - 4]!);
      const len = 7 * unit;
      g.heads.moveTo(ex, ey);
      g.heads.lineTo(ex - len * Math.cos(ang - 0.45), ey - len * Math.sin(ang - 0.45));
      g.heads.lineTo(ex - len * Math.cos(ang + 0.45), ey - len * Math.sin(ang + 0.45));
      g.heads.closePath();
    }
  }
  const dimAll = o.selected !== null || o.lit !== null;
  ctx.lineJoin = "round";
  for (const g of [...groups.values()].sort((a, b) => Number(a.strong) - Number(b.strong))) {
    ctx.globalAlpha = g.strong ? 1 : dimAll ? 0.15 : 0.8;
    ctx.strokeStyle = g.style.colour(p);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.lineWidth = (g.strong ? g.width + 1 : g.width) * unit;
    ctx.setLineDash(g.style.dash.map((d) => d * unit));
    ctx.stroke(g.path);
    ctx.setLineDash([]);
    ctx.fill(g.heads);
  }
  ctx.globalAlpha = 1;

  // Units. Far out: one fill per owner colour. Near: cards.
  if (k < FAR) {
    const fills = new Map<string, Path2D>();
    const dims = new Map<string, Path2D>();
    for (const n of lay.nodes) {
      if (!visible(n.x, n.y, n.w, n.h)) continue;
      const m = dim(n.id) ? dims : fills;
      const colour = p.owner[n.owner] ?? p.muted;
      let path = m.get(colour);
      if (!path) m.set(colour, (path = new Path2D()));
      path.rect(n.x, n.y, n.w, n.h);
    }
    for (const [m, alpha] of [
      [dims, 0.25],
      [fills, 0.85],
    ] as const) {
      ctx.globalAlpha = alpha;
      for (const [colour, path] of m) {
        ctx.fillStyle = colour;
        ctx.fill(path);
      }
    }
    ctx.globalAlpha = 1;
  } else {
    for (const n of lay.nodes) {
      if (!visible(n.x, n.y, n.w, n.h)) continue;
      const colour = p.owner[n.owner] ?? p.muted;
      ctx.globalAlpha = dim(n.id) ? 0.35 : 1;
      ctx.fillStyle = p.panel;
      roundRect(ctx, n.x, n.y, n.w, n.h, n.kind === "resource" ? 5 : 7);
      ctx.fill();
      ctx.strokeStyle = n.owner === "conflict" ? colour : n.kind === "cluster" ? colour : p.line;
      ctx.lineWidth = (n.owner === "conflict" ? 2.5 : n.kind === "cluster" ? 1.5 : 1) * unit;
      ctx.stroke();
      ctx.fillStyle = colour;
      ctx.fillRect(n.x, n.y + 3, n.kind === "cluster" ? 6 : 4, n.h - 6);
    }
  }
  const sel = lay.nodes.find((n) => n.id === o.selected);
  if (sel) {
    ctx.globalAlpha = 1;
    ctx.strokeStyle = p.accent;
    ctx.lineWidth = 3 * unit;
    roundRect(ctx, sel.x - 2 * unit, sel.y - 2 * unit, sel.w + 4 * unit, sel.h + 4 * unit, 8);
    ctx.stroke();
  }

  // Text, at the sizes labels.ts allows.
  let font = "";
  for (const l of labels) {
    if (!visible(l.x, l.y - l.px, l.maxW, l.px * 1.4)) continue;
    const f = fitLabel(l, k);
    if (!f) continue;
    const next = `${l.weight} ${f.px / k}px system-ui, sans-serif`;
    if (next !== font) ctx.font = font = next;
    ctx.globalAlpha = l.owner !== null && dim(l.owner) ? 0.4 : 1;
    ctx.fillStyle = l.muted ? p.muted : p.text;
    ctx.fillText(f.text, l.x, l.y);
  }
  ctx.globalAlpha = 1;
  ctx.restore();

  // Stage and column titles, at a fixed size on screen.
  ctx.save();
  for (const s of lay.stages) {
    const sx = view.x + s.x * k;
    const sw = s.w * k;
    if (sx > o.width || sx + sw < 0) continue;
    ctx.fillStyle = p.text;
    ctx.font = "600 15px system-ui, sans-serif";
    const top = view.y + s.y * k;
    if (top > o.height || top + s.h * k < 0) continue;
    ctx.fillText(`stage ${s.stage}`, Math.max(6, sx), Math.max(top, 0) + 16);
    // Column titles when the stage's head has room for them below its name.
    if (STAGE_HEAD * k < 40) continue;
    ctx.font = "600 10.5px system-ui, sans-serif";
    ctx.fillStyle = p.muted;
    for (const c of s.columns) {
      const text = c.label.toUpperCase();
      const tw = ctx.measureText(text).width;
      if (tw > c.w * k) continue;
      ctx.fillText(text, view.x + c.x * k + (c.w * k - tw) / 2, top + 32);
    }
  }
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

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** The layout as a standalone SVG document, at zoom 1 (every label at its size, cut to its box). */
export function toSvg(lay: Layout, p: Palette): string {
  const pad = 40;
  const top = 40;
  const W = lay.width + 2 * pad;
  const H = lay.height + pad + top;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="${-pad} ${-top} ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif">`,
    `<rect x="${-pad}" y="${-top}" width="${W}" height="${H}" fill="${p.bg}"/>`,
  ];
  lay.stages.forEach((s, i) => {
    out.push(`<rect x="${s.x - 24}" y="${s.y - 8}" width="${s.w + 48}" height="${s.h + 16}" fill="${i % 2 ? p.bg : p.panel}" opacity="0.55"/>`);
    out.push(`<text x="${s.x}" y="${s.y + 16}" font-size="16" font-weight="600" fill="${p.text}">stage ${esc(s.stage)}</text>`);
    for (const c of s.columns) {
      out.push(`<text x="${c.x + c.w / 2}" y="${s.y + STAGE_HEAD - 18}" text-anchor="middle" font-size="10.5" font-weight="600" fill="${p.muted}">${esc(c.label.toUpperCase())}</text>`);
    }
  });
  for (const b of lay.boxes) {
    out.push(`<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="8" fill="${p.panel}" stroke="${p.line}"/>`);
    out.push(`<rect x="${b.x}" y="${b.y + 6}" width="4" height="${b.h - 12}" fill="${p.owner[b.owner] ?? p.muted}"/>`);
  }
  for (const e of lay.edges) {
    const s = EDGE_STYLES[e.kind] ?? EDGE_STYLES["in-api"]!;
    const dash = s.dash.length ? ` stroke-dasharray="${s.dash.join(" ")}"` : "";
    const pts: string[] = [];
    for (let i = 0; i + 1 < e.points.length; i += 2) pts.push(`${e.points[i]},${e.points[i + 1]}`);
    out.push(
      `<polyline points="${pts.join(" ")}" fill="none" stroke="${s.colour(p)}" stroke-width="${edgeWidth(s, e.count)}" stroke-linejoin="round"${dash} opacity="0.85"><title>${esc(e.kind)} ×${e.count}: ${esc(e.evidence)}</title></polyline>`,
    );
  }
  for (const n of lay.nodes) {
    const colour = p.owner[n.owner] ?? p.muted;
    const stroke = n.owner === "conflict" || n.kind === "cluster" ? colour : p.line;
    out.push(
      `<g><title>${esc(n.kind === "cluster" ? `${n.label}: ${n.members ?? 0} resources` : n.id)}</title><rect x="${n.x}" y="${n.y}" width="${n.w}" height="${n.h}" rx="6" fill="${p.panel}" stroke="${stroke}" stroke-width="${n.owner === "conflict" ? 2.5 : 1}"/>` +
        `<rect x="${n.x}" y="${n.y + 3}" width="${n.kind === "cluster" ? 6 : 4}" height="${n.h - 6}" fill="${colour}"/></g>`,
    );
  }
  for (const l of labelsOf(lay)) {
    const f = fitLabel(l, 1);
    if (!f) continue;
    out.push(
      `<text x="${l.x}" y="${l.y}" font-size="${f.px}"${l.weight === 600 ? ' font-weight="600"' : ""} fill="${l.muted ? p.muted : p.text}">${esc(f.text)}</text>`,
    );
  }
  out.push("</svg>");
  return out.join("\n");
}
