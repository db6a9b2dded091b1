//! Where a command's report comes from: a scan now (with progress on a terminal) or a stored
//! snapshot, and the store both use.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use stagecraft_aws::credentials::AwsEnv;
use stagecraft_aws::scan::{self, ScanEvent, ScanOptions};
use stagecraft_iac::config::Workspace;
use stagecraft_model::{AccountStatus, Error, ScanReport};
use stagecraft_store::Store;

use crate::args::{SnapshotArg, SourceArgs, StoreArgs};
use crate::progress::Bars;

/// A scan just made: the whole report when it was not stored; stored, its snapshot's id and the
/// report without its resources and stacks (read them from the store: the scan never held them
/// all).
pub(crate) struct Scanned {
    pub report: ScanReport,
    pub stored: Option<Kept>,
}

/// A snapshot in a store: the user's, or (a shard scanned with `--no-store`) one in a temporary
/// directory, deleted with it.
pub(crate) struct Kept {
    pub store: Store,
    pub id: i64,
    /// Declared after the store, so the store closes before its directory goes.
    _scratch: Option<tempfile::TempDir>,
}

/// Scans now (storing the snapshot unless `--no-store`), with progress bars on a terminal.
pub(crate) async fn scan_now(args: &SourceArgs) -> Result<Scanned, Error> {
    let workspace = match &args.config {
        Some(path) => Workspace::load(path)?,
        None => Workspace::default(),
    };
    let rescan = match &args.account {
        None => None,
        Some(id) => {
            let store = open_store_at(args.store.as_deref())?;
            let org = organization(&store, None, profile_of(args, &workspace).as_deref())?;
            let previous = store.latest_in(org.as_deref())?.ok_or_else(|| {
                Error::Input(
                    "--account rescans one account of the latest snapshot, and there is none yet: run `stagecraft scan` first".into(),
                )
            })?;
            Some(scan::Rescan {
                account_id: id.clone(),
                previous: std::sync::Arc::new(previous),
            })
        }
    };
    let opts = ScanOptions {
        profile: args.profile.clone(),
        regions: args.regions.clone(),
        parallelism: args.parallelism,
        rescan,
        shard: args.shard,
        sso_roles: stagecraft_model::signin::SsoRoles {
            all: args.sso_role.clone(),
            ..Default::default()
        },
        ..ScanOptions::default()
    };
    let shared = team_key()?;
    let opts = ScanOptions {
        hasher: shared
            .filter(|_| args.no_store)
            .map(stagecraft_model::ValueHasher::new),
        ..opts
    };
    let bars = std::io::stderr().is_terminal().then(Bars::default);
    let progress = |event: ScanEvent| {
        if let Some(bars) = &bars {
            bars.update(&event);
        }
    };
    let env = AwsEnv::from_environment();
    let (report, id) = if args.no_store && args.shard.is_some() {
        // A shard's scan, not kept: it goes through a store in a temporary directory, so that it
        // is published from the store's rows an account at a time, as a stored one is.
        let dir = tempfile::tempdir()
            .map_err(|e| Error::io("making a temporary directory for the shard's scan", e))?;
        let mut store = Store::open(&dir.path().join("shard.db"))?;
        if let Some(key) = shared {
            store.set_hash_key(key)?;
        }
        let stored = scan::scan_into_store(&env, &workspace, &opts, &mut store, &progress).await?;
        (
            stored.report,
            Some(Kept {
                store,
                id: stored.id,
                _scratch: Some(dir),
            }),
        )
    } else if args.no_store {
        (scan::scan(&env, &workspace, &opts, &progress).await?, None)
    } else {
        let mut store = open_store_at(args.store.as_deref())?;
        if let Some(key) = shared {
            adopt_key(&store, key, "STAGECRAFT_HASH_KEY")?;
        }
        let stored = scan::scan_into_store(&env, &workspace, &opts, &mut store, &progress).await?;
        eprintln!(
            "stored as snapshot {} in {}",
            stored.id,
            store.path().display()
        );
        if let (Some(first), Some(last)) = (stored.pruned.first(), stored.pruned.last()) {
            let which = if first == last {
                format!("snapshot {first}")
            } else {
                format!("{} snapshots ({first}–{last})", stored.pruned.len())
            };
            eprintln!(
                "deleted {which}: [history] keeps the newest {}{} of each organization (deploy runs and actions are kept)",
                workspace.config.history.keep,
                workspace
                    .config
                    .history
                    .keep_days
                    .map(|d| format!(" younger than {d} days"))
                    .unwrap_or_default()
            );
        }
        (
            stored.report,
            Some(Kept {
                store,
                id: stored.id,
                _scratch: None,
            }),
        )
    };
    if let Some(bars) = &bars {
        bars.multi.clear().ok();
    }
    for w in &report.warnings {
        eprintln!("warning: {}", w.message);
    }
    Ok(Scanned { report, stored: id })
}

/// The report a command works on: a stored snapshot with `--snapshot`, else a fresh scan.
pub(crate) async fn report_for(
    source: &SourceArgs,
    snapshot: &SnapshotArg,
) -> Result<ScanReport, Error> {
    match pick(source, snapshot).await? {
        Picked::Stored(kept) => Ok(kept.store.load(kept.id)?),
        Picked::Scanned(report) => Ok(*report),
    }
}

/// What a command works on, not yet read: a stored snapshot (`--snapshot`, or a scan just stored),
/// or the whole report of a scan that was not stored.
pub(crate) enum Picked {
    Stored(Kept),
    Scanned(Box<ScanReport>),
}

pub(crate) async fn pick(source: &SourceArgs, snapshot: &SnapshotArg) -> Result<Picked, Error> {
    let Some(which) = &snapshot.snapshot else {
        let scanned = scan_now(source).await?;
        return match scanned.stored {
            Some(kept) => Ok(Picked::Stored(kept)),
            None => Ok(Picked::Scanned(Box::new(scanned.report))),
        };
    };
    let store = open_store_at(source.store.as_deref())?;
    let id = if which == "latest" {
        let workspace = match &source.config {
            Some(path) => Workspace::load(path)?,
            None => Workspace::default(),
        };
        let org = organization(
            &store,
            snapshot.organization.as_deref(),
            profile_of(source, &workspace).as_deref(),
        )?;
        store
            .latest_id_in(org.as_deref())?
            .ok_or_else(|| Error::Store("no snapshots yet; run `stagecraft scan` first".into()))?
    } else {
        which.parse::<i64>().map_err(|_| {
            Error::Store(format!(
                "--snapshot takes `latest` or a snapshot id (see `stagecraft snapshots`), not `{which}`"
            ))
        })?
    };
    Ok(Picked::Stored(Kept {
        store,
        id,
        _scratch: None,
    }))
}

/// How many accounts the report could not scan completely, or 1 when its coverage is otherwise
/// partial (a region left out, no Terraform state found); the reasons go to stderr.
pub(crate) fn incomplete_accounts(report: &ScanReport) -> usize {
    let failed = report
        .accounts
        .iter()
        .filter(|a| matches!(a.status, AccountStatus::Error | AccountStatus::Partial))
        .count();
    if failed > 0 {
        eprintln!("{failed} account(s) could not be scanned completely; see the status column of `stagecraft scan`");
    }
    let c = &report.coverage;
    for l in &c.left_out {
        eprintln!(
            "region {} of account {} was not scanned: {}; add it to `regions` in stagecraft.toml or pass --region",
            l.region,
            l.account_id.as_deref().unwrap_or("?"),
            l.why
        );
    }
    if let Some(why) = &c.no_state {
        eprintln!("{why}");
    }
    if failed == 0 && c.partial {
        1
    } else {
        failed
    }
}

pub(crate) fn open_store(args: &StoreArgs) -> Result<Store, Error> {
    open_store_at(args.path.as_deref())
}

pub(crate) fn open_store_at(path: Option<&std::path::Path>) -> Result<Store, Error> {
    let path = path.map(PathBuf::from).unwrap_or_else(Store::default_path);
    Ok(Store::open(&path)?)
}

/// Buckets the organization's recent snapshots saw (for "deleted recently"); none without a store.
pub(crate) fn gone_buckets(
    store: Option<&std::path::Path>,
    organization: &str,
) -> Vec<stagecraft_analysis::deletion::GoneBucket> {
    open_store_at(store)
        .ok()
        .and_then(|s| s.recently_seen_buckets(organization).ok())
        .unwrap_or_default()
}

/// The management profile a command acts as: `--profile`, the workspace's, then `AWS_PROFILE`.
pub(crate) fn profile_of(args: &SourceArgs, workspace: &Workspace) -> Option<String> {
    args.profile
        .clone()
        .or_else(|| workspace.config.organization.profile.clone())
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
}

/// Which organization's snapshots a command reads: the one asked for (it must be in the store),
/// else the one `profile` reached in its newest snapshot, else the most recently scanned one;
/// `None` for an empty store.
pub(crate) fn organization(
    store: &Store,
    asked: Option<&str>,
    profile: Option<&str>,
) -> Result<Option<String>, Error> {
    let known = store.organizations()?;
    if let Some(asked) = asked {
        if known.iter().any(|o| o.id == asked) {
            return Ok(Some(asked.to_owned()));
        }
        let held = if known.is_empty() {
            "no snapshots at all".to_owned()
        } else {
            known
                .iter()
                .map(|o| {
                    format!(
                        "{} (management account {}, {} snapshot(s), last {})",
                        o.id, o.management_account_id, o.snapshots, o.last_scan
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::Input(format!(
            "{} holds no snapshot of organization {asked}; it holds {held}",
            store.path().display()
        )));
    }
    if let Some(org) = profile
        .map(|p| store.organization_of_profile(p))
        .transpose()?
        .flatten()
    {
        return Ok(Some(org));
    }
    Ok(known.first().map(|o| o.id.clone()))
}

/// The team's key for hashing values, from `STAGECRAFT_HASH_KEY` (64 hex digits; a CI secret every
/// shard of a scan is given, so their hashes compare).
pub(crate) fn team_key() -> Result<Option<[u8; 32]>, Error> {
    match std::env::var("STAGECRAFT_HASH_KEY") {
        Ok(v) if !v.trim().is_empty() => stagecraft_model::hash::parse_key(&v)
            .map(Some)
            .ok_or_else(|| {
                Error::Input(
                    "STAGECRAFT_HASH_KEY is not a key: it takes 64 hex digits (e.g. from `openssl rand -hex 32`)"
                        .into(),
                )
            }),
        _ => Ok(None),
    }
}

/// Makes `key` the store's key, saying so when it changes.
pub(crate) fn adopt_key(store: &Store, key: [u8; 32], from: &str) -> Result<(), Error> {
    if store.set_hash_key(key)? {
        eprintln!(
            "{} now hashes values with the key from {from}: later snapshots compare with the team's, \
             no longer with this store's earlier ones",
            store.path().display()
        );
    }
    Ok(())
}
