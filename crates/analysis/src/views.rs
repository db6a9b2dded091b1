//! Everything the window draws from one snapshot, computed once in the core: the graph, the findings
//! and the stage matrix. The window never infers anything itself.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::audit::{audit, Finding};
use crate::graph::Graph;
use crate::matrix::{stage_matrix, StageMatrix};
use crate::model::ScanReport;

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Analysis {
    /// When the analysed snapshot's scan started.
    pub started_at: String,
    /// How many graph nodes each stage has (`""`: outside every stage). The window asks the core
    /// for the part of the graph it shows ([`Graph::part`]), never for all of it.
    pub graph_sizes: BTreeMap<String, u32>,
    /// How many graph nodes each account has: a stage too large to draw at once is shown an
    /// account at a time.
    pub account_sizes: BTreeMap<String, u32>,
    /// The most nodes the core sends at once ([`crate::graph::PART_AT_MOST`]): a larger stage is
    /// shown an account at a time.
    pub graph_at_most: u32,
    pub findings: Vec<Finding>,
    /// The names of the nodes the findings name.
    pub names: BTreeMap<String, String>,
    pub matrix: StageMatrix,
    /// Per account: how many of its resources wait out a deletion window (a secret deleted with a
    /// recovery window, a KMS key scheduled for deletion).
    pub in_deletion_window: BTreeMap<String, u32>,
}

/// The analysis of a snapshot and the graph it was drawn from (which the window queries a part at
/// a time).
pub fn analyse_with_graph(report: &ScanReport) -> (Analysis, Graph) {
    let graph = Graph::build(report);
    let findings = audit(report, &graph);
    let names = findings
        .iter()
        .flat_map(|f| &f.resources)
        .filter_map(|id| Some((id.clone(), graph.node(id)?.name.clone())))
        .collect();
    let analysis = Analysis {
        started_at: report.started_at.clone(),
        graph_sizes: graph.stage_sizes(),
        account_sizes: graph.account_sizes(),
        graph_at_most: crate::graph::PART_AT_MOST as u32,
        findings,
        names,
        matrix: stage_matrix(report),
        in_deletion_window: in_deletion_window(report),
    };
    (analysis, graph)
}

pub fn analyse(report: &ScanReport) -> Analysis {
    analyse_with_graph(report).0
}

fn in_deletion_window(report: &ScanReport) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for r in &report.resources {
        if r.attr_str("key_state") == Some("PendingDeletion")
            || r.attr_str("deleted_date").is_some()
        {
            *out.entry(r.account_id.clone()).or_default() += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::model::change::{ChangeEvent, Provenance, Tool};
    use crate::model::Owner;
    use crate::testkit::{account, seam, Org};

    /// The window holds no resources: what its views count and show per cell comes from here.
    #[test]
    fn the_window_gets_each_accounts_deletion_windows_and_each_cells_last_change() {
        let mut org = Org::new(&["dev", "qa"]);
        for s in ["dev", "qa"] {
            seam(&mut org, s);
        }
        org.add(
            "dev",
            "AWS::KMS::Key",
            "arn:aws:kms:us-east-1:1:key/k",
            "k",
            Owner::Unmanaged,
            &[("key_state", "PendingDeletion".into())],
        );
        org.add(
            "dev",
            "AWS::SecretsManager::Secret",
            "arn:aws:secretsmanager:us-east-1:1:secret:s",
            "s",
            Owner::Unmanaged,
            &[("deleted_date", "2026-12-06T02:00:00Z".into())],
        );
        org.add(
            "qa",
            "AWS::KMS::Key",
            "arn:aws:kms:us-east-1:2:key/live",
            "live",
            Owner::Unmanaged,
            &[("key_state", "Enabled".into())],
        );
        let change = ChangeEvent {
            id: "e1".into(),
            at: "2026-12-01T10:00:00Z".into(),
            account_id: account("qa"),
            region: "us-east-1".into(),
            source: "lambda.amazonaws.com".into(),
            action: "UpdateFunctionConfiguration20150331v2".into(),
            who: "user bob".into(),
            who_arn: None,
            tool: Tool::Console,
            user_agent: "console".into(),
            targets: Vec::new(),
            window_days: None,
        };
        let changed = org
            .report
            .resources
            .iter_mut()
            .find(|r| r.type_name == "AWS::Lambda::Function" && r.stage.as_deref() == Some("qa"))
            .expect("a qa function");
        changed.changed = Some(Box::new(Provenance {
            created: None,
            last_change: Some(change.clone()),
        }));
        let changed_id = changed.id.clone();

        let a = super::analyse(&org.report);
        assert_eq!(
            a.in_deletion_window.into_iter().collect::<Vec<_>>(),
            [(account("dev"), 2)],
            "qa's enabled key waits out nothing"
        );
        let cells: Vec<_> = a
            .matrix
            .rows
            .iter()
            .flat_map(|r| r.cells.values())
            .filter(|c| c.last_change.is_some())
            .collect();
        assert_eq!(cells.len(), 1, "{cells:?}");
        assert_eq!(cells[0].id.as_deref(), Some(changed_id.as_str()));
        assert_eq!(cells[0].last_change.as_ref(), Some(&change));
    }

    #[test]
    fn what_the_snapshot_does_not_know_is_refused() {
        let org = Org::new(&["dev", "qa"]);
        assert!(org.report.require_stage("qa").is_ok());
        let e = org.report.require_stage("prod").unwrap_err();
        assert_eq!(e.to_string(), "no account of the snapshot is stage `prod`");
        assert!(org.report.require_stage("").is_err());
        assert!(org.report.require_account(&account("dev")).is_ok());
        assert!(org.report.require_account("999999999999").is_err());
        assert!(org.report.require_account("../etc/passwd").is_err());
    }
}
