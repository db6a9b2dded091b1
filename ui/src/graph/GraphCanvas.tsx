// The graph on a canvas: pan (drag), zoom (wheel, +/-), fit (0), select (click), focus (double-click),
// collapse a cluster (click its title). Everything heavy happened in the worker; drawing culls to the
// viewport and drops labels when zoomed out, so 5,000 nodes pan smoothly.
import { useEffect, useMemo, useRef } from "preact/hooks";
import { drawScene, fitView, readPalette, type Palette, type View } from "./draw";
import type { LaidNode, Layout } from "./layout";

export interface CanvasProps {
  layout: Layout;
  selected: string | null;
  lit: Set<string> | null;
  /** Changing this centres the view on `selected` (a search, a finding click). */
  centreNonce: number;
  /** Changing this fits the whole layout. */
  fitNonce: number;
  onSelect: (id: string | null) => void;
  onOpen: (id: string) => void;
  onToggleCluster: (key: string) => void;
  /** When the view started asking for this layout (performance.now()): the first frame of a new
   * layout records how long the graph took to become interactive. */
  startedAt: number;
}

export function GraphCanvas(props: CanvasProps) {
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const view = useRef<View>({ x: 0, y: 0, k: 1 });
  const size = useRef({ w: 800, h: 600 });
  const palette = useRef<Palette | null>(null);
  const frame = useRef(0);
  const firstFrame = useRef(true);
  const latest = useRef(props);
  latest.current = props;

  const byId = useMemo(() => new Map<string, LaidNode>(props.layout.nodes.map((n) => [n.id, n])), [props.layout]);
  // A frame scheduled by an earlier render must draw the newest layout with its own index.
  const byIdRef = useRef(byId);
  byIdRef.current = byId;

  const redraw = () => {
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      const c = canvas.current;
      const ctx = c?.getContext("2d");
      if (!c || !ctx) return;
      const dpr = window.devicePixelRatio || 1;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      palette.current ??= readPalette();
      const p = latest.current;
      const t0 = performance.now();
      drawScene(ctx, p.layout, byIdRef.current, view.current, palette.current, {
        selected: p.selected,
        lit: p.lit,
        width: size.current.w,
        height: size.current.h,
      });
      const t1 = performance.now();
      c.dataset.drawMs = (t1 - t0).toFixed(2);
      c.dataset.drawn = String(Number(c.dataset.drawn ?? "0") + 1);
      if (firstFrame.current) {
        firstFrame.current = false;
        c.dataset.readyMs = (t1 - p.startedAt).toFixed(1);
      }
    });
  };

  // Size the canvas to its box.
  useEffect(() => {
    const el = wrap.current;
    const c = canvas.current;
    if (!el || !c) return;
    const ro = new ResizeObserver(() => {
      const dpr = window.devicePixelRatio || 1;
      size.current = { w: el.clientWidth, h: el.clientHeight };
      c.width = Math.max(1, Math.round(el.clientWidth * dpr));
      c.height = Math.max(1, Math.round(el.clientHeight * dpr));
      c.style.width = `${el.clientWidth}px`;
      c.style.height = `${el.clientHeight}px`;
      redraw();
    });
    ro.observe(el);
    const scheme = window.matchMedia("(prefers-color-scheme: dark)");
    const onScheme = () => {
      palette.current = null;
      redraw();
    };
    scheme.addEventListener("change", onScheme);
    return () => {
      ro.disconnect();
      scheme.removeEventListener("change", onScheme);
    };
  }, []);

  // A new layout fits itself; so does an explicit fit.
  useEffect(() => {
    view.current = fitView(props.layout, size.current.w, size.current.h);
    firstFrame.current = true;
    redraw();
  }, [props.layout]);

  useEffect(() => {
    view.current = fitView(props.layout, size.current.w, size.current.h);
    redraw();
  }, [props.fitNonce]);

  useEffect(() => {
    const n = props.selected ? byId.get(props.selected) : undefined;
    if (n && props.centreNonce > 0) {
      const k = Math.max(view.current.k, 0.9);
      view.current = { k, x: size.current.w / 2 - (n.x + n.w / 2) * k, y: size.current.h / 2 - (n.y + n.h / 2) * k };
    }
    redraw();
  }, [props.centreNonce]);

  useEffect(redraw, [props.selected, props.lit, byId]);

  const toWorld = (e: { clientX: number; clientY: number }) => {
    const r = canvas.current?.getBoundingClientRect();
    const v = view.current;
    const sx = e.clientX - (r?.left ?? 0);
    const sy = e.clientY - (r?.top ?? 0);
    return { sx, sy, x: (sx - v.x) / v.k, y: (sy - v.y) / v.k };
  };
  const nodeAt = (x: number, y: number) =>
    props.layout.nodes.find((n) => x >= n.x && x <= n.x + n.w && y >= n.y && y <= n.y + n.h);
  const headerAt = (x: number, y: number) =>
    props.layout.boxes.find((b) => x >= b.x && x <= b.x + b.w && y >= b.y && y <= b.y + 22);

  const zoomAt = (sx: number, sy: number, factor: number) => {
    const v = view.current;
    const k = Math.min(4, Math.max(0.02, v.k * factor));
    view.current = { k, x: sx - ((sx - v.x) * k) / v.k, y: sy - ((sy - v.y) * k) / v.k };
    redraw();
  };

  const drag = useRef<{ x: number; y: number; moved: boolean } | null>(null);
  const onPointerDown = (e: PointerEvent) => {
    drag.current = { x: e.clientX, y: e.clientY, moved: false };
    (e.target as Element).setPointerCapture?.(e.pointerId);
  };
  const onPointerMove = (e: PointerEvent) => {
    const d = drag.current;
    if (!d) return;
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (!d.moved && Math.abs(dx) + Math.abs(dy) < 3) return;
    d.moved = true;
    d.x = e.clientX;
    d.y = e.clientY;
    view.current = { ...view.current, x: view.current.x + dx, y: view.current.y + dy };
    redraw();
  };
  const onPointerUp = (e: PointerEvent) => {
    const d = drag.current;
    drag.current = null;
    if (d?.moved) return;
    const w = toWorld(e);
    const n = nodeAt(w.x, w.y);
    if (n) {
      props.onSelect(n.id);
      return;
    }
    const b = headerAt(w.x, w.y);
    if (b) props.onToggleCluster(b.key);
    else props.onSelect(null);
  };
  const onDblClick = (e: MouseEvent) => {
    const w = toWorld(e);
    const n = nodeAt(w.x, w.y);
    if (n) props.onOpen(n.id);
  };
  const onWheel = (e: WheelEvent) => {
    e.preventDefault();
    const w = toWorld(e);
    zoomAt(w.sx, w.sy, Math.exp(-e.deltaY * 0.0015));
  };
  const onKey = (e: KeyboardEvent) => {
    const step = 60;
    const v = view.current;
    const pan = (dx: number, dy: number) => {
      view.current = { ...v, x: v.x + dx, y: v.y + dy };
      redraw();
    };
    switch (e.key) {
      case "+":
      case "=":
        zoomAt(size.current.w / 2, size.current.h / 2, 1.25);
        break;
      case "-":
        zoomAt(size.current.w / 2, size.current.h / 2, 0.8);
        break;
      case "0":
        view.current = fitView(props.layout, size.current.w, size.current.h);
        redraw();
        break;
      case "ArrowLeft":
        pan(step, 0);
        break;
      case "ArrowRight":
        pan(-step, 0);
        break;
      case "ArrowUp":
        pan(0, step);
        break;
      case "ArrowDown":
        pan(0, -step);
        break;
      case "Escape":
        props.onSelect(null);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  return (
    <div class="graph-canvas" ref={wrap}>
      <canvas
        ref={canvas}
        tabIndex={0}
        aria-label="Dependency graph: drag to pan, wheel or +/- to zoom, 0 to fit, click to select, double-click to focus"
        data-testid="graph-canvas"
        data-nodes={props.layout.nodes.length}
        data-edges={props.layout.edges.length}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onDblClick={onDblClick}
        onWheel={onWheel}
        onKeyDown={onKey}
      />
    </div>
  );
}
