//! What the commands print: tables, findings, JSON, and the one confirmation prompt.

use stagecraft_analysis::audit::Finding;
use stagecraft_model::{AccountStatus, Error, ScanReport};

pub(crate) fn print_table(report: &ScanReport) {
    println!(
        "organization {} (management {}), profile `{}`, regions {}, {} ms",
        report.organization.id,
        report.organization.management_account_id,
        report.profile,
        report.regions.join(","),
        report.duration_ms
    );
    println!(
        "{:<14} {:<20} {:<12} {:<10} {:>9} {:>5} {:>5} {:>5} {:>5}  STATUS",
        "ACCOUNT", "NAME", "OU", "STAGE", "RESOURCES", "TF", "SLS", "UNMGD", "CONFL"
    );
    let count = |a: &stagecraft_model::Account, k: &str| a.counts.get(k).copied().unwrap_or(0);
    for a in &report.accounts {
        let status = match (&a.status, &a.error, &a.identity) {
            (AccountStatus::Error, Some(e), _) => format!("✗ {}", e.message),
            (AccountStatus::Partial, _, _) => format!(
                "◐ {}",
                a.collect_errors
                    .iter()
                    .map(|e| format!("{} {}: {}", e.collector.name(), e.region, e.code))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            (AccountStatus::OtherShard, _, _) => "→ another shard's".to_owned(),
            (_, _, Some(id)) => format!("✔ {}", id.arn),
            _ => "…".to_owned(),
        };
        println!(
            "{:<14} {:<20} {:<12} {:<10} {:>9} {:>5} {:>5} {:>5} {:>5}  {}",
            a.id,
            a.name,
            if a.ou_path.is_empty() {
                "(root)".to_owned()
            } else {
                a.ou_path.join("/")
            },
            a.stage
                .as_deref()
                .unwrap_or(if a.is_management { "mgmt" } else { "-" }),
            count(a, "resources"),
            count(a, "terraform"),
            count(a, "serverless"),
            count(a, "unmanaged"),
            count(a, "conflict"),
            status
        );
    }
    for t in &report.terraform {
        println!(
            "terraform {} (workspace {}, stage {}{}): {} resources{}{}",
            t.location,
            t.workspace,
            t.stage.as_deref().unwrap_or("-"),
            t.stage_evidence
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
            t.managed_resources,
            t.lock
                .as_ref()
                .map(|l| format!(", LOCKED by {}", l.who.as_deref().unwrap_or("?")))
                .unwrap_or_default(),
            t.error
                .as_ref()
                .map(|e| format!(", ✗ {}", e.message))
                .unwrap_or_default()
        );
    }
    print_coverage(report);
}

/// Regions, state buckets and what was not seen, after the accounts.
fn print_coverage(report: &ScanReport) {
    let c = &report.coverage;
    if c.region_source.is_empty() {
        return; // a snapshot from before coverage was recorded
    }
    let buckets: Vec<String> = c
        .state
        .state_buckets
        .iter()
        .map(|b| format!("s3://{} ({}, {} states)", b.bucket, b.account_id, b.states))
        .collect();
    println!(
        "regions: {} ({}); state searched in {} bucket(s) of {} account(s) with {} call(s){}",
        report.regions.join(", "),
        c.region_source,
        c.state.buckets_probed,
        c.state.accounts_searched,
        c.state.calls,
        if buckets.is_empty() {
            String::new()
        } else {
            format!(", found in {}", buckets.join(", "))
        }
    );
    for s in c.no_state.iter().chain(&c.skipped) {
        println!("not seen: {s}");
    }
}

pub(crate) fn print_findings(findings: &[Finding]) {
    if findings.is_empty() {
        println!("no findings");
        return;
    }
    let mut stage = None;
    for f in findings {
        if stage != Some(&f.stage) {
            stage = Some(&f.stage);
        }
        println!(
            "{:<6} {:<30} [{}] {}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.stage.as_deref().unwrap_or("-"),
            f.message
        );
        println!("       fix: {}", f.fix);
    }
}

/// Writes `value` as pretty JSON on stdout as it serialises (a report of 300,000 resources is
/// never held as one string).
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(|e| Error::io("writing JSON", std::io::Error::other(e)))?;
    writeln!(out)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("writing JSON", e))
}

/// Asks on the terminal and returns the answer, trimmed.
pub(crate) fn ask(prompt: &str) -> Result<String, Error> {
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::io("reading the confirmation", e))?;
    Ok(line.trim().to_owned())
}
