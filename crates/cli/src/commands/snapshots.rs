//! `stagecraft snapshots`: the stored snapshots of an organization, newest first.

use std::process::ExitCode;

use stagecraft_model::Error;

use crate::args::*;
use crate::output::print_json;
use crate::source::{open_store, organization};

pub(crate) fn snapshots_cmd(args: &SnapshotsArgs) -> Result<ExitCode, Error> {
    let store = open_store(&args.store)?;
    let org = if args.all {
        None
    } else {
        organization(
            &store,
            args.store.organization.as_deref(),
            args.store.profile.as_deref(),
        )?
    };
    let list = store.list_in(org.as_deref())?;
    if args.store.json {
        print_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    let organizations = store.organizations()?;
    if let Some(org) = &org {
        if let Some(o) = organizations.iter().find(|o| &o.id == org) {
            println!(
                "organization {} (management account {})",
                o.id, o.management_account_id
            );
        }
        let others: Vec<String> = organizations
            .iter()
            .filter(|o| &o.id != org)
            .map(|o| format!("{} ({} snapshot(s))", o.id, o.snapshots))
            .collect();
        if !others.is_empty() {
            eprintln!(
                "this store also holds {}: --org ID shows one, --all every one",
                others.join(", ")
            );
        }
    }
    println!(
        "{:>5}  {:<25} {:>8} {:>9} {:>10}  {}PROFILE",
        "ID",
        "STARTED",
        "ACCOUNTS",
        "RESOURCES",
        "DURATION",
        if args.all { "ORGANIZATION     " } else { "" }
    );
    for s in list {
        println!(
            "{:>5}  {:<25} {:>8} {:>9} {:>8}ms  {}{}{}",
            s.id,
            s.started_at,
            s.accounts,
            s.resources,
            s.duration_ms,
            if args.all {
                format!("{:<17}", s.organization_id)
            } else {
                String::new()
            },
            s.profile,
            if s.accounts_with_errors > 0 {
                format!("  ({} account(s) with errors)", s.accounts_with_errors)
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
