//! Everything the window draws from one snapshot, computed once in the core: the graph, the findings
//! and the stage matrix. The window never infers anything itself.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::audit::{audit, Finding};
use crate::graph::{Graph, GraphData};
use crate::matrix::{stage_matrix, StageMatrix};
use crate::model::ScanReport;

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Analysis {
    /// When the analysed snapshot's scan started.
    pub started_at: String,
    pub graph: GraphData,
    pub findings: Vec<Finding>,
    pub matrix: StageMatrix,
}

pub fn analyse(report: &ScanReport) -> Analysis {
    let graph = Graph::build(report);
    let findings = audit(report, &graph);
    Analysis {
        started_at: report.started_at.clone(),
        graph: graph.data(),
        findings,
        matrix: stage_matrix(report),
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::{account, Org};

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
