//! `stagecraft graph`: the links of a snapshot as text, JSON, DOT or Mermaid, narrowed to a stage or a neighbourhood.

use std::process::ExitCode;

use stagecraft_model::{Error, ScanReport};

use crate::args::*;
use crate::output::print_json;
use crate::source::{incomplete_accounts, report_for};
use stagecraft_analysis::graph::Graph;

/// The graph of the report, narrowed to a stage and/or a node's neighbourhood.
pub(crate) fn narrowed_graph(
    report: &ScanReport,
    stage: Option<&str>,
    focus: Option<(&str, usize)>,
) -> Result<Graph, Error> {
    let mut graph = Graph::build(report);
    if let Some(stage) = stage {
        let known: Vec<String> = report
            .accounts
            .iter()
            .filter_map(|a| a.stage.clone())
            .collect();
        if !known.iter().any(|s| s == stage) {
            return Err(Error::Input(format!(
                "no account of the snapshot is stage `{stage}`; stages: {}",
                known.join(", ")
            )));
        }
        graph = graph.stage(stage);
    }
    if let Some((focus, depth)) = focus {
        let id = if graph.node(focus).is_some() {
            focus.to_owned()
        } else {
            let named: Vec<&stagecraft_analysis::graph::Node> =
                graph.nodes().filter(|n| n.name == focus).collect();
            match named.as_slice() {
                [one] => one.id.to_string(),
                [] => {
                    return Err(Error::Input(format!(
                        "--focus `{focus}` is neither a node id nor a resource name in the graph"
                    )))
                }
                many => {
                    return Err(Error::Input(format!(
                        "--focus `{focus}` names {} nodes; pass one id: {}",
                        many.len(),
                        many.iter().map(|n| &*n.id).collect::<Vec<_>>().join(", ")
                    )))
                }
            }
        };
        graph = graph.focus(&id, depth);
    }
    Ok(graph)
}

pub(crate) async fn graph_cmd(args: GraphArgs) -> Result<ExitCode, Error> {
    let report = report_for(&args.source, &args.snapshot).await?;
    let graph = narrowed_graph(
        &report,
        args.stage.as_deref(),
        args.focus.as_deref().map(|f| (f, args.depth)),
    )?;
    match args.format {
        GraphFormat::Json => print_json(&graph.data())?,
        GraphFormat::Text => print!("{}", stagecraft_analysis::graph::to_text(&graph)),
        GraphFormat::Dot => print!("{}", stagecraft_analysis::graph::to_dot(&graph)),
        GraphFormat::Mermaid => print!("{}", stagecraft_analysis::graph::to_mermaid(&graph)),
    }
    if incomplete_accounts(&report) > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
