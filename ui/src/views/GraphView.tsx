// The graph view: one stage or the whole organization, laid out in a worker, drawn on a canvas. It
// opens on clusters (a workspace, a module, a stack as one box) with every SSM parameter on its own;
// a click opens a cluster to its resources. Search, focus mode (resource by resource), a details panel
// for a resource or a cluster, and SVG/PNG export.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Analysis } from "../generated/Analysis";
import type { Finding } from "../generated/Finding";
import type { GraphData } from "../generated/GraphData";
import type { Link } from "../generated/Link";
import type { Node } from "../generated/Node";
import type { Resource } from "../generated/Resource";
import { changeLine } from "../changes";
import { asUiError, findNodes, graph as fetchGraph, resources as fetchResources, saveExport } from "../ipc";
import { Rich } from "../rich";
import { GraphCanvas } from "../graph/GraphCanvas";
import { drawScene, EDGE_STYLES, readPalette, toSvg } from "../graph/draw";
import { fitView, labelsOf } from "../graph/labels";
import { typeCounts, type Layout } from "../graph/layout";
import { layoutInWorker } from "../graph/worker";

/** What the graph should show: set from outside by a search, a finding or a matrix cell. */
export interface GraphFocus {
  ids: string[];
  depth: number;
  select: string | null;
  nonce: number;
}

/** An account as the graph's account picker names it. */
export interface GraphAccount {
  id: string;
  name: string;
  stage: string | null;
}

interface Props {
  analysis: Analysis;
  /** The snapshot's accounts: a stage too large to draw at once is shown an account at a time. */
  accounts: GraphAccount[];
  focus: GraphFocus | null;
  onFocus: (f: GraphFocus | null) => void;
}

interface Adjacency {
  out: Map<string, Link[]>;
  inc: Map<string, Link[]>;
}

function adjacency(links: Link[]): Adjacency {
  const out = new Map<string, Link[]>();
  const inc = new Map<string, Link[]>();
  for (const l of links) {
    (out.get(l.from) ?? out.set(l.from, []).get(l.from)!).push(l);
    (inc.get(l.to) ?? inc.set(l.to, []).get(l.to)!).push(l);
  }
  return { out, inc };
}

/** Ids within `depth` links of `start`, either direction. */
export function neighbourhood(adj: Adjacency, start: string[], depth: number): Set<string> {
  const seen = new Set(start);
  let frontier = start;
  for (let d = 0; d < depth; d++) {
    const next: string[] = [];
    for (const id of frontier) {
      for (const l of adj.out.get(id) ?? []) if (!seen.has(l.to)) (seen.add(l.to), next.push(l.to));
      for (const l of adj.inc.get(id) ?? []) if (!seen.has(l.from)) (seen.add(l.from), next.push(l.from));
    }
    frontier = next;
  }
  return seen;
}

const EMPTY: GraphData = { nodes: [], links: [] };

export function GraphView({ analysis, accounts, focus, onFocus }: Props) {
  const stages = analysis.matrix.stages;
  const total = Object.values(analysis.graph_sizes).reduce((a, b) => a + b, 0);
  /** The most nodes the core sends at once: a larger stage is shown an account at a time. */
  const atMost = analysis.graph_at_most;
  const [stage, setStage] = useState<string>(stages.length > 1 || total > atMost ? (stages[0] ?? "") : "");

  const [open, setOpen] = useState<string[]>([]);
  /** The layout's quality at Fit (JSON), published on the graph for the GUI test. */
  const [quality, setQuality] = useState("");
  const [anchor, setAnchor] = useState<string | null>(null);
  const stageRef = useRef<HTMLDivElement>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [centreNonce, setCentreNonce] = useState(0);
  const [fitNonce, setFitNonce] = useState(0);
  const [lay, setLay] = useState<{ layout: Layout; ms: number; readyMs: number } | null>(null);
  const [query, setQuery] = useState("");
  const [message, setMessage] = useState<string | null>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const started = useRef(performance.now());

  // The part of the graph on screen (a stage, the organization, a focus), as the core sends it.
  const [part, setPart] = useState<{ graph: GraphData; key: string } | null>(null);
  // A stage too large to draw at once is shown an account at a time (its accounts with nodes).
  const stageSize = stage === "" ? total : (analysis.graph_sizes[stage] ?? 0);
  const tooBig = stageSize > atMost;
  const stageAccounts = useMemo(
    () => (tooBig ? accounts.filter((a) => (stage === "" || a.stage === stage) && (analysis.account_sizes[a.id] ?? 0) > 0) : []),
    [tooBig, accounts, stage, analysis],
  );
  const [pickedAccount, setAccount] = useState("");
  const account = tooBig ? (stageAccounts.find((a) => a.id === pickedAccount) ?? stageAccounts[0])?.id ?? "" : "";
  const scopeKey = focus ? `focus:${focus.depth}:${focus.ids.join(",")}` : account ? `account:${account}` : `stage:${stage}`;
  useEffect(() => {
    let current = true;
    setPart(null);
    setLay(null);
    const scope = focus
      ? { kind: "around" as const, ids: focus.ids, depth: focus.depth }
      : account
        ? { kind: "account" as const, account }
        : { kind: "stage" as const, stage };
    fetchGraph(scope)
      .then((graph) => {
        if (current) setPart({ graph, key: scopeKey });
      })
      .catch((e) => {
        if (!current) return;
        setMessage(asUiError(e).message);
        setPart({ graph: EMPTY, key: scopeKey });
      });
    return () => {
      current = false;
    };
  }, [analysis, scopeKey]);
  const shown = part?.graph ?? EMPTY;
  const nodes = useMemo(() => new Map(shown.nodes.map((n) => [n.id, n])), [shown]);
  const adj = useMemo(() => adjacency(shown.links), [shown]);
  // The selected resource's own links, across stages (the part on screen holds only its own).
  const [around, setAround] = useState<GraphData>(EMPTY);
  // The selected resource as the core holds it (the window holds only the snapshot's head).
  const [detail, setDetail] = useState<Resource | undefined>(undefined);
  const selectedId = selected && !selected.startsWith("cluster:") ? selected : null;
  useEffect(() => {
    setDetail(undefined);
    setAround(EMPTY);
    if (!selectedId) return;
    let current = true;
    fetchResources([selectedId])
      .then((rs) => {
        if (current) setDetail(rs[0]);
      })
      .catch((e) => {
        if (current) setMessage(`The resource's details could not be read: ${asUiError(e).message}`);
      });
    fetchGraph({ kind: "around", ids: [selectedId], depth: 1 })
      .then((g) => {
        if (current) setAround(g);
      })
      .catch((e) => {
        if (current) setMessage(`The resource's details could not be read: ${asUiError(e).message}`);
      });
    return () => {
      current = false;
    };
  }, [selectedId, analysis]);
  const aroundNodes = useMemo(() => new Map(around.nodes.map((n) => [n.id, n])), [around]);
  const aroundAdj = useMemo(() => adjacency(around.links), [around]);
  const findingsOf = useMemo(() => {
    const m = new Map<string, Finding[]>();
    for (const f of analysis.findings) for (const id of f.resources) (m.get(id) ?? m.set(id, []).get(id)!).push(f);
    return m;
  }, [analysis]);

  // Lay out the part on screen (the core sent only what is asked for).
  useEffect(() => {
    if (!part) return;
    started.current = performance.now();
    const el = stageRef.current;
    const screen: [number, number] = el && el.clientHeight > 0 ? [el.clientWidth, el.clientHeight] : [920, 700];
    const req = { graph: part.graph, only: null, open, openAll: focus !== null, stageOrder: stages, aspect: screen[0] / screen[1], screen };
    setQuality("");
    void layoutInWorker(req, (q) => setQuality(JSON.stringify(q))).then(({ layout, ms, latest }) => {
      if (latest) setLay({ layout, ms, readyMs: performance.now() - started.current });
    });
  }, [part, open]);

  const openCluster = (key: string) => {
    setAnchor(key);
    setOpen((o) => (o.includes(key) ? o : [...o, key]));
  };
  const closeCluster = (key: string) => {
    setAnchor(key);
    setOpen((o) => o.filter((k) => k !== key));
  };

  // A focus from outside selects and centres.
  useEffect(() => {
    if (!focus) return;
    setSelected(focus.select);
    setCentreNonce((n) => n + 1);
  }, [focus?.nonce]);

  // A selected cluster (`cluster:<key>`, open or closed): its resources.
  const clusterKeyOf = useMemo(() => {
    const units = new Map((lay?.layout.nodes ?? []).map((u) => [u.id, u]));
    return (id: string): string | null => {
      const d = lay?.layout.drawnAs[id];
      if (!d) return null;
      return d.startsWith("cluster:") ? d.slice("cluster:".length) : units.get(d)?.cluster || null;
    };
  }, [lay]);
  const selectedCluster = selected?.startsWith("cluster:") ? selected.slice("cluster:".length) : null;
  const clusterMembers = useMemo(
    () => (selectedCluster ? shown.nodes.filter((n) => clusterKeyOf(n.id) === selectedCluster) : []),
    [selectedCluster, clusterKeyOf, shown],
  );

  const lit = useMemo(() => {
    if (selectedCluster) return neighbourhood(adj, clusterMembers.map((n) => n.id), 1);
    if (selected) return neighbourhood(adj, [selected], 1);
    if (focus) return new Set(focus.ids);
    return null;
  }, [selected, selectedCluster, clusterMembers, focus, adj]);

  // Search asks the core: it holds every stage's resources, the window only the part on screen.
  const [matches, setMatches] = useState<Node[]>([]);
  useEffect(() => {
    const q = query.trim();
    if (q.length < 2) {
      setMatches([]);
      return;
    }
    let current = true;
    const t = setTimeout(() => {
      findNodes(q, stage || null)
        .then((found) => {
          if (current) setMatches(found);
        })
        .catch((e) => {
          if (current) setMessage(`Search failed: ${asUiError(e).message}`);
        });
    }, 60);
    return () => {
      current = false;
      clearTimeout(t);
    };
  }, [query, analysis, stage]);

  const jump = (n: Node) => {
    setQuery("");
    if (n.stage && stage && n.stage !== stage && !focus) setStage(n.stage);
    onFocus({ ids: [n.id], depth: 1, select: n.id, nonce: Date.now() });
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "/" && document.activeElement?.tagName !== "INPUT") {
        e.preventDefault();
        searchRef.current?.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const exportAs = async (kind: "svg" | "png") => {
    if (!lay) return;
    const palette = readPalette();
    // Named after what is shown: a focus, one account of a stage too large to draw at once, a stage.
    const shown = focus ? "focus" : account ? `${stage || "organization"}-${account}` : stage || "organization";
    const name = `stagecraft-${shown}.${kind}`;
    try {
      let path: string | null;
      if (kind === "svg") {
        path = await saveExport(name, toSvg(lay.layout, palette));
      } else {
        const scale = Math.min(2, 8000 / (lay.layout.width + 200), 8000 / (lay.layout.height + 200));
        const c = document.createElement("canvas");
        const w = Math.ceil((lay.layout.width + 200) * scale);
        const h = Math.ceil((lay.layout.height + 200) * scale);
        c.width = w;
        c.height = h;
        const ctx = c.getContext("2d");
        if (!ctx) throw new Error("no 2D canvas");
        const view = fitView(lay.layout, w, h);
        drawScene(ctx, lay.layout, labelsOf(lay.layout), view, palette, { selected: null, lit: null, width: w, height: h });
        const b64 = c.toDataURL("image/png").split(",")[1] ?? "";
        path = await saveExport(name, b64, true);
      }
      setMessage(path ? `Saved ${path}` : "Export cancelled");
    } catch (e) {
      setMessage(`Export failed: ${asUiError(e).message}`);
    }
  };

  const sel = selected ? nodes.get(selected) : undefined;
  return (
    <div class="graph-view" data-testid="graph-view">
      <div class="toolbar">
        <label>
          Stage{" "}
          <select
            data-testid="graph-stage"
            value={focus ? "__focus" : stage}
            onChange={(e) => {
              const v = (e.target as HTMLSelectElement).value;
              onFocus(null);
              setAnchor(null);
              setStage(v === "__all" ? "" : v);
            }}
          >
            {focus && <option value="__focus">focus</option>}
            {stages.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
            <option value="">whole organization</option>
          </select>
        </label>
        <div class="search">
          <input
            ref={searchRef}
            data-testid="graph-search"
            placeholder="Search resources  ( / )"
            value={query}
            onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && matches[0]) jump(matches[0]);
              if (e.key === "Escape") setQuery("");
            }}
          />
          {matches.length > 0 && (
            <ul class="suggestions" role="listbox">
              {matches.map((n) => (
                <li key={n.id}>
                  <button data-testid="search-result" onClick={() => jump(n)}>
                    <span class={`owner-dot ${n.owner}`} /> {n.name}{" "}
                    <small>
                      {n.type.replace(/^AWS::/, "")} · {n.stage ?? "no stage"}
                    </small>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </div>
        {!focus && tooBig && (
          <label title={`${stage || "The organization"} has ${stageSize.toLocaleString()} resources in ${stageAccounts.length} accounts, more than the graph draws at once (${atMost.toLocaleString()}): it shows one account, with what links to it from elsewhere`}>
            Account{" "}
            <select
              data-testid="graph-account"
              value={account}
              onChange={(e) => {
                setAnchor(null);
                setAccount((e.target as HTMLSelectElement).value);
              }}
            >
              {stageAccounts.map((a) => (
                <option key={a.id} value={a.id}>
                  {a.name} ({a.id}) · {(analysis.account_sizes[a.id] ?? 0).toLocaleString()}
                </option>
              ))}
            </select>{" "}
            <small data-testid="graph-too-big">
              one of {stageAccounts.length} accounts at a time
            </small>
          </label>
        )}
        {focus && (
          <span class="focus-chip" data-testid="focus-chip">
            focus: {focus.ids.length === 1 ? nodes.get(focus.ids[0] ?? "")?.name : `${focus.ids.length} resources`} ·
            depth{" "}
            <select
              value={focus.depth}
              onChange={(e) => onFocus({ ...focus, depth: Number((e.target as HTMLSelectElement).value), nonce: Date.now() })}
            >
              {[1, 2, 3, 4].map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>
            <button onClick={() => onFocus(null)} title="Leave focus mode">
              ✕
            </button>
          </span>
        )}
        <span class="spacer" />
        {!focus &&
          (open.length === 0 ? (
            <button
              data-testid="open-all"
              onClick={() => {
                setAnchor(null);
                setOpen(lay ? lay.layout.nodes.filter((n) => n.kind === "cluster").map((n) => n.cluster) : []);
              }}
              title="Open every cluster to its resources (or click one cluster to open it)"
            >
              Open all
            </button>
          ) : (
            <button
              data-testid="close-all"
              onClick={() => {
                setAnchor(null);
                setOpen([]);
              }}
            >
              Close all
            </button>
          ))}
        <button onClick={() => setFitNonce((n) => n + 1)} title="Fit (0)">
          Fit
        </button>
        <button data-testid="export-svg" onClick={() => void exportAs("svg")}>
          SVG
        </button>
        <button data-testid="export-png" onClick={() => void exportAs("png")}>
          PNG
        </button>
      </div>
      {message && (
        <div class="banner info" data-testid="graph-message">
          {message}{" "}
          <button class="link" onClick={() => setMessage(null)}>
            dismiss
          </button>
        </div>
      )}
      <div class="graph-body">
        <div
          class="graph-stage"
          ref={stageRef}
          data-testid="graph"
          data-ready={lay ? "yes" : "no"}
          data-layout-ms={lay ? lay.ms.toFixed(1) : ""}
          data-ready-ms={lay ? lay.readyMs.toFixed(1) : ""}
          data-selected={selected ?? ""}
          data-quality={quality}
        >
          {lay ? (
            <GraphCanvas
              layout={lay.layout}
              selected={selected}
              lit={lit}
              centreNonce={centreNonce}
              fitNonce={fitNonce}
              onSelect={setSelected}
              startedAt={started.current}
              onOpen={(id) => onFocus({ ids: [id], depth: 1, select: id, nonce: Date.now() })}
              onOpenCluster={openCluster}
              onCloseCluster={closeCluster}
              anchor={anchor}
            />
          ) : (
            <p class="empty">
              <span class="spinner" /> {part ? `Laying out ${part.graph.nodes.length} resources…` : "Reading the graph…"}
            </p>
          )}
          <Legend />
        </div>
        {selected?.startsWith("cluster:") && lay ? (
          <ClusterPanel
            layout={lay.layout}
            clusterKey={selectedCluster ?? ""}
            members={clusterMembers}
            onOpen={openCluster}
            onClose={closeCluster}
            onSelect={(id) => {
              openCluster(selectedCluster ?? "");
              setSelected(id);
              setCentreNonce((x) => x + 1);
            }}
          />
        ) : (
        <DetailsPanel
          node={sel}
          resource={sel && detail?.id === sel.id ? detail : undefined}
          adj={aroundAdj}
          nodes={aroundNodes}
          findings={sel ? (findingsOf.get(sel.id) ?? []) : []}
          onSelect={(id) => {
            if (!lay) return;
            const drawnAs = lay.layout.drawnAs[id];
            if (!drawnAs) onFocus({ ids: [id], depth: 1, select: id, nonce: Date.now() });
            else {
              // A resource in a closed cluster: open it, then select and centre the resource.
              if (drawnAs !== id) openCluster(lay.layout.nodes.find((u) => u.id === drawnAs)?.cluster ?? "");
              setSelected(id);
              setCentreNonce((x) => x + 1);
            }
          }}
          closable={!focus && lay ? (lay.layout.nodes.find((u) => u.id === sel?.id)?.cluster ?? "") : ""}
          onClose={closeCluster}
        />
        )}
      </div>
    </div>
  );
}

function Legend() {
  const kinds = Object.keys(EDGE_STYLES);
  return (
    <div class="legend" aria-label="Legend">
      <span class="hint">Click a box to open it · hover for names</span>
      <span class="owner-dot terraform" /> Terraform <span class="owner-dot serverless" /> Serverless{" "}
      <span class="owner-dot cloudformation" /> other stack <span class="owner-dot unmanaged" /> no owner{" "}
      <span class="owner-dot conflict" /> conflict
      <br />
      {kinds.map((k) => (
        <span key={k} class={`edge-key edge-${k}`}>
          {k}
        </span>
      ))}
    </div>
  );
}

interface DetailsProps {
  node: Node | undefined;
  resource: Resource | undefined;
  adj: Adjacency;
  nodes: Map<string, Node>;
  findings: Finding[];
  onSelect: (id: string) => void;
  /** The open cluster the resource is listed in ("" for none). */
  closable: string;
  onClose: (key: string) => void;
}

function ownerEvidence(r: Resource): string[] {
  const o = r.owner;
  switch (o.kind) {
    case "terraform":
      return [`Terraform ${o.address}`, `workspace ${o.workspace} · ${o.state}`, `matched by ${o.matched_by}`];
    case "serverless":
      return [`Serverless service ${o.service} (stage ${o.stage})`, `stack ${o.stack}${o.logical_id ? ` · ${o.logical_id}` : ""}`, `matched by ${o.matched_by}`];
    case "cloudformation":
      return [`CloudFormation stack ${o.stack}${o.logical_id ? ` · ${o.logical_id}` : ""}`, `matched by ${o.matched_by}`];
    case "unmanaged":
      return ["No tool manages it"];
    case "conflict":
      return o.claims.map((c) =>
        c.kind === "terraform" ? `Terraform ${c.address} (${c.workspace})` : `stack ${c.stack} · ${c.logical_id ?? ""}`,
      );
  }
}

function DetailsPanel({ node, resource, adj, nodes, findings, onSelect, closable, onClose }: DetailsProps) {
  if (!node) {
    return (
      <aside class="details" data-testid="details">
        <p class="muted">Select a resource to see who owns it, its links and findings. Double-click to focus on its neighbourhood.</p>
      </aside>
    );
  }
  const out = adj.out.get(node.id) ?? [];
  const inc = adj.inc.get(node.id) ?? [];
  const linkRow = (l: Link, other: string, dir: "in" | "out") => {
    const n = nodes.get(other);
    return (
      <li key={`${dir}-${l.kind}-${other}`} data-testid={`link-${dir}`} data-kind={l.kind}>
        <button class="link" onClick={() => onSelect(other)} title={other}>
          {dir === "in" ? "← " : "→ "}
          <span class={`kind kind-${l.kind}`}>{l.kind}</span> {n?.name ?? other}
        </button>
        <div class="evidence">
          <Rich text={l.evidence} />
        </div>
      </li>
    );
  };
  return (
    <aside class="details" data-testid="details">
      <h3 data-testid="details-name">{node.name}</h3>
      <div class="muted">
        {node.type} · {node.stage ?? "no stage"} · <span class={`owner-chip ${node.owner}`}>{node.owner}</span>
      </div>
      <code class="id" data-testid="details-id">
        {node.id}
      </code>
      {resource && (
        <>
          <h4>Owner</h4>
          <ul class="plain" data-testid="details-owner">
            {ownerEvidence(resource).map((l) => (
              <li key={l}>{l}</li>
            ))}
          </ul>
        </>
      )}
      {resource?.changed && (
        <>
          <h4>Changes</h4>
          <ul class="plain" data-testid="details-changes">
            {resource.changed.last_change && <li data-testid="details-last-change">Last: {changeLine(resource.changed.last_change)}</li>}
            {resource.changed.created && <li>Created: {changeLine(resource.changed.created)}</li>}
          </ul>
        </>
      )}
      {findings.length > 0 && (
        <>
          <h4>Findings</h4>
          <ul class="plain">
            {findings.map((f, i) => (
              <li key={i} class={`sev-${f.severity}`}>
                <strong>{f.rule}</strong> <Rich text={f.message} />
              </li>
            ))}
          </ul>
        </>
      )}
      <h4>
        Links in ({inc.length}) and out ({out.length})
      </h4>
      <ul class="plain links">
        {inc.map((l) => linkRow(l, l.from, "in"))}
        {out.map((l) => linkRow(l, l.to, "out"))}
      </ul>
      {resource && Object.keys(resource.tags).length > 0 && (
        <>
          <h4>Tags</h4>
          <ul class="plain">
            {Object.entries(resource.tags).map(([k, v]) => (
              <li key={k}>
                <code>{k}</code> = {v}
              </li>
            ))}
          </ul>
        </>
      )}
      {resource && Object.keys(resource.attributes).length > 0 && (
        <>
          <h4>Attributes</h4>
          <ul class="plain attrs">
            {Object.entries(resource.attributes).map(([k, v]) => (
              <li key={k}>
                <code>{k}</code> {typeof v === "string" ? v : JSON.stringify(v)}
              </li>
            ))}
          </ul>
        </>
      )}
      {closable && (
        <button class="link" onClick={() => onClose(closable)}>
          Close {closable.slice(closable.indexOf("|") + 1)}
        </button>
      )}
    </aside>
  );
}

interface ClusterProps {
  layout: Layout;
  clusterKey: string;
  members: Node[];
  onOpen: (key: string) => void;
  onClose: (key: string) => void;
  onSelect: (id: string) => void;
}

/** A cluster, open or closed: what it holds and what it links to outside, per kind with counts. */
function ClusterPanel({ layout, clusterKey, members, onOpen, onClose, onSelect }: ClusterProps) {
  const closed = layout.nodes.find((n) => n.id === `cluster:${clusterKey}`);
  const box = layout.boxes.find((b) => b.key === clusterKey);
  const label = closed?.label ?? box?.label ?? clusterKey.slice(clusterKey.indexOf("|") + 1);
  const first = members[0];
  // The edges between this cluster and the rest of the picture, merged per other end and kind.
  const mine = new Set([`cluster:${clusterKey}`, ...members.map((n) => n.id)]);
  const name = new Map(layout.nodes.map((n) => [n.id, n.label]));
  const merged = new Map<string, { dir: "in" | "out"; kind: string; other: string; count: number }>();
  for (const e of layout.edges) {
    const from = mine.has(e.from);
    const to = mine.has(e.to);
    if (from === to) continue;
    const dir = from ? "out" : "in";
    const other = from ? e.to : e.from;
    const k = `${dir}|${e.kind}|${other}`;
    const m = merged.get(k);
    if (m) m.count += e.count;
    else merged.set(k, { dir, kind: e.kind, other, count: e.count });
  }
  const rows = [...merged.values()].sort((a, b) => a.dir.localeCompare(b.dir) || a.kind.localeCompare(b.kind));
  const shown = [...members].sort((a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name)).slice(0, 200);
  return (
    <aside class="details" data-testid="details">
      <h3 data-testid="details-name">{label}</h3>
      <div class="muted">
        cluster of {members.length} · {first?.stage ?? "no stage"}
      </div>
      {closed ? (
        <button data-testid="open-cluster" onClick={() => onOpen(clusterKey)}>
          Open to its resources
        </button>
      ) : (
        <button onClick={() => onClose(clusterKey)}>Close to one box</button>
      )}
      <h4>By type</h4>
      <ul class="plain">
        {typeCounts(members, 50).map((l) => (
          <li key={l}>{l}</li>
        ))}
      </ul>
      <h4>Links with the rest of the picture ({rows.length})</h4>
      <ul class="plain links">
        {rows.map((r) => (
          <li key={`${r.dir}-${r.kind}-${r.other}`} data-testid={`link-${r.dir}`} data-kind={r.kind}>
            {r.dir === "in" ? "← " : "→ "}
            <span class={`kind kind-${r.kind}`}>{r.kind}</span> {name.get(r.other) ?? r.other}{" "}
            {r.count > 1 && <small>×{r.count}</small>}
          </li>
        ))}
      </ul>
      <h4>Resources</h4>
      <ul class="plain">
        {shown.map((n) => (
          <li key={n.id}>
            <button class="link" onClick={() => onSelect(n.id)} title={n.id}>
              <span class={`owner-dot ${n.owner}`} /> {n.name}
            </button>{" "}
            <small class="muted">{n.type.replace(/^AWS::/, "")}</small>
          </li>
        ))}
        {members.length > shown.length && <li class="muted">and {members.length - shown.length} more</li>}
      </ul>
    </aside>
  );
}
