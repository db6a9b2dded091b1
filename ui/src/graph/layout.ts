// The graph layout: pure functions, run in a worker (layout.worker.ts) so the window never stalls.
//
// The picture reads the seam left to right, one group of columns per stage, stages side by side:
// Terraform's clusters, the SSM parameters, the Serverless services and other stacks, then what no
// tool or several tools own. By default a cluster (a Terraform workspace or module, a stack) is one
// titled box with its counts per type; opened, it lists its resources. SSM parameters are shown one
// by one (grouped by path prefix when a stage has many), so Terraform → parameter → service reads
// straight off the screen. Links are aggregated between what is drawn (one edge per pair and kind)
// and routed orthogonally: out of a box's side, along a vertical track in the empty channel between
// two columns, across intermediate columns only through the gaps between boxes. Columns are ordered
// by barycentre sweeps and channel tracks by a pairwise crossing count, so edges cross little and
// never pass through a box. It is near-linear in the size of the graph.
import type { GraphData } from "../generated/GraphData";
import type { Node } from "../generated/Node";

export const COLUMNS = ["Terraform", "SSM parameters", "Serverless & stacks", "No owner & conflicts"] as const;

/** Font sizes in world units (a world unit is a CSS pixel at zoom 1). */
export const TEXT = { title: 14, param: 14, body: 12, resource: 11, type: 9 } as const;

const RES_H = 30;
const RES_GAP = 6;
const PARAM_H = 28;
const ITEM_GAP = 18;
const PAD = 10;
const BOX_HEAD = 30;
const GUTTER = 22;
const CLUSTER_HEAD = 24;
const COUNT_LINE = 16;
const MAX_COUNT_LINES = 3;
const TRACK_MAX = 5;
const CHANNEL_MIN = 44;
const CHANNEL_PAD = 10;
const STAGE_GAP = 70;
export const STAGE_HEAD = 58;
const MIN_COL_W = 170;
const MAX_COL_W = 270;
const RES_W = 200;
/** More SSM parameters than this in one stage: they are grouped by their path's first segment. */
export const PARAM_GROUP_AT = 24;

export type UnitKind = "cluster" | "param" | "resource";

/** Something drawn as one box that edges attach to: a closed cluster, a parameter on its own, a
 * resource listed in an open cluster. */
export interface LaidNode {
  /** The resource id, or `cluster:<key>` for a closed cluster. */
  id: string;
  label: string;
  /** The resource type without `AWS::`, or "cluster". */
  type: string;
  owner: string;
  stage: string | null;
  kind: UnitKind;
  x: number;
  y: number;
  w: number;
  h: number;
  /** The cluster it belongs to (a closed cluster: its own key; a lone parameter: ""). */
  cluster: string;
  /** A closed cluster: how many resources it stands for, and its counts per type. */
  members?: number;
  counts?: string[];
  column: number;
}

export interface LaidEdge {
  from: string;
  to: string;
  kind: string;
  /** How many links this edge stands for. */
  count: number;
  evidence: string;
  /** The orthogonal route, x0 y0 x1 y1 …, from `from` to `to`. */
  points: number[];
}

/** An open cluster: a titled box listing its resources. */
export interface LaidBox {
  key: string;
  label: string;
  owner: string;
  x: number;
  y: number;
  w: number;
  h: number;
  count: number;
}

export interface LaidStage {
  stage: string;
  x: number;
  y: number;
  w: number;
  h: number;
  columns: { label: string; x: number; w: number }[];
}

export interface Layout {
  nodes: LaidNode[];
  edges: LaidEdge[];
  boxes: LaidBox[];
  stages: LaidStage[];
  width: number;
  height: number;
  /** Node id → the id of what is drawn for it (itself, or its closed cluster). */
  drawnAs: Record<string, string>;
}

export interface LayoutRequest {
  graph: GraphData;
  /** Only these node ids (focus mode); null for all. */
  only: string[] | null;
  /** Cluster keys shown open, listing their resources. */
  open: string[];
  /** Every cluster open (focus mode: a neighbourhood is read resource by resource). */
  openAll: boolean;
  stageOrder: string[];
  /** Width over height of the screen it is for: stages wrap into rows to fill it. */
  aspect?: number;
  /** The canvas's size in CSS pixels, for the quality measured at Fit. */
  screen?: [number, number];
}

/** The column of the seam a node belongs in (0–3). */
export function columnOf(n: Node): number {
  if (n.type === "AWS::SSM::Parameter") return 1;
  if (n.owner === "terraform") return 0;
  if (n.owner === "serverless" || n.owner === "cloudformation") return 2;
  return 3;
}

/** A parameter's group: its path's first segment (`/api/…`), or the top level. */
export function paramPrefix(name: string): string {
  const m = /^(\/?[^/]+\/)/.exec(name);
  return m?.[1] ?? (name.startsWith("/") ? "/" : "(no path)");
}

/** The cluster a node is boxed in, or null for a parameter shown on its own. */
export function clusterKey(n: Node, groupParams: boolean): string | null {
  const stage = n.stage ?? "";
  if (n.type === "AWS::SSM::Parameter") return groupParams ? `${stage}|parameters ${paramPrefix(n.name)}` : null;
  if (n.type === "Terraform::Workspace") return `${stage}|Terraform state`;
  if (n.type === "Serverless::Service") return `${stage}|services not deployed`;
  if (n.owner === "unmanaged") return `${stage}|no owner`;
  if (n.owner === "conflict") return `${stage}|in conflict`;
  if (n.cluster) return `${stage}|${n.cluster}`;
  return `${stage}|${n.owner} ${shortType(n.type)}`;
}

export function clusterLabel(key: string): string {
  return key.slice(key.indexOf("|") + 1);
}

export function shortType(t: string): string {
  return t.replace(/^AWS::/, "");
}

/** Counts per type, largest first, as lines: "4 Lambda::Function". */
export function typeCounts(members: Node[], max = MAX_COUNT_LINES): string[] {
  const by = new Map<string, number>();
  for (const n of members) by.set(n.type, (by.get(n.type) ?? 0) + 1);
  const sorted = [...by].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const lines = sorted.slice(0, max).map(([t, c]) => `${c} ${shortType(t)}`);
  const rest = sorted.slice(max).reduce((s, [, c]) => s + c, 0);
  if (sorted.length === max + 1) lines.push(sorted.slice(max).map(([t, c]) => `${c} ${shortType(t)}`)[0] ?? "");
  else if (rest > 0) lines.push(`+ ${rest} more (${sorted.length - max} types)`);
  return lines;
}

function majorityOwner(members: Node[]): string {
  const by = new Map<string, number>();
  for (const n of members) by.set(n.owner, (by.get(n.owner) ?? 0) + 1);
  if (by.has("conflict")) return "conflict";
  return [...by].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "unmanaged";
}

/** Text width estimate (system-ui averages about 0.58 em). */
function textW(chars: number, px: number): number {
  return chars * px * 0.58;
}

// One thing stacked in a column: a unit (closed cluster, lone parameter) or an open cluster.
interface Item {
  column: number;
  box: LaidBox | null;
  units: LaidNode[];
  order: number;
  y: number;
  h: number;
}

interface Port {
  id: string;
  unit: LaidNode;
  side: "L" | "R";
  /** Mean y of what the port's edges go to, to order ports along the side. */
  towards: number[];
  y: number;
}

// One use of a channel by an edge: enters from the left at yl and/or leaves to the right at yr.
interface Track {
  channel: string;
  left: number[];
  right: number[];
  lo: number;
  hi: number;
  x: number;
}

interface Block {
  stage: string;
  columns: Item[][];
  /** Which of COLUMNS each column is. */
  columnKind: number[];
}

interface Placed {
  stage: LaidStage;
  nodes: LaidNode[];
  boxes: LaidBox[];
  edges: LaidEdge[];
}

interface Route {
  edge: LaidEdge;
  flip: boolean;
  kind: "adjacent" | "bus" | "same";
  left: LaidNode;
  right: LaidNode;
  pl?: Port;
  pr?: Port;
  busY?: number;
  t1?: Track;
  t2?: Track;
}

export function layout(req: LayoutRequest): Layout {
  const only = req.only ? new Set(req.only) : null;
  const open = new Set(req.open);
  const nodes = req.graph.nodes.filter((n) => !only || only.has(n.id));

  // Stages in order; nodes without a stage last.
  const byStage = new Map<string, Node[]>();
  for (const n of nodes) {
    const s = n.stage ?? "";
    const list = byStage.get(s);
    if (list) list.push(n);
    else byStage.set(s, [n]);
  }
  const rank = (s: string) => {
    const i = req.stageOrder.indexOf(s);
    return s === "" ? 1e9 : i < 0 ? 1e8 : i;
  };
  const stageNames = [...byStage.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

  // Items per stage and column; a stage's empty columns take no room.
  const blocks: Block[] = [];
  const drawnAs: Record<string, string> = {};
  const unitById = new Map<string, LaidNode>();
  const itemOfUnit = new Map<string, Item>();

  for (const stage of stageNames) {
    const list = byStage.get(stage) ?? [];
    const columns: Item[][] = [];
    const columnKind: number[] = [];
    blocks.push({ stage, columns, columnKind });
    const params = list.filter((n) => n.type === "AWS::SSM::Parameter").length;
    const group = params > PARAM_GROUP_AT && !req.openAll;
    const perColumn: Map<string | null, Node[]>[] = [new Map(), new Map(), new Map(), new Map()];
    const lone: Node[][] = [[], [], [], []];
    for (const n of list) {
      const c = columnOf(n);
      const key = clusterKey(n, group);
      if (key === null) {
        lone[c]?.push(n);
        continue;
      }
      const m = perColumn[c]!;
      const members = m.get(key);
      if (members) members.push(n);
      else m.set(key, [n]);
    }
    for (let c = 0; c < 4; c++) {
      const items: Item[] = [];
      const column = columns.length;
      for (const n of lone[c] ?? []) {
        const unit: LaidNode = {
          id: n.id,
          label: n.name,
          type: shortType(n.type),
          owner: n.owner,
          stage: n.stage,
          kind: "param",
          x: 0,
          y: 0,
          w: 0,
          h: PARAM_H,
          cluster: "",
          column,
        };
        items.push({ column, box: null, units: [unit], order: 0, y: 0, h: PARAM_H });
      }
      for (const [key, members] of perColumn[c] ?? []) {
        if (key === null) continue;
        const label = clusterLabel(key);
        const owner = majorityOwner(members);
        if (req.openAll || open.has(key)) {
          members.sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name));
          const units = members.map<LaidNode>((n) => ({
            id: n.id,
            label: n.name,
            type: shortType(n.type),
            owner: n.owner,
            stage: n.stage,
            kind: "resource",
            x: 0,
            y: 0,
            w: RES_W,
            h: RES_H,
            cluster: key,
            column,
          }));
          const h = BOX_HEAD + units.length * (RES_H + RES_GAP) - RES_GAP + PAD;
          const box: LaidBox = { key, label, owner, x: 0, y: 0, w: 0, h, count: members.length };
          items.push({ column, box, units, order: 0, y: 0, h });
        } else {
          const counts = typeCounts(members);
          const h = CLUSTER_HEAD + counts.length * COUNT_LINE + 10;
          const unit: LaidNode = {
            id: `cluster:${key}`,
            label,
            type: "cluster",
            owner,
            stage: members[0]?.stage ?? null,
            kind: "cluster",
            x: 0,
            y: 0,
            w: 0,
            h,
            cluster: key,
            members: members.length,
            counts,
            column,
          };
          for (const n of members) drawnAs[n.id] = unit.id;
          items.push({ column, box: null, units: [unit], order: 0, y: 0, h });
        }
      }
      if (items.length === 0) continue;
      items.sort((a, b) => itemLabel(a).localeCompare(itemLabel(b)));
      items.forEach((it, i) => (it.order = i));
      columns.push(items);
      columnKind.push(c);
      for (const it of items) {
        for (const u of it.units) {
          unitById.set(u.id, u);
          itemOfUnit.set(u.id, it);
          if (u.kind !== "cluster") drawnAs[u.id] = u.id;
        }
      }
    }
  }

  // Edges between what is drawn: links inside one unit vanish, parallel ones of a kind merge.
  const merged = new Map<string, LaidEdge>();
  for (const l of req.graph.links) {
    const a = drawnAs[l.from];
    const b = drawnAs[l.to];
    if (!a || !b || a === b) continue;
    const k = `${a}\u0000${b}\u0000${l.kind}`;
    const e = merged.get(k);
    if (e) e.count += 1;
    else merged.set(k, { from: a, to: b, kind: l.kind, count: 1, evidence: l.evidence, points: [] });
  }
  const edges = [...merged.values()];
  const stageOfUnit = (id: string) => unitById.get(id)?.stage ?? "";
  const placed = blocks.map((block) =>
    placeBlock(
      block,
      edges.filter((e) => stageOfUnit(e.from) === block.stage && stageOfUnit(e.to) === block.stage),
      unitById,
      itemOfUnit,
    ),
  );
  return arrange(placed, edges.filter((e) => stageOfUnit(e.from) !== stageOfUnit(e.to)), unitById, drawnAs, req.aspect ?? 1.4);
}


/** Lays out one stage's columns and routes its edges, with the stage's top left at 0, 0. */
function placeBlock(block: Block, edges: LaidEdge[], unitById: Map<string, LaidNode>, itemOfUnit: Map<string, Item>): Placed {
  const columns = block.columns;
  orderColumns(columns, edges, itemOfUnit);

  // Column widths, then vertical stacking, each column centred on the stage's tallest.
  const colW = columns.map((items) => {
    let w = MIN_COL_W;
    for (const it of items) {
      if (it.box) w = Math.max(w, RES_W + 2 * PAD + GUTTER, textW(it.box.label.length + 6, TEXT.title) + 24);
      else {
        const u = it.units[0]!;
        const px = u.kind === "param" ? TEXT.param : TEXT.title;
        w = Math.max(w, textW(u.label.length + (u.kind === "cluster" ? 2 : 0), px) + 26);
        for (const line of u.counts ?? []) w = Math.max(w, textW(line.length, TEXT.body) + 26);
      }
    }
    return Math.min(MAX_COL_W, Math.ceil(w));
  });
  const colH = columns.map((items) => items.reduce((s, it) => s + it.h, 0) + ITEM_GAP * Math.max(0, items.length - 1));
  const stageH = Math.max(0, ...colH);
  columns.forEach((items, c) => {
    let y = STAGE_HEAD + (stageH - (colH[c] ?? 0)) / 2;
    for (const it of items) {
      it.y = y;
      y += it.h + ITEM_GAP;
    }
  });
  // Vertical positions of the units (x comes once the channels are sized).
  for (const items of columns) {
    for (const it of items) {
      if (it.box) {
        it.box.y = it.y;
        it.units.forEach((u, i) => (u.y = it.y + BOX_HEAD + i * (RES_H + RES_GAP)));
      } else {
        const u = it.units[0]!;
        u.y = it.y;
      }
    }
  }

  // Ports: each edge end sits on a side of its unit; small units bundle their edges per kind.
  const routes: Route[] = [];
  const ports = new Map<string, Port>();
  // A side's edges of one kind share a port (a trunk with branches) when the side is small or
  // they are several; otherwise each edge has its own.
  const perKind = new Map<string, number>();
  for (const e of edges) {
    const a = unitById.get(e.from);
    const b = unitById.get(e.to);
    if (!a || !b) continue;
    const sa = a.column < b.column || a.column === b.column ? "R" : "L";
    const sb = b.column < a.column || a.column === b.column ? "R" : "L";
    perKind.set(`${a.id}|${sa}|${e.kind}`, (perKind.get(`${a.id}|${sa}|${e.kind}`) ?? 0) + 1);
    perKind.set(`${b.id}|${sb}|${e.kind}`, (perKind.get(`${b.id}|${sb}|${e.kind}`) ?? 0) + 1);
  }
  const portOf = (u: LaidNode, side: "L" | "R", other: LaidNode, kind: string): Port => {
    const bundle = u.h < 40 || (perKind.get(`${u.id}|${side}|${kind}`) ?? 0) >= 3;
    const id = bundle ? `${u.id}|${side}|${kind}` : `${u.id}|${side}|${other.id}|${kind}`;
    let p = ports.get(id);
    if (!p) ports.set(id, (p = { id, unit: u, side, towards: [], y: 0 }));
    p.towards.push(other.y + other.h / 2);
    return p;
  };
  for (const e of edges) {
    const a = unitById.get(e.from);
    const b = unitById.get(e.to);
    if (!a || !b) continue;
    const flip = a.column > b.column;
    const left = flip ? b : a;
    const right = flip ? a : b;
    if (left.column === right.column) {
      routes.push({ edge: e, flip: false, kind: "same", left: a, right: b, pl: portOf(a, "R", b, e.kind), pr: portOf(b, "R", a, e.kind) });
    } else {
      routes.push({
        edge: e,
        flip,
        kind: right.column === left.column + 1 ? "adjacent" : "bus",
        left,
        right,
        pl: portOf(left, "R", right, e.kind),
        pr: portOf(right, "L", left, e.kind),
      });
    }
  }
  // Spread each side's ports along it, ordered by where they lead.
  const sides = new Map<string, Port[]>();
  for (const p of ports.values()) {
    const k = `${p.unit.id}|${p.side}`;
    const list = sides.get(k);
    if (list) list.push(p);
    else sides.set(k, [p]);
  }
  for (const list of sides.values()) {
    const mean = (p: Port) => p.towards.reduce((s, y) => s + y, 0) / p.towards.length;
    list.sort((a, b) => mean(a) - mean(b) || a.id.localeCompare(b.id));
    const u = list[0]!.unit;
    const top = u.kind === "cluster" ? u.y + 8 : u.y + 5;
    const bottom = u.y + u.h - 5;
    list.forEach((p, i) => (p.y = top + ((i + 0.5) * (bottom - top)) / list.length));
  }

  // Buses: an edge skipping columns crosses them in a gap between their boxes (or below them all).
  const free = columns.map((items) => {
    const gaps: [number, number][] = [[STAGE_HEAD - 14, (items[0]?.y ?? STAGE_HEAD) - 3]];
    for (let i = 0; i + 1 < items.length; i++) gaps.push([items[i]!.y + items[i]!.h + 3, items[i + 1]!.y - 3]);
    const last = items[items.length - 1];
    gaps.push([(last ? last.y + last.h : STAGE_HEAD) + 3, Infinity]);
    return gaps.filter(([a, b]) => b - a >= 4);
  });
  const used = columns.map(() => new Set<number>());
  let bottom = 0;
  for (const items of columns) for (const it of items) bottom = Math.max(bottom, it.y + it.h);
  for (const r of routes) {
    if (r.kind !== "bus") continue;
    const from = r.left.column + 1;
    const to = r.right.column - 1;
    let gaps = free[from] ?? [];
    for (let c = from + 1; c <= to; c++) gaps = intersect(gaps, free[c] ?? []);
    const target = ((r.pl?.y ?? 0) + (r.pr?.y ?? 0)) / 2;
    const candidates = gaps
      .map(([a, b]) => ({ a, b, d: target < a ? a - target : target > b ? target - b : 0 }))
      .sort((x, y) => x.d - y.d);
    const taken = (y: number) => {
      for (let c = from; c <= to; c++) if (used[c]?.has(y)) return true;
      return false;
    };
    let chosen: number | null = null;
    for (const { a, b } of candidates) {
      const lo = Math.ceil((a + 2) / 4) * 4;
      const hi = b === Infinity ? lo + 4 * 4000 : Math.floor((b - 2) / 4) * 4;
      // Nearest free multiple of 4 to the target within [lo, hi].
      const start = Math.min(hi, Math.max(lo, Math.round(target / 4) * 4));
      for (let d = 0; start - d >= lo || start + d <= hi; d += 4) {
        if (start + d <= hi && !taken(start + d)) {
          chosen = start + d;
          break;
        }
        if (d > 0 && start - d >= lo && !taken(start - d)) {
          chosen = start - d;
          break;
        }
      }
      if (chosen !== null) break;
    }
    const y = chosen ?? bottom + 12;
    for (let c = from; c <= to; c++) used[c]?.add(y);
    r.busY = y;
  }

  // Tracks: a vertical run per route in each channel it uses; routes sharing a port share it.
  const tracks = new Map<string, Track>();
  const portUse = new Map<string, number>();
  const channelOfRight = (u: LaidNode) => `c${u.column}`;
  const uses: { r: Route; which: 1 | 2; channel: string; left: number[]; right: number[]; keys: string[] }[] = [];
  for (const r of routes) {
    const pl = r.pl!;
    const pr = r.pr!;
    if (r.kind === "same") {
      const inBox = r.left.cluster !== "" && r.left.cluster === r.right.cluster && r.left.kind !== "cluster";
      const channel = inBox ? `g${r.left.cluster}` : channelOfRight(r.left);
      uses.push({ r, which: 1, channel, left: [pl.y, pr.y], right: [], keys: [pl.id, pr.id] });
    } else if (r.kind === "adjacent") {
      uses.push({ r, which: 1, channel: channelOfRight(r.left), left: [pl.y], right: [pr.y], keys: [pl.id, pr.id] });
    } else {
      const y = r.busY ?? 0;
      uses.push({ r, which: 1, channel: channelOfRight(r.left), left: [pl.y], right: [y], keys: [pl.id] });
      uses.push({ r, which: 2, channel: `c${r.right.column - 1}`, left: [y], right: [pr.y], keys: [pr.id] });
    }
  }
  for (const u of uses) for (const k of u.keys) portUse.set(`${u.channel}|${k}`, (portUse.get(`${u.channel}|${k}`) ?? 0) + 1);
  uses.forEach((u, i) => {
    const shared = u.keys.find((k) => (portUse.get(`${u.channel}|${k}`) ?? 0) > 1);
    const id = `${u.channel}|${shared ?? `edge${i}`}`;
    let t = tracks.get(id);
    if (!t) tracks.set(id, (t = { channel: u.channel, left: [], right: [], lo: Infinity, hi: -Infinity, x: 0 }));
    t.left.push(...u.left);
    t.right.push(...u.right);
    for (const y of [...u.left, ...u.right]) {
      t.lo = Math.min(t.lo, y);
      t.hi = Math.max(t.hi, y);
    }
    if (u.which === 1) u.r.t1 = t;
    else u.r.t2 = t;
  });
  const byChannel = new Map<string, Track[]>();
  for (const t of tracks.values()) {
    const list = byChannel.get(t.channel);
    if (list) list.push(t);
    else byChannel.set(t.channel, [t]);
  }
  for (const list of byChannel.values()) orderTracks(list);
  const spacing = (n: number) => Math.max(2, Math.min(TRACK_MAX, 240 / Math.max(1, n)));

  // Columns left to right: a column, then its channel, wide enough for its tracks.
  let x = 0;
  const colX: number[] = [];
  columns.forEach((_, c) => {
    colX.push(x);
    x += colW[c] ?? MIN_COL_W;
    const list = byChannel.get(`c${c}`) ?? [];
    const s = spacing(list.length);
    const need = list.length * s + 2 * CHANNEL_PAD;
    const width = Math.max(CHANNEL_MIN, need);
    const start = x + Math.max(CHANNEL_PAD, (width - list.length * s) / 2);
    list.forEach((t, i) => (t.x = start + i * s));
    if (c + 1 < columns.length || list.length > 0) x += width;
  });
  const width = Math.max(x, MIN_COL_W);
  const stage: LaidStage = { stage: block.stage || "(no stage)", x: 0, y: 0, w: width, h: 0, columns: [] };
  columns.forEach((_, c) => stage.columns.push({ label: COLUMNS[block.columnKind[c] ?? 0] ?? "", x: colX[c] ?? 0, w: colW[c] ?? 0 }));

  // Horizontal placement of items and units; the gutters of open clusters get their tracks.
  const outNodes: LaidNode[] = [];
  const boxes: LaidBox[] = [];
  columns.forEach((items, c) => {
    const cx = colX[c] ?? 0;
    const w = colW[c] ?? MIN_COL_W;
    for (const it of items) {
      if (it.box) {
        it.box.x = cx;
        it.box.w = w;
        boxes.push(it.box);
        for (const u of it.units) {
          u.x = cx + PAD;
          u.w = w - 2 * PAD - GUTTER;
          outNodes.push(u);
        }
        const gutter = byChannel.get(`g${it.box.key}`) ?? [];
        const s = Math.min(4, (GUTTER - 6) / Math.max(1, gutter.length));
        gutter.forEach((t, i) => (t.x = cx + w - GUTTER - PAD / 2 + 4 + i * s));
      } else {
        const u = it.units[0]!;
        u.x = cx;
        u.w = w;
        outNodes.push(u);
      }
    }
  });

  // The routes as polylines, drawn from `from` to `to`.
  let height = 0;
  for (const items of columns) for (const it of items) height = Math.max(height, it.y + it.h);
  for (const r of routes) {
    const pl = r.pl!;
    const pr = r.pr!;
    const xl = r.left.x + r.left.w;
    let pts: number[];
    if (r.kind === "same") {
      const xt = r.t1?.x ?? xl + 20;
      pts = [xl, pl.y, xt, pl.y, xt, pr.y, r.right.x + r.right.w, pr.y];
    } else if (r.kind === "adjacent") {
      const xt = r.t1?.x ?? xl + 20;
      pts = [xl, pl.y, xt, pl.y, xt, pr.y, r.right.x, pr.y];
    } else {
      const y = r.busY ?? 0;
      const x1 = r.t1?.x ?? xl + 20;
      const x2 = r.t2?.x ?? r.right.x - 20;
      pts = [xl, pl.y, x1, pl.y, x1, y, x2, y, x2, pr.y, r.right.x, pr.y];
      height = Math.max(height, y);
    }
    r.edge.points = r.flip ? reversePoints(pts) : pts;
  }
  stage.h = height + 12;
  return { stage, nodes: outNodes, boxes, edges: routes.map((r) => r.edge) };
}


const ROW_GAP = 64;

function shift(p: Placed, dx: number, dy: number): void {
  p.stage.x += dx;
  p.stage.y += dy;
  for (const c of p.stage.columns) c.x += dx;
  for (const n of p.nodes) {
    n.x += dx;
    n.y += dy;
  }
  for (const b of p.boxes) {
    b.x += dx;
    b.y += dy;
  }
  for (const e of p.edges) for (let i = 0; i + 1 < e.points.length; i += 2) {
    e.points[i]! += dx;
    e.points[i + 1]! += dy;
  }
}

/** Greedy rows of stages in order, each about `target` wide. */
function rowsOf(placed: Placed[], target: number): Placed[][] {
  const rows: Placed[][] = [];
  let cur: Placed[] = [];
  let w = 0;
  for (const p of placed) {
    const add = (cur.length ? STAGE_GAP : 0) + p.stage.w;
    if (cur.length && w + add > target) {
      rows.push(cur);
      cur = [];
      w = 0;
    }
    w += (cur.length ? STAGE_GAP : 0) + p.stage.w;
    cur.push(p);
  }
  if (cur.length) rows.push(cur);
  return rows;
}

/** Stages side by side, wrapped into the rows that fit a screen of the given aspect best; then the
 * few links between stages, along the corridors below and between rows. */
function arrange(placed: Placed[], cross: LaidEdge[], unitById: Map<string, LaidNode>, drawnAs: Record<string, string>, aspect: number): Layout {
  const total = placed.reduce((s, p) => s + p.stage.w, 0) + STAGE_GAP * Math.max(0, placed.length - 1);
  let best: { k: number; rows: Placed[][] } = { k: -1, rows: [placed] };
  for (let r = 1; r <= Math.max(1, placed.length); r++) {
    const rows = rowsOf(placed, total / r + 1);
    const W = Math.max(...rows.map((row) => row.reduce((s, p) => s + p.stage.w, 0) + STAGE_GAP * (row.length - 1)));
    const H = rows.reduce((s, row) => s + Math.max(...row.map((p) => p.stage.h)), 0) + ROW_GAP * (rows.length - 1);
    const k = Math.min(aspect / Math.max(1, W), 1 / Math.max(1, H));
    if (k > best.k * 1.02) best = { k, rows };
  }
  const rowBottom: number[] = [];
  const rowTop: number[] = [];
  const rowOf = new Map<string, number>();
  let y = 0;
  let width = 0;
  best.rows.forEach((row, r) => {
    let x = 0;
    const h = Math.max(...row.map((p) => p.stage.h));
    for (const p of row) {
      shift(p, x, y);
      rowOf.set(p.stage.stage, r);
      x += p.stage.w + STAGE_GAP;
    }
    width = Math.max(width, x - STAGE_GAP);
    rowTop.push(y);
    rowBottom.push(y + h);
    y += h + ROW_GAP;
  });
  let height = y - ROW_GAP;

  // Links between stages: out of the source's right side into the channel beside it, along the
  // corridor below its row (and the left margin, when the target is in another row), into the
  // target's left side from the channel before it.
  const boxByKey = new Map(placed.flatMap((p) => p.boxes.map((b) => [b.key, b] as const)));
  const outer = (u: LaidNode): { x: number; w: number } => (u.kind === "resource" ? (boxByKey.get(u.cluster) ?? u) : u);
  const used = new Map<number, number>();
  for (const e of cross) {
    const a = unitById.get(e.from);
    const b = unitById.get(e.to);
    if (!a || !b) continue;
    const ra = rowOf.get(a.stage ?? "(no stage)") ?? rowOf.get("(no stage)") ?? 0;
    const rb = rowOf.get(b.stage ?? "(no stage)") ?? rowOf.get("(no stage)") ?? 0;
    const lane = (corridor: number) => {
      const n = used.get(corridor) ?? 0;
      used.set(corridor, n + 1);
      return n;
    };
    const ya = a.y + a.h / 2;
    const yb = b.y + b.h / 2;
    // The verticals run beside the column, outside an open cluster listing the end.
    const ea = outer(a);
    const eb = outer(b);
    const xs = ea.x + ea.w + 6;
    const xt = eb.x - 6;
    if (ra === rb) {
      const cy = (rowBottom[ra] ?? 0) + 12 + 4 * lane(ra);
      e.points = [a.x + a.w, ya, xs, ya, xs, cy, xt, cy, xt, yb, b.x, yb];
      height = Math.max(height, cy + 8);
    } else {
      const down = rb > ra;
      const ca = down ? (rowBottom[ra] ?? 0) + 12 + 4 * lane(ra) : (rowTop[ra] ?? 0) - 12 - 4 * lane(-ra - 1);
      const cb = down ? (rowTop[rb] ?? 0) - 12 - 4 * lane(-rb - 1) : (rowBottom[rb] ?? 0) + 12 + 4 * lane(rb);
      const mx = -20 - 4 * lane(1e6);
      e.points = [a.x + a.w, ya, xs, ya, xs, ca, mx, ca, mx, cb, xt, cb, xt, yb, b.x, yb];
    }
  }
  const nodes: LaidNode[] = [];
  const boxes: LaidBox[] = [];
  const edges: LaidEdge[] = [];
  for (const p of placed) {
    nodes.push(...p.nodes);
    boxes.push(...p.boxes);
    edges.push(...p.edges);
  }
  edges.push(...cross);
  return { nodes, edges, boxes, stages: placed.map((p) => p.stage), width, height, drawnAs };
}

function itemLabel(it: Item): string {
  return it.box ? it.box.label : (it.units[0]?.label ?? "");
}

function reversePoints(p: number[]): number[] {
  const out: number[] = [];
  for (let i = p.length - 2; i >= 0; i -= 2) out.push(p[i]!, p[i + 1]!);
  return out;
}

function intersect(a: [number, number][], b: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [a0, a1] of a) {
    for (const [b0, b1] of b) {
      const lo = Math.max(a0, b0);
      const hi = Math.min(a1, b1);
      if (hi - lo >= 4) out.push([lo, hi]);
    }
  }
  return out;
}

/** Barycentre sweeps: each column's items move towards the mean position of what they link to. */
function orderColumns(columns: Item[][], edges: LaidEdge[], itemOfUnit: Map<string, Item>): void {
  const neighbours = new Map<Item, Item[]>();
  for (const e of edges) {
    const a = itemOfUnit.get(e.from);
    const b = itemOfUnit.get(e.to);
    if (!a || !b || a === b || a.column === b.column) continue;
    (neighbours.get(a) ?? neighbours.set(a, []).get(a)!).push(b);
    (neighbours.get(b) ?? neighbours.set(b, []).get(b)!).push(a);
  }
  const pos = (it: Item) => (it.order + 0.5) / (columns[it.column]?.length ?? 1);
  for (let sweep = 0; sweep < 6; sweep++) {
    const forward = sweep % 2 === 0;
    for (let i = 0; i < columns.length; i++) {
      const c = forward ? i : columns.length - 1 - i;
      const items = columns[c]!;
      const bary = new Map<Item, number>();
      for (const it of items) {
        const ns = neighbours.get(it);
        bary.set(it, ns && ns.length ? ns.reduce((s, n) => s + pos(n), 0) / ns.length : pos(it));
      }
      items.sort((a, b) => bary.get(a)! - bary.get(b)! || a.order - b.order);
      items.forEach((it, k) => (it.order = k));
    }
  }
}

/** Crossings made by putting track p left of track q in one channel. */
function cost(p: Track, q: Track): number {
  let n = 0;
  for (const y of p.right) if (y > q.lo && y < q.hi) n++;
  for (const y of q.left) if (y > p.lo && y < p.hi) n++;
  return n;
}

/** Orders a channel's tracks to cross little: start from the span's middle, then improve by swaps. */
function orderTracks(list: Track[]): void {
  list.sort((a, b) => a.lo + a.hi - (b.lo + b.hi));
  if (list.length > 400) return;
  for (let pass = 0; pass < 4; pass++) {
    let changed = false;
    for (let i = 0; i + 1 < list.length; i++) {
      const a = list[i]!;
      const b = list[i + 1]!;
      if (cost(b, a) < cost(a, b)) {
        list[i] = b;
        list[i + 1] = a;
        changed = true;
      }
    }
    if (!changed) break;
  }
}
