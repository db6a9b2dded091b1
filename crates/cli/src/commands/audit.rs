//! `stagecraft audit`: the findings, with an exit code a CI job can gate on.

use std::process::ExitCode;

use stagecraft_model::Error;

use crate::args::*;
use crate::output::{print_findings, print_json};
use crate::source::{incomplete_accounts, report_for};
use stagecraft_analysis::graph::Graph;

pub(crate) async fn audit_cmd(args: AuditArgs) -> Result<ExitCode, Error> {
    let report = report_for(&args.source, &args.snapshot).await?;
    let graph = Graph::build(&report);
    let mut findings = stagecraft_analysis::audit::audit(&report, &graph);
    if let Some(stage) = &args.stage {
        let known = report
            .accounts
            .iter()
            .any(|a| a.stage.as_deref() == Some(stage));
        if !known {
            return Err(Error::Input(format!(
                "no account of the snapshot is stage `{stage}`"
            )));
        }
        findings.retain(|f| f.stage.as_deref() == Some(stage.as_str()));
    }
    let format = if args.json {
        AuditFormat::Json
    } else {
        args.format
    };
    match format {
        AuditFormat::Json => print_json(&stagecraft_analysis::audit::AuditReport::new(
            &report,
            findings.clone(),
        ))?,
        AuditFormat::Markdown => print!(
            "{}",
            stagecraft_analysis::audit::to_markdown(&report, &findings)
        ),
        AuditFormat::Text => print_findings(&findings),
    }
    let incomplete = incomplete_accounts(&report) > 0;
    let failing = findings
        .iter()
        .filter(|f| f.severity >= args.fail_on)
        .count();
    if failing > 0 {
        eprintln!("{failing} finding(s) at or above {}", args.fail_on.as_str());
        return Ok(ExitCode::from(3));
    }
    if incomplete {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
