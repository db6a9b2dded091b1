//! Text, DOT and Mermaid renderings of a graph. All three are deterministic: nodes sorted by stage,
//! owner cluster and name, links by kind and target, so two renderings of the same snapshot diff clean.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Graph, Node};
use crate::link::LinkKind;

fn sorted_nodes(g: &Graph) -> Vec<&Node> {
    let mut nodes: Vec<&Node> = g.nodes().collect();
    nodes.sort_by(|a, b| {
        (&a.stage, &a.cluster, &a.type_name, &a.name, &a.id).cmp(&(
            &b.stage,
            &b.cluster,
            &b.type_name,
            &b.name,
            &b.id,
        ))
    });
    nodes
}

/// A short type label: `AWS::SSM::Parameter` → `SSM::Parameter`.
fn short_type(t: &str) -> &str {
    t.strip_prefix("AWS::").unwrap_or(t)
}

/// One line per node, its outgoing links indented under it with their evidence.
///
/// ```text
/// [qa] Terraform::Workspace qa (s3://state/env:/qa/core.tfstate) — terraform
///   ─ssm-write→ SSM::Parameter /db_pw_name  (`aws_ssm_parameter.db_pw_name` in workspace `qa` writes it)
/// ```
pub fn to_text(g: &Graph) -> String {
    let mut out = String::new();
    for n in sorted_nodes(g) {
        let stage = n.stage.as_deref().unwrap_or("-");
        let _ = write!(
            out,
            "[{stage}] {} {} — {}",
            short_type(&n.type_name),
            n.name,
            n.owner
        );
        if let Some(c) = &n.cluster {
            let _ = write!(out, " ({c})");
        }
        out.push('\n');
        let mut links = g.outgoing(&n.id, None);
        links.sort_by(|a, b| (a.0.kind, &a.1.name).cmp(&(b.0.kind, &b.1.name)));
        for (l, to) in links {
            let _ = writeln!(
                out,
                "  ─{}→ {} {}  ({})",
                l.kind,
                short_type(&to.type_name),
                to.name,
                l.evidence
            );
        }
    }
    out
}

fn owner_colour(owner: &str) -> &'static str {
    match owner {
        "terraform" => "#7b42bc",
        "serverless" => "#fd5750",
        "cloudformation" => "#ff9900",
        "conflict" => "#d00000",
        _ => "#808080",
    }
}

fn edge_style(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::SsmWrite | LinkKind::SsmRead => "bold",
        LinkKind::Names => "dashed",
        LinkKind::StackMember | LinkKind::InApi => "dotted",
        _ => "solid",
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Graphviz DOT: one cluster per stage, nodes coloured by owner (conflicts bold red), edges styled
/// by kind and labelled with it; left to right so Terraform → SSM → Serverless reads as the seam.
pub fn to_dot(g: &Graph) -> String {
    let mut out = String::from(
        "digraph stagecraft {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fillcolor=white, fontname=\"sans-serif\"];\n  edge [fontname=\"sans-serif\", fontsize=9];\n",
    );
    let mut by_stage: BTreeMap<&str, Vec<&Node>> = BTreeMap::new();
    for n in sorted_nodes(g) {
        by_stage
            .entry(n.stage.as_deref().unwrap_or(""))
            .or_default()
            .push(n);
    }
    for (i, (stage, nodes)) in by_stage.iter().enumerate() {
        let indent = if stage.is_empty() {
            "  "
        } else {
            let _ = writeln!(
                out,
                "  subgraph cluster_{i} {{\n    label=\"stage {}\";",
                dot_escape(stage)
            );
            "    "
        };
        for n in nodes {
            let colour = owner_colour(&n.owner);
            let pen = if &*n.owner == "conflict" { 3 } else { 1 };
            let _ = writeln!(
                out,
                "{indent}\"{}\" [label=\"{}\\n{}\", color=\"{colour}\", penwidth={pen}];",
                dot_escape(&n.id),
                dot_escape(short_type(&n.type_name)),
                dot_escape(&n.name),
            );
        }
        if !stage.is_empty() {
            out.push_str("  }\n");
        }
    }
    let mut links: Vec<_> = g.links().collect();
    links.sort();
    for l in links {
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}\", style={}];",
            dot_escape(l.from),
            dot_escape(l.to),
            l.kind,
            edge_style(l.kind)
        );
    }
    out.push_str("}\n");
    out
}

fn mermaid_label(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// Mermaid `flowchart LR`: one subgraph per stage, nodes numbered (ids are ARNs, which Mermaid
/// cannot take), classes per owner, edges labelled with their kind.
pub fn to_mermaid(g: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    let nodes = sorted_nodes(g);
    let ids: BTreeMap<&str, String> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (&*n.id, format!("n{i}")))
        .collect();
    let mut by_stage: BTreeMap<&str, Vec<&Node>> = BTreeMap::new();
    for n in &nodes {
        by_stage
            .entry(n.stage.as_deref().unwrap_or(""))
            .or_default()
            .push(n);
    }
    for (i, (stage, nodes)) in by_stage.iter().enumerate() {
        if !stage.is_empty() {
            let _ = writeln!(
                out,
                "  subgraph stage{i}[\"stage {}\"]",
                mermaid_label(stage)
            );
        }
        for n in nodes {
            let _ = writeln!(
                out,
                "    {}[\"{}<br/>{}\"]:::{}",
                ids[&*n.id],
                mermaid_label(short_type(&n.type_name)),
                mermaid_label(&n.name),
                n.owner
            );
        }
        if !stage.is_empty() {
            out.push_str("  end\n");
        }
    }
    let mut links: Vec<_> = g.links().collect();
    links.sort();
    for l in links {
        let arrow = match l.kind {
            LinkKind::SsmWrite | LinkKind::SsmRead => "==>",
            LinkKind::Names | LinkKind::StackMember | LinkKind::InApi => "-.->",
            _ => "-->",
        };
        let _ = writeln!(out, "  {} {arrow}|{}| {}", ids[l.from], l.kind, ids[l.to]);
    }
    for owner in [
        "terraform",
        "serverless",
        "cloudformation",
        "unmanaged",
        "conflict",
    ] {
        let _ = writeln!(
            out,
            "  classDef {owner} stroke:{},stroke-width:{}px",
            owner_colour(owner),
            if owner == "conflict" { 3 } else { 1 }
        );
    }
    out
}
