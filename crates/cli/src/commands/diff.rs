//! `stagecraft diff`: what changed between two snapshots.

use std::process::ExitCode;

use stagecraft_model::Error;

use crate::args::*;
use crate::output::print_json;
use crate::source::{open_store, organization};

pub(crate) fn diff_cmd(args: &DiffArgs) -> Result<ExitCode, Error> {
    let store = open_store(&args.store)?;
    let to = match args.to {
        Some(id) => id,
        None => {
            let org = organization(
                &store,
                args.store.organization.as_deref(),
                args.store.profile.as_deref(),
            )?;
            store.latest_id_in(org.as_deref())?.ok_or_else(|| {
                Error::Store("no snapshots yet; run `stagecraft scan` first".into())
            })?
        }
    };
    let from = match args.from {
        Some(id) => id,
        None => store.previous_id(to)?.ok_or_else(|| {
            Error::Store(format!(
                "snapshot {to} is the first one of organization {}; scan it again to have \
                 something to compare",
                store.organization_of(to).unwrap_or_default()
            ))
        })?,
    };
    let (from_org, to_org) = (store.organization_of(from)?, store.organization_of(to)?);
    if from_org != to_org && !args.across_organizations {
        return Err(Error::Input(format!(
            "snapshot {from} is of organization {from_org} and snapshot {to} of {to_org}: every \
             resource of one would show as added; compare snapshots of one organization (`stagecraft \
             snapshots --org ID`), or pass --across-organizations"
        )));
    }
    let a = store.load(from)?;
    let b = store.load(to)?;
    let d = stagecraft_store::diff(&a, &b, Some(from), Some(to));
    if args.store.json {
        print_json(&d)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "snapshot {from} ({}) → {to} ({})",
        d.from_started_at, d.to_started_at
    );
    if d.is_empty() {
        println!("no changes");
    }
    for r in &d.added {
        println!(
            "+ {} {} ({}, {})",
            r.type_name,
            r.name,
            r.account_id,
            r.owner.kind()
        );
        let made = r
            .changed
            .as_ref()
            .and_then(|p| p.created.as_ref().or(p.last_change.as_ref()))
            .filter(|c| c.at.get(..19) >= d.from_started_at.get(..19));
        if let Some(c) = made {
            println!("    {}", by(c));
        }
    }
    for r in &d.removed {
        println!(
            "- {} {} ({}, {})",
            r.type_name,
            r.name,
            r.account_id,
            r.owner.kind()
        );
        if let Some(c) = d.removed_by.get(&r.id) {
            println!("    {}", by(c));
        }
    }
    for c in &d.changed {
        println!("~ {} {} ({})", c.type_name, c.name, c.account_id);
        if let Some(e) = &c.by {
            println!("    {}", by(e));
        }
        for f in &c.changes {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "∅".into())
            };
            println!("    {}: {} → {}", f.field, show(&f.before), show(&f.after));
        }
    }
    for a in &d.accounts {
        let show = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "∅".into())
        };
        println!(
            "! account {}: {} → {}",
            a.field,
            show(&a.before),
            show(&a.after)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `by role X (session y) with the AWS console, UpdateFunctionConfiguration at 2026-12-04T10:00:00Z`
fn by(c: &stagecraft_model::change::ChangeEvent) -> String {
    format!(
        "by {} with {}, {} at {}",
        c.who,
        c.tool.label(),
        c.action,
        c.at
    )
}
