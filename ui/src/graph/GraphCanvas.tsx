// The graph on a canvas: pan (drag), zoom (wheel, +/-), fit (0), select (click), open a cluster
// (click it; click an open cluster's title to close it), focus (double-click), names on hover.
// Everything heavy happened in the worker; drawing culls to the viewport and hides text too small to
// read, so 5,000 nodes pan smoothly.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { drawScene, readPalette, type Palette } from "./draw";
import { fitView, labelsOf, type View } from "./labels";
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
  onOpenCluster: (key: string) => void;
  onCloseCluster: (key: string) => void;
  /** A cluster just opened or closed: the new layout keeps it where it was on screen instead of fitting. */
  anchor: string | null;
  /** When the view started asking for this layout (performance.now()): the first frame of a new
   * layout records how long the graph took to become interactive. */
  startedAt: number;
}

export function GraphCanvas(props: CanvasProps) {
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const view = useRef<View>({ x: 0, y: 0, k: 1 });
  const size = useRef({ w: 800, h: 600 });
  /** The view is the fitted one (not panned or zoomed since). */
  const fitted = useRef(true);
  const fit = () => {
    // The box's size now: the layout may arrive before the first resize notice.
    const el = wrap.current;
    if (el && el.clientWidth > 0) size.current = { w: el.clientWidth, h: el.clientHeight };
    view.current = fitView(latest.current.layout, size.current.w, size.current.h);
    fitted.current = true;
  };
  const palette = useRef<Palette | null>(null);
  const frame = useRef(0);
  const firstFrame = useRef(true);
  const latest = useRef(props);
  latest.current = props;

  const byId = useMemo(() => new Map<string, LaidNode>(props.layout.nodes.map((n) => [n.id, n])), [props.layout]);
  const labels = useMemo(() => labelsOf(props.layout), [props.layout]);
  // A frame scheduled by an earlier render must draw the newest layout with its own labels.
  const labelsRef = useRef(labels);
  labelsRef.current = labels;
  const previous = useRef<Layout | null>(null);
  const [tip, setTip] = useState<{ x: number; y: number; text: string } | null>(null);
  // The selection and the lit set are resource ids; what is drawn may be their closed cluster.
  const drawn = (id: string) => props.layout.drawnAs[id] ?? id;
  const selectedUnit = props.selected ? drawn(props.selected) : null;
  const litUnits = useMemo(
    () => (props.lit ? new Set([...props.lit].map((id) => props.layout.drawnAs[id] ?? id)) : null),
    [props.lit, props.layout],
  );
  const drawState = useRef({ selectedUnit, litUnits });
  drawState.current = { selectedUnit, litUnits };

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
      drawScene(ctx, p.layout, labelsRef.current, view.current, palette.current, {
        selected: drawState.current.selectedUnit,
        lit: drawState.current.litUnits,
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
      // A fitted view stays fitted as the window changes size.
      if (fitted.current) fit();
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

  // A new layout fits itself, unless a cluster was opened or closed: then that cluster stays put.
  useEffect(() => {
    const old = previous.current;
    previous.current = props.layout;
    const a = props.anchor;
    const before = a && old ? anchorAt(old, a) : null;
    const after = a ? anchorAt(props.layout, a) : null;
    if (before && after) {
      const v = view.current;
      view.current = { k: v.k, x: v.x + (before.x - after.x) * v.k, y: v.y + (before.y - after.y) * v.k };
      fitted.current = false;
    } else {
      fit();
    }
    firstFrame.current = true;
    redraw();
  }, [props.layout]);

  useEffect(() => {
    fit();
    redraw();
  }, [props.fitNonce]);

  // Centre on the selection when asked, once what it is drawn as is in the layout (an opened
  // cluster's resource arrives with the next layout).
  const centred = useRef(0);
  useEffect(() => {
    const n = selectedUnit ? byId.get(selectedUnit) : undefined;
    if (n && props.centreNonce > centred.current) {
      centred.current = props.centreNonce;
      const k = Math.max(view.current.k, 0.9);
      view.current = { k, x: size.current.w / 2 - (n.x + n.w / 2) * k, y: size.current.h / 2 - (n.y + n.h / 2) * k };
      fitted.current = false;
    }
    redraw();
  }, [props.centreNonce, byId, selectedUnit]);

  useEffect(redraw, [props.selected, litUnits, byId]);

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
    props.layout.boxes.find((b) => x >= b.x && x <= b.x + b.w && y >= b.y && y <= b.y + 28);

  const zoomAt = (sx: number, sy: number, factor: number) => {
    const v = view.current;
    const k = Math.min(4, Math.max(0.02, v.k * factor));
    view.current = { k, x: sx - ((sx - v.x) * k) / v.k, y: sy - ((sy - v.y) * k) / v.k };
    fitted.current = false;
    redraw();
  };

  const drag = useRef<{ x: number; y: number; moved: boolean } | null>(null);
  const onPointerDown = (e: PointerEvent) => {
    drag.current = { x: e.clientX, y: e.clientY, moved: false };
    (e.target as Element).setPointerCapture?.(e.pointerId);
  };
  const onPointerMove = (e: PointerEvent) => {
    const d = drag.current;
    if (!d) {
      hover(e);
      return;
    }
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (!d.moved && Math.abs(dx) + Math.abs(dy) < 3) return;
    d.moved = true;
    d.x = e.clientX;
    d.y = e.clientY;
    view.current = { ...view.current, x: view.current.x + dx, y: view.current.y + dy };
    fitted.current = false;
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
      if (n.kind === "cluster") props.onOpenCluster(n.cluster);
      return;
    }
    const b = headerAt(w.x, w.y);
    if (b) props.onCloseCluster(b.key);
    else props.onSelect(null);
  };
  // The name of what is under the pointer, for text hidden at this zoom (and as a reminder).
  const hover = (e: PointerEvent) => {
    const w = toWorld(e);
    const n = nodeAt(w.x, w.y);
    const b = n ? undefined : headerAt(w.x, w.y);
    const text = n
      ? n.kind === "cluster"
        ? `${n.label}: ${n.members ?? 0} resources — click to open`
        : `${n.label} · ${n.type}`
      : b
        ? `${b.label}: ${b.count} resources — click the title to close`
        : null;
    setTip((t) => (text === null ? null : t && t.text === text ? t : { x: w.sx, y: w.sy, text }));
  };
  const onDblClick = (e: MouseEvent) => {
    const w = toWorld(e);
    const n = nodeAt(w.x, w.y);
    if (n && n.kind !== "cluster") props.onOpen(n.id);
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
      fitted.current = false;
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
        fit();
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
        data-nodes={Object.keys(props.layout.drawnAs).length}
        data-units={props.layout.nodes.length}
        data-edges={props.layout.edges.length}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerLeave={() => setTip(null)}
        onDblClick={onDblClick}
        onWheel={onWheel}
        onKeyDown={onKey}
      />
      {/* The canvas's boxes as buttons, for the keyboard and screen readers. */}
      <ul class="sr-only" aria-label="Clusters in the graph">
        {props.layout.nodes
          .filter((n) => n.kind === "cluster")
          .map((n) => (
            <li key={n.id}>
              <button
                data-testid="graph-cluster"
                data-label={n.label}
                onClick={() => {
                  props.onSelect(n.id);
                  props.onOpenCluster(n.cluster);
                }}
              >
                Open {n.label} ({n.members ?? 0} resources)
              </button>
            </li>
          ))}
        {props.layout.boxes.map((b) => (
          <li key={b.key}>
            <button data-testid="graph-open-cluster" data-label={b.label} onClick={() => props.onCloseCluster(b.key)}>
              Close {b.label}
            </button>
          </li>
        ))}
      </ul>
      {tip && (
        <div class="graph-tip" data-testid="graph-tip" style={{ left: `${tip.x + 14}px`, top: `${tip.y + 12}px` }}>
          {tip.text}
        </div>
      )}
    </div>
  );
}

/** Where a cluster is in a layout: its closed box, or its open one. */
function anchorAt(lay: Layout, key: string): { x: number; y: number } | null {
  const n = lay.nodes.find((u) => u.id === `cluster:${key}`);
  if (n) return { x: n.x, y: n.y };
  const b = lay.boxes.find((x) => x.key === key);
  return b ? { x: b.x, y: b.y } : null;
}
