//! The scan's coverage: what was scanned where, where state was found, and what was not seen.

use std::collections::{BTreeMap, BTreeSet};

use stagecraft_iac::terraform::LoadedState;
use stagecraft_model::coverage::{AccountCoverage, Coverage, LeftOut, StateCoverage};
use stagecraft_model::serverless::ResolvedService;
use stagecraft_model::{Account, AccountStatus};

/// What the coverage is built from.
pub(super) struct Seen<'a> {
    pub region_source: &'a str,
    /// Account id → the regions scanned there, and the calls spent finding them.
    pub regions: &'a BTreeMap<String, (Vec<String>, u32)>,
    pub accounts: &'a [Account],
    pub states: &'a [LoadedState],
    pub state: StateCoverage,
    pub state_skipped: Vec<String>,
    pub services: &'a [ResolvedService],
    /// Account id → stage.
    pub account_stages: &'a BTreeMap<String, String>,
}

/// What each account's scan did not see, one line per failure.
pub(super) fn account_lines(accounts: &[Account]) -> Vec<String> {
    let mut lines = Vec::new();
    for a in accounts {
        match (&a.status, &a.error) {
            (AccountStatus::Error, Some(e)) => {
                lines.push(format!("account {} ({}): {}", a.id, a.name, e.message))
            }
            (AccountStatus::Partial, _) => {
                for e in &a.collect_errors {
                    lines.push(format!(
                        "account {} ({}): {} in {}: {}",
                        a.id,
                        a.name,
                        e.collector.name(),
                        e.region,
                        e.message
                    ));
                }
            }
            _ => {}
        }
    }
    lines
}

pub(super) fn build(seen: Seen<'_>) -> Coverage {
    let mut skipped = Vec::new();
    let mut accounts = Vec::new();
    // Another shard's accounts are that shard's to cover.
    let here = |a: &&Account| a.status != AccountStatus::OtherShard;
    for a in seen.accounts.iter().filter(here) {
        let (regions, probe_calls) = seen.regions.get(&a.id).cloned().unwrap_or_default();
        let regional = stagecraft_model::Collector::REGIONAL.len() * regions.len();
        let global = stagecraft_model::Collector::GLOBAL.len();
        accounts.push(AccountCoverage {
            account_id: a.id.clone(),
            regions: if a.status == AccountStatus::Error {
                Vec::new()
            } else {
                regions
            },
            collectors: if a.status == AccountStatus::Error {
                0
            } else {
                (regional + global) as u32
            },
            failed: a.collect_errors.len() as u32,
            region_probe_calls: probe_calls,
        });
    }
    skipped.extend(account_lines(seen.accounts));

    let scanned = |account: &str, region: &str| {
        seen.regions
            .get(account)
            .is_some_and(|(r, _)| r.iter().any(|x| x == region))
    };
    let mut left: BTreeMap<(Option<String>, String), BTreeSet<String>> = BTreeMap::new();
    for s in seen.states {
        let sum = &s.summary;
        for region in &sum.resource_regions {
            for account in &sum.resource_accounts {
                let known = seen.accounts.iter().filter(here).any(|a| &a.id == account);
                if known && !scanned(account, region) {
                    left.entry((Some(account.clone()), region.clone()))
                        .or_default()
                        .insert(format!("state {} has resources there", sum.location));
                }
            }
        }
    }
    for svc in seen.services {
        let Some(account) = seen
            .account_stages
            .iter()
            .find(|(_, s)| **s == svc.stage)
            .map(|(a, _)| a)
        else {
            continue;
        };
        let elsewhere = seen
            .accounts
            .iter()
            .any(|a| &a.id == account && a.status == AccountStatus::OtherShard);
        if !elsewhere && !scanned(account, &svc.region) {
            left.entry((Some(account.clone()), svc.region.clone()))
                .or_default()
                .insert(format!(
                    "{} deploys there (provider.region)",
                    stagecraft_iac::short_path(&svc.path)
                ));
        }
    }
    let left_out: Vec<LeftOut> = left
        .into_iter()
        .map(|((account_id, region), why)| LeftOut {
            account_id,
            region,
            why: why.into_iter().collect::<Vec<_>>().join("; "),
        })
        .collect();

    let search_failures = seen.state_skipped.len();
    skipped.extend(seen.state_skipped);
    let unscanned = seen
        .accounts
        .iter()
        .filter(|a| matches!(a.status, AccountStatus::Error | AccountStatus::Partial))
        .count();
    let no_state = seen.states.is_empty().then(|| {
        if seen.state.discovery && (search_failures > 0 || unscanned > 0) {
            // Not "there is none": the search itself did not finish, and the config is not to blame.
            format!(
                "no Terraform state could be read: the search failed in {search_failures} place(s) and \
                 {unscanned} account(s) could not be scanned completely (listed under what was not seen); \
                 rescan when they can be reached"
            )
        } else if seen.state.discovery {
            format!(
                "no Terraform state found: searched {} bucket(s) in {} account(s){}; name the backend in \
                 stagecraft.toml ([terraform] dir or [terraform.backend]) if it is elsewhere",
                seen.state.buckets_probed,
                seen.state.accounts_searched,
                seen.state
                    .configured
                    .as_deref()
                    .map(|c| format!(" and {c}"))
                    .unwrap_or_default()
            )
        } else {
            format!(
                "no Terraform state found at {} (discovery is off: [terraform] discover = false)",
                seen.state.configured.as_deref().unwrap_or("no configured backend")
            )
        }
    });
    let partial = no_state.is_some()
        || !left_out.is_empty()
        || seen
            .accounts
            .iter()
            .any(|a| matches!(a.status, AccountStatus::Error | AccountStatus::Partial));
    Coverage {
        region_source: seen.region_source.to_owned(),
        accounts,
        state: seen.state,
        left_out,
        no_state,
        skipped,
        partial,
        shard: None,
        value_key: None,
    }
}
