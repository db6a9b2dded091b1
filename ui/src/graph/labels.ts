// The text of a laid-out graph and the rule for drawing it at a zoom: text is drawn at its size on
// screen when that is at least 9 px; titles and parameter names, which say what a box is, are held
// at 10 px when they shrink below it (truncated to their box) as long as their box has the room;
// anything else is hidden, and the window shows it on hover. The drawing and the quality measure
// both read this, so what the measure counts is what the user sees.
import { TEXT, type Layout } from "./layout";

export const MIN_PX = 9;
const FLOOR_PX = 10;

export interface Label {
  /** The unit the text belongs to (dimmed with it), or null for an open cluster's title. */
  owner: string | null;
  text: string;
  /** Left end of the baseline, in world units. */
  x: number;
  y: number;
  /** The width it may take, in world units. */
  maxW: number;
  /** Font size in world units. */
  px: number;
  /** Height of the room it has (world units): a held title needs 10 px of it on screen. */
  room: number;
  role: "title" | "name" | "body";
  weight: 400 | 600;
  muted: boolean;
}

export function labelsOf(lay: Layout): Label[] {
  const out: Label[] = [];
  for (const b of lay.boxes) {
    out.push({
      owner: null,
      text: `▾ ${b.label} · ${b.count}`,
      x: b.x + 12,
      y: b.y + 19,
      maxW: b.w - 20,
      px: TEXT.title,
      room: 30,
      role: "title",
      weight: 600,
      muted: false,
    });
  }
  for (const n of lay.nodes) {
    if (n.kind === "cluster") {
      out.push({ owner: n.id, text: `▸ ${n.label}`, x: n.x + 12, y: n.y + 18, maxW: n.w - 18, px: TEXT.title, room: n.h, role: "title", weight: 600, muted: false });
      (n.counts ?? []).forEach((line, i) =>
        out.push({ owner: n.id, text: line, x: n.x + 12, y: n.y + 24 + i * 16 + 13, maxW: n.w - 18, px: TEXT.body, room: 16, role: "body", weight: 400, muted: true }),
      );
    } else if (n.kind === "param") {
      out.push({ owner: n.id, text: n.label, x: n.x + 12, y: n.y + 19, maxW: n.w - 16, px: TEXT.param, room: n.h + 10, role: "name", weight: 400, muted: false });
    } else {
      out.push({ owner: n.id, text: n.label, x: n.x + 10, y: n.y + 13, maxW: n.w - 14, px: TEXT.resource, room: 14, role: "body", weight: 400, muted: false });
      out.push({ owner: n.id, text: n.type, x: n.x + 10, y: n.y + 25, maxW: n.w - 14, px: TEXT.type, room: 10, role: "body", weight: 400, muted: true });
    }
  }
  return out;
}

/** Average glyph width of system-ui as a share of the font size. */
export const GLYPH = 0.58;

/** How a label is drawn at zoom k: its size on screen and its (possibly truncated) text; null when hidden. */
export function fitLabel(l: Label, k: number): { px: number; text: string } | null {
  let px = l.px * k;
  if (px < MIN_PX) {
    if (l.role === "body" || l.room * k < FLOOR_PX) return null;
    px = FLOOR_PX;
  }
  const chars = Math.floor((l.maxW * k) / (px * GLYPH));
  if (chars >= l.text.length) return { px, text: l.text };
  if (chars < 4) return null;
  return { px, text: `${l.text.slice(0, chars - 1)}…` };
}

export interface View {
  x: number;
  y: number;
  k: number;
}

const FIT_MARGIN = 24;

/** The view that fits the whole layout into a w×h screen: the tighter axis filled but for a margin,
 * the other centred. */
export function fitView(lay: Layout, w: number, h: number): View {
  const k = Math.max(0.01, Math.min(1.6, (w - 2 * FIT_MARGIN) / Math.max(1, lay.width), (h - 2 * FIT_MARGIN) / Math.max(1, lay.height)));
  return { k, x: (w - lay.width * k) / 2, y: (h - lay.height * k) / 2 };
}
