//! `stagecraft publish`: a snapshot published to S3 for the team.

use std::process::ExitCode;

use stagecraft_aws::credentials::AwsEnv;
use stagecraft_iac::config::Workspace;
use stagecraft_model::Error;
use stagecraft_ops::publish::{self, Destination};

use crate::args::*;
use crate::output::print_json;
use crate::source::{gone_buckets, profile_of, report_for};

pub(crate) async fn publish_cmd(args: PublishArgs) -> Result<ExitCode, Error> {
    let dest: Destination = args.to.parse()?;
    let workspace = match &args.source.config {
        Some(path) => Workspace::load(path)?,
        None => Workspace::default(),
    };
    let report = report_for(&args.source, &args.snapshot).await?;
    let profile = args
        .publish_profile
        .clone()
        .or_else(|| profile_of(&args.source, &workspace))
        .unwrap_or_else(|| "default".to_owned());
    let gone = gone_buckets(args.source.store.as_deref(), &report.organization.id);
    let manifest =
        publish::publish(&AwsEnv::from_environment(), &profile, &dest, &report, &gone).await?;
    if args.json {
        print_json(&manifest)?;
    } else {
        let rows: Vec<String> = manifest
            .rows()
            .iter()
            .map(|(table, n)| format!("{n} {table}"))
            .collect();
        println!(
            "published generation {} to {dest}: {} (by {}, scanned {})",
            manifest.generation,
            rows.join(", "),
            manifest.published_by,
            manifest.scanned_at
        );
    }
    Ok(ExitCode::SUCCESS)
}
