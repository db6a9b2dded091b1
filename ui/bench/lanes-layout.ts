// The lane layout the graph view drew before the cluster view: every resource a card in stage lanes,
// links as Bézier curves from card to card. Kept only as the layout benchmark's baseline
// (bench/layout.ts); the app does not use it.
import type { GraphData } from "../src/generated/GraphData";
import type { Link } from "../src/generated/Link";
import type { Node } from "../src/generated/Node";

export const NODE_W = 200;
export const NODE_H = 30;
const GAP_X = 10;
const GAP_Y = 8;
const CLUSTER_PAD = 12;
const CLUSTER_HEAD = 22;
const BAND_GAP = 140;
const LANE_GAP = 60;
const LANE_HEAD = 34;

export const BANDS = ["Terraform", "SSM parameters", "Serverless", "Unmanaged & conflicts"] as const;

export interface LaidNode {
  id: string;
  label: string;
  type: string;
  owner: string;
  stage: string | null;
  x: number;
  y: number;
  w: number;
  h: number;
  /** A collapsed cluster stands for its members. */
  members?: number;
  cluster: string;
}

export interface LaidEdge {
  from: string;
  to: string;
  kind: string;
  evidence: string;
}

export interface LaidBox {
  key: string;
  label: string;
  x: number;
  y: number;
  w: number;
  h: number;
  collapsed: boolean;
  count: number;
}

export interface LaidLane {
  stage: string;
  y: number;
  h: number;
}

export interface Layout {
  nodes: LaidNode[];
  edges: LaidEdge[];
  boxes: LaidBox[];
  lanes: LaidLane[];
  bands: { label: string; x: number }[];
  width: number;
  height: number;
  /** Node id (or member id) → the id of the node drawn for it. */
  drawnAs: Record<string, string>;
}

export interface LayoutRequest {
  graph: GraphData;
  /** Only these node ids (focus mode); null for all. */
  only: string[] | null;
  collapsed: string[];
  stageOrder: string[];
}

export function bandOf(n: Node): number {
  if (n.type === "AWS::SSM::Parameter") return 1;
  if (n.owner === "terraform") return 0;
  if (n.owner === "serverless" || n.owner === "cloudformation") return 2;
  return 3;
}

/** The cluster a node is boxed in: its own (module, stack), else its type within its band. */
export function clusterKey(n: Node): string {
  const stage = n.stage ?? "";
  if (n.type === "AWS::SSM::Parameter") return `${stage}|ssm`;
  if (n.type === "Terraform::Workspace") return `${stage}|Terraform workspaces`;
  if (n.type === "Serverless::Service") return `${stage}|services not deployed`;
  if (n.cluster) return `${stage}|${n.cluster}`;
  return `${stage}|${n.owner}:${n.type}`;
}

function clusterLabel(key: string): string {
  const label = key.slice(key.indexOf("|") + 1);
  if (label === "ssm") return "SSM Parameter Store";
  const m = /^(unmanaged|conflict|terraform|serverless|cloudformation):(.*)$/.exec(label);
  if (m) return `${m[1] === "unmanaged" ? "no owner" : m[1]} · ${(m[2] ?? "").replace(/^AWS::/, "")}`;
  return label;
}

function shortType(t: string): string {
  return t.replace(/^AWS::/, "");
}

export function layout(req: LayoutRequest): Layout {
  const only = req.only ? new Set(req.only) : null;
  const collapsed = new Set(req.collapsed);
  const nodes = req.graph.nodes.filter((n) => !only || only.has(n.id));

  // lane → band → cluster → nodes
  const stages = new Map<string, Map<number, Map<string, Node[]>>>();
  for (const n of nodes) {
    const lane = n.stage ?? "";
    let bands = stages.get(lane);
    if (!bands) stages.set(lane, (bands = new Map()));
    const b = bandOf(n);
    let clusters = bands.get(b);
    if (!clusters) bands.set(b, (clusters = new Map()));
    const key = clusterKey(n);
    const list = clusters.get(key);
    if (list) list.push(n);
    else clusters.set(key, [n]);
  }
  const order = (s: string) => {
    const i = req.stageOrder.indexOf(s);
    return s === "" ? 1e9 : i < 0 ? 1e8 : i;
  };
  const laneNames = [...stages.keys()].sort((a, b) => order(a) - order(b) || a.localeCompare(b));

  // Column widths: the widest cluster of each band over all lanes.
  const colsOf = (count: number, band: number) =>
    band === 1 ? Math.min(2, count) : Math.max(1, Math.min(4, Math.ceil(Math.sqrt(count) / 1.5)));
  const bandWidth = [0, 0, 0, 0];
  for (const bands of stages.values()) {
    for (const [b, clusters] of bands) {
      for (const [key, list] of clusters) {
        const cols = collapsed.has(key) ? 1 : colsOf(list.length, b);
        const w = cols * NODE_W + (cols - 1) * GAP_X + 2 * CLUSTER_PAD;
        bandWidth[b] = Math.max(bandWidth[b] ?? 0, w);
      }
    }
  }
  const bandX: number[] = [];
  let x = 0;
  for (let b = 0; b < 4; b++) {
    bandX.push(x);
    if ((bandWidth[b] ?? 0) > 0) x += (bandWidth[b] ?? 0) + BAND_GAP;
  }
  const width = Math.max(x - BAND_GAP, NODE_W);

  const out: Layout = {
    nodes: [],
    edges: [],
    boxes: [],
    lanes: [],
    bands: BANDS.map((label, b) => ({ label, x: bandX[b] ?? 0 })).filter((_, b) => (bandWidth[b] ?? 0) > 0),
    width,
    height: 0,
    drawnAs: {},
  };
  let y = 0;
  for (const lane of laneNames) {
    const bands = stages.get(lane);
    if (!bands) continue;
    const laneTop = y;
    let laneBottom = y + LANE_HEAD;
    for (const [b, clusters] of bands) {
      let cy = y + LANE_HEAD;
      const keys = [...clusters.keys()].sort((a, c) => clusterLabel(a).localeCompare(clusterLabel(c)));
      for (const key of keys) {
        const list = clusters.get(key) ?? [];
        list.sort((a, c) => a.type.localeCompare(c.type) || a.name.localeCompare(c.name));
        const bx = bandX[b] ?? 0;
        if (collapsed.has(key)) {
          const id = `cluster:${key}`;
          const h = NODE_H + 2 * CLUSTER_PAD + CLUSTER_HEAD;
          out.boxes.push({ key, label: clusterLabel(key), x: bx, y: cy, w: NODE_W + 2 * CLUSTER_PAD, h, collapsed: true, count: list.length });
          const first = list[0];
          out.nodes.push({
            id,
            label: `${list.length} resources`,
            type: "cluster",
            owner: first?.owner ?? "unmanaged",
            stage: first?.stage ?? null,
            x: bx + CLUSTER_PAD,
            y: cy + CLUSTER_HEAD + CLUSTER_PAD,
            w: NODE_W,
            h: NODE_H,
            members: list.length,
            cluster: key,
          });
          for (const n of list) out.drawnAs[n.id] = id;
          cy += h + GAP_Y * 2;
          continue;
        }
        const cols = colsOf(list.length, b);
        const rows = Math.ceil(list.length / cols);
        const w = cols * NODE_W + (cols - 1) * GAP_X + 2 * CLUSTER_PAD;
        const h = rows * NODE_H + (rows - 1) * GAP_Y + 2 * CLUSTER_PAD + CLUSTER_HEAD;
        out.boxes.push({ key, label: clusterLabel(key), x: bx, y: cy, w, h, collapsed: false, count: list.length });
        list.forEach((n, i) => {
          const col = i % cols;
          const row = Math.floor(i / cols);
          out.nodes.push({
            id: n.id,
            label: n.name,
            type: shortType(n.type),
            owner: n.owner,
            stage: n.stage,
            x: bx + CLUSTER_PAD + col * (NODE_W + GAP_X),
            y: cy + CLUSTER_HEAD + CLUSTER_PAD + row * (NODE_H + GAP_Y),
            w: NODE_W,
            h: NODE_H,
            cluster: key,
          });
          out.drawnAs[n.id] = n.id;
        });
        cy += h + GAP_Y * 2;
      }
      laneBottom = Math.max(laneBottom, cy);
    }
    out.lanes.push({ stage: lane || "(no stage)", y: laneTop, h: laneBottom - laneTop });
    y = laneBottom + LANE_GAP;
  }
  out.height = Math.max(y - LANE_GAP, NODE_H);

  // Edges between what is drawn; links inside one collapsed cluster vanish, parallel ones merge.
  const seen = new Set<string>();
  for (const l of req.graph.links as Link[]) {
    const a = out.drawnAs[l.from];
    const b = out.drawnAs[l.to];
    if (!a || !b || a === b) continue;
    const k = `${a}\u0000${b}\u0000${l.kind}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.edges.push({ from: a, to: b, kind: l.kind, evidence: l.evidence });
  }
  return out;
}

/** The Bézier curve the lane view drew for a link: x1 y1, two control points, x2 y2. */
export function edgePath(a: LaidNode, b: LaidNode): [number, number, number, number, number, number, number, number] {
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
