//! The graph of a snapshot: resources (and Terraform workspaces, undeployed services) as nodes, the
//! inferred links as edges. It is what the window draws, what the exports write and what the audit
//! reads, so all three agree.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::intern::Interner;
use crate::link::{self, Link, LinkKind};
use crate::model::{Owner, Resource, ScanReport};

mod render;
pub use render::{to_dot, to_mermaid, to_text};

/// One node of the graph. Its strings are shared: the id with the graph's index and links, the
/// type, account, stage, owner and cluster with every node that has the same (a large
/// organization's graph would otherwise hold each of them once per node).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Node {
    /// The resource id (an ARN), or `terraform:<state>` / `serverless:<account>/<stack>`.
    #[ts(as = "String")]
    pub id: Arc<str>,
    #[serde(rename = "type")]
    #[ts(as = "String")]
    pub type_name: Arc<str>,
    pub name: String,
    #[ts(as = "Option<String>")]
    pub account_id: Option<Arc<str>>,
    #[ts(as = "Option<String>")]
    pub stage: Option<Arc<str>>,
    /// `terraform`, `serverless`, `cloudformation`, `unmanaged` or `conflict`; Terraform workspaces
    /// are `terraform`, undeployed services `serverless`.
    #[ts(as = "String")]
    pub owner: Arc<str>,
    /// What the node groups under when collapsed: `workspace qa · module.api`, `stack orders-qa`, …
    #[ts(as = "Option<String>")]
    pub cluster: Option<Arc<str>>,
}

impl Node {
    fn of(r: &Resource, strings: &mut Interner) -> Node {
        let cluster = match &r.owner {
            Owner::Terraform(c) => Some(terraform_cluster(&c.workspace, &c.address)),
            Owner::Serverless(c) => Some(format!("stack {}", c.stack)),
            Owner::Cloudformation(c) => Some(format!("stack {}", c.stack)),
            Owner::Unmanaged | Owner::Conflict { .. } => None,
        };
        Node {
            id: strings.get(&r.id),
            type_name: strings.get(&r.type_name),
            name: r.name.clone(),
            account_id: Some(strings.get(&r.account_id)),
            stage: strings.get_opt(r.stage.as_deref()),
            owner: strings.get(r.owner.kind()),
            cluster: strings.get_opt(cluster.as_deref()),
        }
    }

    pub fn is_parameter(&self) -> bool {
        &*self.type_name == crate::model::types::ssm::TYPE
    }

    /// A stack, or a service that is not deployed: what `serverless deploy` redeploys.
    pub fn is_deployable(&self) -> bool {
        &*self.type_name == crate::model::types::cloudformation::STACK_TYPE
            || &*self.type_name == link::SERVERLESS_SERVICE
    }
}

/// A link as the graph holds it: its ends are its nodes, its evidence shared with every link
/// that gives the same reason.
#[derive(Debug, Clone)]
struct Edge {
    kind: LinkKind,
    evidence: Arc<str>,
}

/// A link of the graph, borrowed from it; serialises as a [`Link`].
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct LinkRef<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub kind: LinkKind,
    pub evidence: &'a str,
}

impl LinkRef<'_> {
    pub fn to_link(&self) -> Link {
        Link {
            from: self.from.to_owned(),
            to: self.to.to_owned(),
            kind: self.kind,
            evidence: self.evidence.to_owned(),
        }
    }
}

/// `workspace qa · module.api` for `module.api.aws_x.y`, `workspace qa` at the root.
fn terraform_cluster(workspace: &str, address: &str) -> String {
    let mut modules = Vec::new();
    let mut parts = address.split('.');
    while let (Some("module"), Some(name)) = (parts.next(), parts.next()) {
        modules.push(format!("module.{name}"));
    }
    if modules.is_empty() {
        format!("workspace {workspace}")
    } else {
        format!("workspace {workspace} · {}", modules.join("."))
    }
}

/// The graph as the JSON export and the window receive it.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct GraphData {
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
}

/// The part of the graph the window shows: it never holds the whole organization's graph, which
/// at a thousand accounts is hundreds of thousands of nodes.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum Scope {
    /// One stage's nodes; `""` is the whole organization.
    Stage { stage: String },
    /// The nodes within `depth` links of `ids`, either direction, across stages.
    Around { ids: Vec<String>, depth: u32 },
    /// One account's nodes and those one link from them.
    Account { account: String },
}

/// The most nodes [`Graph::part`] answers with: past it a window spends seconds and hundreds of
/// megabytes on a picture nobody can read, and a stage, an account or a neighbourhood is asked for
/// instead.
pub const PART_AT_MOST: usize = 25_000;

/// A part of the graph larger than [`PART_AT_MOST`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{nodes} resources are too many to draw at once (at most {PART_AT_MOST}): pick a stage or \
     an account, or search for a resource and show its neighbourhood"
)]
pub struct TooLarge {
    pub nodes: usize,
}

/// A stack (or undeployed service) to redeploy because something it reads changes, and through what.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Redeploy {
    pub node: String,
    pub name: String,
    pub stage: Option<String>,
    /// The parameters through which the change reaches it.
    pub via: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Graph {
    g: DiGraph<Node, Edge>,
    index: HashMap<Arc<str>, NodeIndex>,
}

impl Graph {
    /// The graph of a snapshot.
    pub fn build(report: &ScanReport) -> Graph {
        // The links' ends are already shared; the nodes take the same copies.
        let (links, extra_nodes, mut strings) = link::infer_shared(report);
        let mut nodes: Vec<Node> = Vec::with_capacity(report.resources.len());
        for r in &report.resources {
            nodes.push(Node::of(r, &mut strings));
        }
        for e in extra_nodes {
            let owner = if e.type_name == link::TERRAFORM_WORKSPACE {
                "terraform"
            } else {
                "serverless"
            };
            nodes.push(Node {
                owner: strings.get(owner),
                cluster: None,
                id: strings.get(&e.id),
                type_name: strings.get(&e.type_name),
                name: e.name,
                account_id: strings.get_opt(e.account_id.as_deref()),
                stage: strings.get_opt(e.stage.as_deref()),
            });
        }
        Graph::assemble(nodes, links, strings)
    }

    /// A graph of the given nodes; links whose ends are not among them are dropped.
    pub fn from_parts(nodes: Vec<Node>, links: Vec<Link>) -> Graph {
        let links = links
            .into_iter()
            .map(|l| link::Shared {
                from: Arc::from(l.from),
                to: Arc::from(l.to),
                kind: l.kind,
                evidence: Arc::from(l.evidence),
            })
            .collect();
        Graph::assemble(nodes, links, Interner::default())
    }

    fn assemble(nodes: Vec<Node>, links: Vec<link::Shared>, mut strings: Interner) -> Graph {
        let mut g = DiGraph::with_capacity(nodes.len(), links.len());
        let mut index = HashMap::with_capacity(nodes.len());
        for n in nodes {
            if index.contains_key(&n.id) {
                continue;
            }
            let id = n.id.clone();
            index.insert(id, g.add_node(n));
        }
        for l in links {
            if let (Some(&a), Some(&b)) = (index.get(&*l.from), index.get(&*l.to)) {
                let edge = Edge {
                    kind: l.kind,
                    evidence: strings.get(&l.evidence),
                };
                g.add_edge(a, b, edge);
            }
        }
        Graph { g, index }
    }

    /// The link `e` as it is written out.
    fn link(&self, e: petgraph::graph::EdgeIndex) -> Option<LinkRef<'_>> {
        let (a, b) = self.g.edge_endpoints(e)?;
        let edge = &self.g[e];
        Some(LinkRef {
            from: &self.g[a].id,
            to: &self.g[b].id,
            kind: edge.kind,
            evidence: &edge.evidence,
        })
    }

    pub fn data(&self) -> GraphData {
        GraphData {
            nodes: self.nodes().cloned().collect(),
            links: self.links().map(|l| l.to_link()).collect(),
        }
    }

    /// The nodes `scope` takes and the links between them, in the graph's order; a part of more
    /// than [`PART_AT_MOST`] nodes is refused before it is built.
    pub fn part(&self, scope: &Scope) -> Result<GraphData, TooLarge> {
        let kept = match scope {
            Scope::Stage { stage } if stage.is_empty() => vec![true; self.g.node_count()],
            Scope::Stage { stage } => self.kept_stage(stage),
            Scope::Around { ids, depth } => self.kept_around(ids, *depth as usize),
            Scope::Account { account } => {
                let starts = self
                    .g
                    .node_indices()
                    .filter(|&i| self.g[i].account_id.as_deref() == Some(account.as_str()));
                self.kept(&self.within(starts, 1))
            }
        };
        let nodes = kept.iter().filter(|k| **k).count();
        if nodes > PART_AT_MOST {
            return Err(TooLarge { nodes });
        }
        Ok(self.data_of(&kept))
    }

    /// The `kept` nodes and the links among them, in the graph's order.
    fn data_of(&self, kept: &[bool]) -> GraphData {
        GraphData {
            nodes: self
                .g
                .node_indices()
                .filter(|i| kept[i.index()])
                .map(|i| self.g[i].clone())
                .collect(),
            links: self.links_among(kept).map(|l| l.to_link()).collect(),
        }
    }

    fn kept_stage(&self, stage: &str) -> Vec<bool> {
        self.g
            .node_weights()
            .map(|n| n.stage.as_deref() == Some(stage))
            .collect()
    }

    /// The nodes within `depth` links of any of `ids`; ids not in the graph are passed over.
    fn kept_around(&self, ids: &[impl AsRef<str>], depth: usize) -> Vec<bool> {
        let starts = ids
            .iter()
            .filter_map(|id| self.index.get(id.as_ref()).copied());
        self.kept(&self.within(starts, depth))
    }

    fn kept(&self, seen: &BTreeSet<NodeIndex>) -> Vec<bool> {
        let mut kept = vec![false; self.g.node_count()];
        for i in seen {
            kept[i.index()] = true;
        }
        kept
    }

    /// The links whose both ends are `kept`.
    fn links_among<'a>(&'a self, kept: &'a [bool]) -> impl Iterator<Item = LinkRef<'a>> + 'a {
        self.g.edge_indices().filter_map(move |e| {
            let (a, b) = self.g.edge_endpoints(e)?;
            if kept[a.index()] && kept[b.index()] {
                self.link(e)
            } else {
                None
            }
        })
    }

    /// Up to `limit` nodes whose name or id holds `query` (case-insensitive): those of `stage`
    /// first, then the shortest names.
    pub fn find(&self, query: &str, stage: Option<&str>, limit: usize) -> Vec<Node> {
        let q = query.trim().to_lowercase();
        if q.is_empty() {
            return Vec::new();
        }
        let mut found: Vec<&Node> = self
            .g
            .node_weights()
            .filter(|n| n.name.to_lowercase().contains(&q) || n.id.to_lowercase().contains(&q))
            .collect();
        found.sort_by_key(|n| (stage.is_none() || n.stage.as_deref() != stage, n.name.len()));
        found.into_iter().take(limit).cloned().collect()
    }

    /// How many nodes each account has (nodes outside every account are not counted).
    pub fn account_sizes(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for n in self.g.node_weights() {
            if let Some(a) = &n.account_id {
                *out.entry(a.to_string()).or_default() += 1;
            }
        }
        out
    }

    /// How many nodes each stage has (`""`: outside every stage).
    pub fn stage_sizes(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for n in self.g.node_weights() {
            *out.entry(n.stage.as_deref().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        out
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.index.get(id).map(|&i| &self.g[i])
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.g.node_weights()
    }

    /// Every link, in the graph's order.
    pub fn links(&self) -> impl Iterator<Item = LinkRef<'_>> {
        self.g.edge_indices().filter_map(|e| self.link(e))
    }

    pub fn node_count(&self) -> usize {
        self.g.node_count()
    }

    pub fn link_count(&self) -> usize {
        self.g.edge_count()
    }

    /// Links leaving `id` (of `kind`, if given) with the node at their other end.
    pub fn outgoing(&self, id: &str, kind: Option<LinkKind>) -> Vec<(LinkRef<'_>, &Node)> {
        self.edges(id, kind, Direction::Outgoing)
    }

    /// Links arriving at `id` (of `kind`, if given) with the node at their other end.
    pub fn incoming(&self, id: &str, kind: Option<LinkKind>) -> Vec<(LinkRef<'_>, &Node)> {
        self.edges(id, kind, Direction::Incoming)
    }

    fn edges(&self, id: &str, kind: Option<LinkKind>, dir: Direction) -> Vec<(LinkRef<'_>, &Node)> {
        use petgraph::visit::EdgeRef;
        let Some(&i) = self.index.get(id) else {
            return Vec::new();
        };
        let mut out: Vec<(LinkRef<'_>, &Node)> = self
            .g
            .edges_directed(i, dir)
            .filter(|e| kind.is_none_or(|k| e.weight().kind == k))
            .filter_map(|e| {
                let other = match dir {
                    Direction::Outgoing => e.target(),
                    Direction::Incoming => e.source(),
                };
                Some((self.link(e.id())?, &self.g[other]))
            })
            .collect();
        out.sort_by(|a, b| (&a.1.name, &a.1.id).cmp(&(&b.1.name, &b.1.id)));
        out
    }

    /// Every node linked to `id`, either way.
    pub fn neighbours(&self, id: &str) -> Vec<&Node> {
        let mut seen = BTreeSet::new();
        self.outgoing(id, None)
            .into_iter()
            .chain(self.incoming(id, None))
            .map(|(_, n)| n)
            .filter(|n| seen.insert(n.id.clone()))
            .collect()
    }

    /// Who reads a parameter: stacks, services and functions at the end of its `ssm-read` links.
    pub fn consumers(&self, parameter: &str) -> Vec<&Node> {
        self.outgoing(parameter, Some(LinkKind::SsmRead))
            .into_iter()
            .map(|(_, n)| n)
            .collect()
    }

    /// What must be redeployed if `id` changes: for a parameter, the stacks (or undeployed services)
    /// that read it, directly or through one of their functions; for any other resource, those of
    /// every parameter whose value names it.
    pub fn redeploy_if_changed(&self, id: &str) -> Vec<Redeploy> {
        let params: Vec<&Node> = match self.node(id) {
            Some(n) if n.is_parameter() => vec![n],
            Some(_) => self
                .incoming(id, Some(LinkKind::Names))
                .into_iter()
                .map(|(_, n)| n)
                .collect(),
            None => Vec::new(),
        };
        let mut out: BTreeMap<String, Redeploy> = BTreeMap::new();
        for p in params {
            for reader in self.consumers(&p.id) {
                let targets: Vec<&Node> = if reader.is_deployable() {
                    vec![reader]
                } else {
                    self.incoming(&reader.id, Some(LinkKind::StackMember))
                        .into_iter()
                        .map(|(_, s)| s)
                        .collect()
                };
                for t in targets {
                    let entry = out.entry(t.id.to_string()).or_insert_with(|| Redeploy {
                        node: t.id.to_string(),
                        name: t.name.clone(),
                        stage: t.stage.as_deref().map(str::to_owned),
                        via: Vec::new(),
                    });
                    if !entry.via.contains(&p.name) {
                        entry.via.push(p.name.clone());
                    }
                }
            }
        }
        out.into_values().collect()
    }

    /// The nodes within `depth` links of `id` (either direction), and the links among them.
    pub fn focus(&self, id: &str, depth: usize) -> Graph {
        self.around(&[id], depth)
    }

    /// The nodes within `depth` links of any of `ids` (either direction), and the links among
    /// them; ids not in the graph are passed over.
    pub fn around(&self, ids: &[impl AsRef<str>], depth: usize) -> Graph {
        self.subgraph(&self.kept_around(ids, depth))
    }

    /// `starts` and the nodes within `depth` links of them, either direction.
    fn within(&self, starts: impl Iterator<Item = NodeIndex>, depth: usize) -> BTreeSet<NodeIndex> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::new();
        for start in starts {
            if seen.insert(start) {
                queue.push_back((start, 0));
            }
        }
        while let Some((i, d)) = queue.pop_front() {
            if d == depth {
                continue;
            }
            for n in self.g.neighbors_undirected(i) {
                if seen.insert(n) {
                    queue.push_back((n, d + 1));
                }
            }
        }
        seen
    }

    /// The nodes of one stage (Terraform workspaces and undeployed services included).
    pub fn stage(&self, stage: &str) -> Graph {
        self.subgraph(&self.kept_stage(stage))
    }

    /// The `kept` nodes and only the links among them (a stage of a large organization is a small
    /// part).
    fn subgraph(&self, kept: &[bool]) -> Graph {
        let GraphData { nodes, links } = self.data_of(kept);
        Graph::from_parts(nodes, links)
    }

    /// The order things have to exist in: an edge from each prerequisite to what needs it.
    fn order_graph(&self) -> DiGraph<NodeIndex, ()> {
        let mut d = DiGraph::with_capacity(self.g.node_count(), self.g.edge_count());
        let map: Vec<NodeIndex> = self.g.node_indices().map(|i| d.add_node(i)).collect();
        for e in self.g.edge_indices() {
            let Some((a, b)) = self.g.edge_endpoints(e) else {
                continue;
            };
            match self.g[e].kind.points_at_prerequisite() {
                Some(true) => {
                    d.update_edge(map[b.index()], map[a.index()], ());
                }
                Some(false) => {
                    d.update_edge(map[a.index()], map[b.index()], ());
                }
                None => {}
            }
        }
        d
    }

    /// Groups of nodes that need each other (each listed by id, sorted), largest first.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let d = self.order_graph();
        let mut out: Vec<Vec<String>> = tarjan_scc(&d)
            .into_iter()
            .filter(|scc| scc.len() > 1)
            .map(|scc| {
                let mut ids: Vec<String> =
                    scc.iter().map(|&i| self.g[d[i]].id.to_string()).collect();
                ids.sort();
                ids
            })
            .collect();
        out.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        out
    }

    /// Node ids in an order where every prerequisite comes first (ties by id, so it is stable), or
    /// the ids of a cycle that prevents one.
    pub fn topological_order(&self) -> Result<Vec<String>, Vec<String>> {
        let d = self.order_graph();
        match toposort(&d, None) {
            Ok(_) => {
                // Kahn's algorithm with a sorted frontier: same input, same order.
                let mut indeg: Vec<usize> = d
                    .node_indices()
                    .map(|i| d.neighbors_directed(i, Direction::Incoming).count())
                    .collect();
                let mut ready: BTreeSet<(&str, usize)> = d
                    .node_indices()
                    .filter(|i| indeg[i.index()] == 0)
                    .map(|i| (&*self.g[d[i]].id, i.index()))
                    .collect();
                let mut out = Vec::with_capacity(d.node_count());
                while let Some(first) = ready.pop_first() {
                    let i = NodeIndex::new(first.1);
                    out.push(first.0.to_owned());
                    for n in d.neighbors_directed(i, Direction::Outgoing) {
                        indeg[n.index()] -= 1;
                        if indeg[n.index()] == 0 {
                            ready.insert((&*self.g[d[n]].id, n.index()));
                        }
                    }
                }
                Ok(out)
            }
            Err(_) => Err(self.cycles().into_iter().next().unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests;
