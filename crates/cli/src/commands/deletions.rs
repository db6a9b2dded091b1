//! `stagecraft deletions`: what is waiting out a deletion window, and which deploys it will break.

use std::process::ExitCode;

use stagecraft_model::Error;

use crate::args::*;
use crate::output::print_json;
use crate::source::{gone_buckets, incomplete_accounts, report_for};

pub(crate) async fn deletions_cmd(args: DeletionsArgs) -> Result<ExitCode, Error> {
    let report = report_for(&args.source, &args.snapshot).await?;
    let mut list = stagecraft_analysis::deletion::pending(
        &report,
        &gone_buckets(args.source.store.as_deref(), &report.organization.id),
    );
    if let Some(stage) = &args.stage {
        list.retain(|p| p.stage.as_deref() == Some(stage.as_str()));
    }
    if args.json {
        print_json(&list)?;
    } else if list.is_empty() {
        println!("nothing is pending deletion");
    } else {
        let now = time::OffsetDateTime::now_utc();
        for p in &list {
            let left = p
                .deletion_date
                .as_deref()
                .map(|d| {
                    let left = stagecraft_analysis::deletion::time_left(d, now);
                    if p.date_certain {
                        format!("{left} left")
                    } else {
                        format!("about {left} left")
                    }
                })
                .unwrap_or_else(|| p.state.clone());
            println!(
                "{:<6} {:<28} {:<30} {:<20} {}",
                p.stage.as_deref().unwrap_or("-"),
                p.type_name,
                p.name,
                left,
                p.detail
            );
            if let Some(who) = &p.scheduled_by {
                println!("       scheduled by {who}");
            }
            for b in &p.blocks {
                println!("       ✗ {}", b.message);
            }
        }
    }
    if incomplete_accounts(&report) > 0 {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
