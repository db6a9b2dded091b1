// The layout benchmark: the cluster view against the lane view it replaced, on the same graphs in the
// same run. For each graph (`stagecraft graph --format json` of a synthetic snapshot): layout time
// (median of 7 runs after a warm-up), edge crossings, edges through a box, overlapping boxes, and
// text below 9 px at Fit on an 880 × 640 canvas. The lane view's curves are measured as 16-segment
// polylines; its text rule (labels drawn down to 6.5 px) is measured as it was.
//
// Run: scripts/bench-layout (makes the graphs, bundles this with esbuild, runs it under Node).
import { readFileSync, writeFileSync } from "node:fs";
import type { GraphData } from "../src/generated/GraphData";
import { layout as clusters, type Layout } from "../src/graph/layout";
import { quality, crossings, edgesThroughBoxes, overlaps } from "../src/graph/quality";
import { edgePath, layout as lanes, type Layout as LaneLayout } from "./lanes-layout";

const SCREEN = [880, 640] as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function time<T>(f: () => T): { ms: number; out: T } {
  f();
  const times: number[] = [];
  let out = f();
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    out = f();
    times.push(performance.now() - t0);
  }
  return { ms: median(times), out };
}

/** The lane layout in the cluster layout's shape, its curves flattened, so one measure reads both. */
function asLayout(l: LaneLayout): Layout {
  const byId = new Map(l.nodes.map((n) => [n.id, n]));
  const edges = l.edges.flatMap((e) => {
    const a = byId.get(e.from);
    const b = byId.get(e.to);
    if (!a || !b) return [];
    const [x1, y1, c1x, c1y, c2x, c2y, x2, y2] = edgePath(a, b);
    const points: number[] = [];
    for (let i = 0; i <= 16; i++) {
      const t = i / 16;
      const u = 1 - t;
      points.push(u * u * u * x1 + 3 * u * u * t * c1x + 3 * u * t * t * c2x + t * t * t * x2);
      points.push(u * u * u * y1 + 3 * u * u * t * c1y + 3 * u * t * t * c2y + t * t * t * y2);
    }
    return [{ from: e.from, to: e.to, kind: e.kind, count: 1, evidence: "", points }];
  });
  return {
    nodes: l.nodes.map((n) => ({ ...n, kind: n.members ? ("cluster" as const) : ("resource" as const), column: 0 })),
    edges,
    boxes: l.boxes.filter((b) => !b.collapsed).map((b) => ({ key: b.key, label: b.label, owner: "", x: b.x, y: b.y, w: b.w, h: b.h, count: b.count })),
    stages: [],
    width: l.width,
    height: l.height,
    drawnAs: l.drawnAs,
  };
}

/** Labels the lane view drew below 9 px at its Fit (it drew names and types from 6.5 px up). */
function laneSmallText(l: LaneLayout): number {
  const k = Math.min(1.2, (SCREEN[0] - 60) / (l.width + 80), (SCREEN[1] - 60) / (l.height + 40));
  if (k * 11 < 6.5) return 0; // no labels drawn at all: nothing small, nothing legible either
  return (k * 11 < 9 ? l.nodes.length : 0) + (k * 9 < 9 ? l.nodes.length : 0) + (k * 11 < 9 ? l.boxes.length : 0);
}

function laneLegible(l: LaneLayout): string {
  const k = Math.min(1.2, (SCREEN[0] - 60) / (l.width + 80), (SCREEN[1] - 60) / (l.height + 40));
  return k * 11 < 6.5 ? "none (labels off)" : `${(k * 11).toFixed(1)} px`;
}

const rows: string[] = [];
for (const file of process.argv.slice(2)) {
  const graph = JSON.parse(readFileSync(file, "utf8")) as GraphData;
  const stageOrder = [...new Set(graph.nodes.map((n) => n.stage).filter((s): s is string => !!s))].sort();
  const before = time(() => lanes({ graph, only: null, collapsed: [], stageOrder }));
  const after = time(() => clusters({ graph, only: null, open: [], openAll: false, stageOrder, aspect: SCREEN[0] / SCREEN[1] }));
  const openAll = time(() => clusters({ graph, only: null, open: [], openAll: true, stageOrder, aspect: SCREEN[0] / SCREEN[1] }));
  const b = asLayout(before.out);
  const bq = { crossings: crossings(b.edges.map((e) => e.points)), through: edgesThroughBoxes(b), overlaps: overlaps(b) };
  const aq = quality(after.out, ...SCREEN);
  const oq = quality(openAll.out, ...SCREEN);
  const label = `${graph.nodes.length} nodes / ${graph.links.length} links`;
  rows.push(
    `| ${label} | lane view (before) | ${before.ms.toFixed(1)} ms | ${before.out.edges.length} | ${bq.crossings} | ${bq.through} | ${bq.overlaps} | ${laneSmallText(before.out)} | ${laneLegible(before.out)} |`,
    `| | cluster view (after) | ${after.ms.toFixed(1)} ms | ${after.out.edges.length} | ${aq.crossings} | ${aq.edgesThroughBoxes} | ${aq.overlaps} | 0 drawn (${aq.hiddenText} hidden) | ${aq.minTitlePx} px |`,
    `| | every cluster open (after) | ${openAll.ms.toFixed(1)} ms | ${openAll.out.edges.length} | ${oq.crossings} | ${oq.edgesThroughBoxes} | ${oq.overlaps} | 0 drawn (${oq.hiddenText} hidden) | ${oq.minTitlePx} px |`,
  );
  console.error(`measured ${label}`);
}
const table = [
  "| graph | layout | layout time | edges drawn | crossings | edges through a box | overlapping boxes | text under 9 px at Fit | smallest title at Fit |",
  "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ...rows,
].join("\n");
console.log(table);
if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, `${table}\n`);
