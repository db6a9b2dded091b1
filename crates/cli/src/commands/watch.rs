//! `stagecraft watch` and `stagecraft scan --since-last`: the incremental refresh. Each pass reads
//! every account's CloudTrail history since the latest snapshot, prints each change with who made
//! it and with which tool, reads again only what changed and stores the patched snapshot; when the
//! history cannot say what changed, it says why and scans in full.

use std::process::ExitCode;

use stagecraft_analysis::{audit, graph};
use stagecraft_aws::credentials::AwsEnv;
use stagecraft_aws::scan::{self, Pass, Refresher, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::change::ChangeEvent;
use stagecraft_model::{Error, ScanReport};
use stagecraft_store::Store;

use crate::args::{ScanArgs, SourceArgs, WatchArgs};
use crate::output::{print_json, print_table};
use crate::source::{incomplete_accounts, open_store_at, organization, profile_of};

/// The organization followed from pass to pass: its latest snapshot and each account's
/// credentials, kept between passes.
struct Follower {
    env: AwsEnv,
    workspace: Workspace,
    opts: ScanOptions,
    refresher: Refresher,
    store: Store,
    latest: Option<ScanReport>,
}

impl Follower {
    async fn new(args: &SourceArgs) -> Result<Follower, Error> {
        let workspace = match &args.config {
            Some(path) => Workspace::load(path)?,
            None => Workspace::default(),
        };
        let store = open_store_at(args.store.as_deref())?;
        let org = organization(&store, None, profile_of(args, &workspace).as_deref())?;
        let latest = match org {
            Some(org) => store.latest_in(Some(&org))?,
            None => None,
        };
        let opts = scan::with_store_key(
            &ScanOptions {
                profile: args.profile.clone(),
                regions: args.regions.clone(),
                parallelism: args.parallelism,
                sso_roles: stagecraft_model::signin::SsoRoles {
                    all: args.sso_role.clone(),
                    ..Default::default()
                },
                ..ScanOptions::default()
            },
            &store,
        )?;
        let env = AwsEnv::from_environment();
        let refresher = Refresher::new(&env, &workspace, &opts).await?;
        Ok(Follower {
            env,
            workspace,
            opts,
            refresher,
            store,
            latest,
        })
    }

    async fn pass(&mut self) -> Result<Pass, Error> {
        let pass = scan::refresh_and_store(
            &self.env,
            &self.workspace,
            &self.opts,
            &self.refresher,
            self.latest.as_ref(),
            &mut self.store,
            &|_| {},
        )
        .await?;
        let keep = match &pass {
            Pass::Refreshed { stored: None, .. } => false,
            Pass::Refreshed { .. } | Pass::Scanned { .. } => true,
        };
        if keep {
            self.latest = Some(pass.report().clone());
        }
        Ok(pass)
    }
}

/// `scan --since-last`: one pass, then the accounts as `scan` prints them.
pub(crate) async fn since_last(args: ScanArgs) -> Result<ExitCode, Error> {
    let mut follower = Follower::new(&args.source).await?;
    let before = follower.latest.clone();
    let pass = follower.pass().await?;
    report_pass(&pass, before.as_ref(), follower.store.path(), args.json);
    if args.json {
        print_json(pass.report())?;
    } else {
        print_table(pass.report());
    }
    if incomplete_accounts(pass.report()) > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn watch_cmd(args: WatchArgs) -> Result<ExitCode, Error> {
    let mut follower = Follower::new(&args.source).await?;
    eprintln!(
        "watching every {} s (Ctrl-C stops); each change is printed as it arrives",
        args.interval
    );
    let mut done = 0u64;
    loop {
        let before = follower.latest.clone();
        match follower.pass().await {
            Ok(pass) => report_pass(&pass, before.as_ref(), follower.store.path(), args.json),
            // One failed pass (the network, an expired sign-in) is said; the next one tries again.
            Err(e) => eprintln!("{} this pass failed: {e}", now()),
        }
        done += 1;
        if args.passes.is_some_and(|n| done >= n) {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(args.interval)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}

fn now() -> String {
    stagecraft_aws::collect::cloudtrail::rfc3339(time::OffsetDateTime::now_utc())
}

/// What a pass found: each change (oldest first), the findings it brought, what was read again
/// and where it was stored; as one JSON line with `--json`.
fn report_pass(pass: &Pass, before: Option<&ScanReport>, store: &std::path::Path, json: bool) {
    let report = pass.report();
    let fresh = |r: &ScanReport| {
        let g = graph::Graph::build(r);
        audit::audit(r, &g)
    };
    let summary = pass.summary();
    // Only a pass that stored a snapshot can have brought a finding: a quiet one audits nothing.
    let new_findings: Vec<audit::Finding> = match (before, summary.snapshot) {
        (Some(b), Some(_)) => {
            let old: std::collections::HashSet<String> =
                fresh(b).into_iter().map(|f| f.message).collect();
            fresh(report)
                .into_iter()
                .filter(|f| !old.contains(&f.message))
                .collect()
        }
        _ => Vec::new(),
    };
    if json {
        let mut line = serde_json::to_value(&summary).unwrap_or_default();
        line["findings"] = serde_json::to_value(&new_findings).unwrap_or_default();
        println!("{line}");
        return;
    }
    let (changes, reread, stored, full) = (
        &summary.changes,
        &summary.read_again,
        summary.snapshot,
        summary.full_scan.as_deref(),
    );
    for c in changes.iter().rev() {
        println!("{}", describe(c, report));
    }
    for f in &new_findings {
        println!("  finding {}: {} — {}", f.rule, f.message, f.fix);
    }
    if let Some(from) = summary
        .history_from
        .as_deref()
        .filter(|_| !changes.is_empty())
    {
        eprintln!("{} history read from {from}", now());
    }
    if let Some(why) = full {
        eprintln!("{} scanned the whole organization: {why}", now());
    } else if !reread.is_empty() {
        let mut places: Vec<String> = reread
            .iter()
            .map(|r| format!("{} {} {}", r.collector.name(), r.account_id, r.region))
            .collect();
        places.dedup();
        eprintln!("{} read again: {}", now(), places.join(", "));
    }
    for s in &summary.states_written {
        eprintln!(
            "{} state {s} was written with no CloudTrail event (an import, a state rm or mv): read again",
            now()
        );
    }
    match stored {
        Some(id) => eprintln!("stored as snapshot {id} in {}", store.display()),
        None if changes.is_empty() => {
            if let Some(b) = before {
                eprintln!("{} no change since the snapshot of {}", now(), b.started_at);
            }
        }
        None => {}
    }
}

/// `2026-12-04T16:30:01Z dev (111111111111) eu-west-1 UpdateFunctionConfiguration api-dev-hello,
/// by role X (session y) with the AWS console`
fn describe(c: &ChangeEvent, report: &ScanReport) -> String {
    let stage = report
        .accounts
        .iter()
        .find(|a| a.id == c.account_id)
        .and_then(|a| a.stage.as_deref())
        .unwrap_or("-");
    let what: Vec<&str> = c
        .targets
        .iter()
        .map(|t| t.name.rsplit([':', '/']).next().unwrap_or(&t.name))
        .collect();
    format!(
        "{} {stage} ({}) {} {} {}, by {} with {}",
        c.at,
        c.account_id,
        c.region,
        c.action,
        if what.is_empty() {
            c.source.clone()
        } else {
            what.join(", ")
        },
        c.who,
        c.tool.label()
    )
}

#[cfg(test)]
mod tests {
    use stagecraft_model::change::{ChangeEvent, ChangeTarget, Tool};

    #[test]
    fn a_change_reads_as_when_where_what_and_who_with_which_tool() {
        let report: stagecraft_model::ScanReport = serde_json::from_value(serde_json::json!({
            "profile": "master", "regions": ["us-east-1"],
            "organization": {"id": "o-1", "management_account_id": "1", "root_id": "r-1", "ous": []},
            "accounts": [], "resources": [], "stacks": [], "terraform": [], "services": [],
            "warnings": [], "started_at": "2026-12-04T10:00:00Z", "duration_ms": 1
        }))
        .expect("a report");
        let change = ChangeEvent {
            id: "e1".into(),
            at: "2026-12-04T10:00:05Z".into(),
            account_id: "111111111111".into(),
            region: "eu-west-1".into(),
            source: "lambda.amazonaws.com".into(),
            action: "UpdateFunctionConfiguration".into(),
            who: "role Admin (session alice)".into(),
            who_arn: None,
            tool: Tool::Console,
            user_agent: String::new(),
            targets: vec![ChangeTarget {
                type_name: None,
                name: "arn:aws:lambda:eu-west-1:111111111111:function:api-dev-hello".into(),
            }],
            window_days: None,
        };
        assert_eq!(
            super::describe(&change, &report),
            "2026-12-04T10:00:05Z - (111111111111) eu-west-1 UpdateFunctionConfiguration \
             api-dev-hello, by role Admin (session alice) with the AWS console"
        );
    }
}
