//! The incremental refresh: each account and region's CloudTrail history is read on from the last
//! snapshot, each new write event is mapped to the collector that reads what it touched, and only
//! those collectors are run again, in that account and region. The last snapshot is patched with
//! what they read; the Terraform states of the stages that changed are read again; ownership is
//! decided again over the whole organization (links, findings and deletions follow from it).
//!
//! What the feed cannot follow is a full scan: no earlier read to go on from, a snapshot older than
//! the history's 90 days, or a change to the organization itself (accounts, their tags and so their
//! stages). A region whose history cannot be read is said to be unwatched, never assumed unchanged.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use aws_config::SdkConfig;
use futures::stream::{self, StreamExt};
use stagecraft_iac::config::{state_source, Workspace};
use stagecraft_iac::terraform::{LoadedState, StateSource};
use stagecraft_model::change::{ChangeEvent, FeedRead};
use stagecraft_model::{Account, AccountStatus, Claim, Error, ScanReport};

use super::{
    coverage, expect_deployed_values, history_cursors, history_gaps, merge_history, signin,
    template_reads, AccountCtx, ScanOptions, Signin, StageOf,
};
use crate::collect::{self, CollectError, Collected, Collector, ValueHasher};
use crate::credentials::{self as aws, AwsEnv};
use crate::remote_state::{self, KnownState};
use stagecraft_analysis::own;

/// History reads at once (each account and region is its own CloudTrail rate limit).
const READS_AT_ONCE: usize = 16;

/// Reads what changed since a snapshot. It keeps each account's credentials between refreshes, so
/// a `watch` or the window's Live mode assumes each account's role once, not at every poll.
pub struct Refresher {
    ctx: AccountCtx,
    configs: tokio::sync::Mutex<HashMap<String, SdkConfig>>,
    /// The organization trail found on the first pass (`Some(None)`: there is none); each later
    /// pass only checks that it still logs.
    trail: tokio::sync::Mutex<Option<Option<collect::cloudtrail::OrgTrail>>>,
}

impl std::fmt::Debug for Refresher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refresher")
            .field("profile", &self.ctx.mgmt_profile)
            .finish_non_exhaustive()
    }
}

/// What one refresh found.
#[derive(Debug)]
pub enum Refresh {
    /// The snapshot, patched with what changed.
    Patched(Box<Refreshed>),
    /// What changed cannot be followed from the history; a full scan is needed, for this reason.
    FullScan(String),
}

/// The patched snapshot and what the refresh did to make it.
#[derive(Debug)]
pub struct Refreshed {
    pub report: ScanReport,
    /// The write events read now that the snapshot did not hold, newest first.
    pub new_changes: Vec<ChangeEvent>,
    /// What was read again, in order.
    pub reread: Vec<Reread>,
    /// The Terraform states read again (their locations).
    pub states: Vec<String>,
    /// The states read again because their object changed with no event to say so.
    pub states_written: Vec<String>,
    /// Where the history could not be read: changes there are not seen.
    pub unread: Vec<FeedRead>,
    /// The organization trail whose log group the history was read from, in words; `None`: each
    /// account's own event history.
    pub history_from: Option<String>,
}

impl Refreshed {
    /// Whether anything the window shows changed (new events, or a read that failed).
    pub fn changed(&self) -> bool {
        !self.new_changes.is_empty() || !self.reread.is_empty() || !self.states_written.is_empty()
    }
}

pub use stagecraft_model::change::Reread;

impl Refresher {
    pub async fn new(
        env: &AwsEnv,
        workspace: &Workspace,
        opts: &ScanOptions,
    ) -> Result<Self, Error> {
        let profile = super::management_profile(opts, workspace);
        env.require_profile(&profile).await?;
        let mgmt = env.sdk_config(&profile, None).await;
        let home = mgmt
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| aws::FALLBACK_REGION.to_owned());
        let Signin {
            profiles,
            roles,
            sso,
        } = signin(env, &profile, opts).await?;
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        let (_, stages) = tokio::sync::watch::channel(None::<std::sync::Arc<StageOf>>);
        let now = time::OffsetDateTime::now_utc();
        Ok(Refresher {
            ctx: AccountCtx {
                env: env.clone(),
                stages,
                mgmt_identity: stagecraft_model::Identity {
                    account: String::new(),
                    arn: String::new(),
                },
                workspace: workspace.clone(),
                mgmt,
                mgmt_profile: profile,
                profiles,
                roles,
                sso,
                regions: None,
                home,
                hasher: opts.hasher.clone().unwrap_or_else(ValueHasher::ephemeral),
                account_timeout: std::time::Duration::from_secs(
                    workspace.config.scan.account_timeout,
                ),
                events,
                history_from: HashMap::new(),
                first_history: now,
                now,
            },
            configs: tokio::sync::Mutex::new(HashMap::new()),
            trail: tokio::sync::Mutex::new(None),
        })
    }

    /// The credentials of an account, made once and kept (their provider caches what it assumes).
    async fn config(&self, account: &Account) -> SdkConfig {
        let mut configs = self.configs.lock().await;
        if let Some(c) = configs.get(&account.id) {
            return c.clone();
        }
        let access = account
            .access
            .clone()
            .unwrap_or_else(|| self.ctx.access_for(account));
        let c = self.ctx.credentials(&account.id, &access).await;
        configs.insert(account.id.clone(), c.clone());
        c
    }

    /// The organization trail to read this pass's history from, and the credentials of its log
    /// group's account: found once (`DescribeTrails` in the management account), then checked
    /// each pass (`GetTrailStatus`: a trail that stopped logging is read no more, and the next
    /// pass looks again). `None`: each account's event history is read.
    async fn org_trail(
        &self,
        previous: &ScanReport,
    ) -> Option<(collect::cloudtrail::OrgTrail, SdkConfig)> {
        let mut known = self.trail.lock().await;
        let trail = match known.as_ref() {
            None => {
                let found = collect::cloudtrail::org_trail(&self.ctx.mgmt).await;
                *known = Some(found.clone());
                found?
            }
            Some(None) => return None,
            Some(Some(t)) => {
                let t = t.clone();
                if !collect::cloudtrail::still_logging(&self.ctx.mgmt, &t).await {
                    *known = None;
                    return None;
                }
                t
            }
        };
        drop(known);
        let account = previous
            .accounts
            .iter()
            .find(|a| a.id == trail.group_account && a.status != AccountStatus::Error)?;
        let config = self.config(account).await;
        Some((trail, config))
    }

    /// Reads what changed since `previous` and patches it.
    pub async fn refresh(&self, previous: &ScanReport) -> Result<Refresh, Error> {
        let started = std::time::Instant::now();
        let now = time::OffsetDateTime::now_utc();
        let oldest = now - time::Duration::days(stagecraft_model::change::HISTORY_DAYS);
        if previous.feed.is_empty() {
            return Ok(Refresh::FullScan(
                "the last snapshot holds no CloudTrail history read to go on from".into(),
            ));
        }
        let taken = collect::cloudtrail::parse_time(&previous.started_at).ok_or_else(|| {
            Error::Store(format!(
                "the last snapshot's start `{}` is not a time; scan the whole organization",
                previous.started_at
            ))
        })?;
        if taken < oldest {
            return Ok(Refresh::FullScan(format!(
                "the last snapshot ({}) is older than the {} days CloudTrail's history holds",
                previous.started_at,
                stagecraft_model::change::HISTORY_DAYS
            )));
        }
        let cursors = history_cursors(Some(previous), &previous.organization.id, now);
        let places = places(previous);
        // Where an organization trail logs to CloudWatch Logs, one read there covers every
        // account and region it logs; the rest read their own event history.
        let trail = self.org_trail(previous).await;
        type Places<'a> = Vec<&'a (Account, String)>;
        let (logged, own): (Places, Places) = places
            .iter()
            .partition(|(_, region)| trail.as_ref().is_some_and(|(t, _)| t.covers(region)));
        let since_of = |account: &Account, region: &String| {
            cursors
                .get(&(account.id.clone(), region.clone()))
                .copied()
                // Not read before (a failed read, a region added): from the snapshot's start.
                .unwrap_or(taken - collect::cloudtrail::DELIVERY_LAG)
        };
        let mut histories: Vec<collect::cloudtrail::History> = Vec::new();
        let mut history_from = None;
        let mut own = own;
        if let (Some((t, config)), Some(since)) =
            (&trail, logged.iter().map(|(a, r)| since_of(a, r)).min())
        {
            let ids: Vec<(String, String)> = logged
                .iter()
                .map(|(a, r)| (a.id.clone(), r.clone()))
                .collect();
            let read = collect::cloudtrail::read_org(
                config,
                t,
                &ids,
                since,
                now,
                collect::cloudtrail::OrgReadCap::default(),
            )
            .await;
            match read.iter().find_map(|h| h.read.error.as_ref()) {
                None => {
                    histories = read;
                    history_from = Some(t.describe());
                }
                Some(e) => {
                    // Refused (no `logs:FilterLogEvents` there, say): each account's own event
                    // history is read, now and on the passes after.
                    tracing::warn!(
                        "the organization trail could not be read, each account's history is read instead: {}",
                        e.message
                    );
                    *self.trail.lock().await = Some(None);
                    own.extend(logged);
                }
            }
        }
        let reads: Vec<_> = own
            .into_iter()
            .map(|(account, region)| {
                let since = since_of(account, region);
                async move {
                    let config = aws::in_region(&self.config(account).await, region);
                    collect::cloudtrail::read(&config, &account.id, region, since, now).await
                }
            })
            .collect();
        histories.extend(
            stream::iter(reads)
                .buffer_unordered(READS_AT_ONCE)
                .collect::<Vec<collect::cloudtrail::History>>()
                .await,
        );
        let unread: Vec<FeedRead> = histories
            .iter()
            .filter(|h| h.read.error.is_some())
            .map(|h| h.read.clone())
            .collect();
        // A history that could be read before and cannot now hides what changed there.
        let blind_before: HashSet<(&str, &str)> = previous
            .feed
            .iter()
            .filter(|f| f.error.is_some())
            .map(|f| (f.account_id.as_str(), f.region.as_str()))
            .collect();
        let newly: Vec<&FeedRead> = unread
            .iter()
            .filter(|f| !blind_before.contains(&(f.account_id.as_str(), f.region.as_str())))
            .collect();
        if let Some(first) = newly.first() {
            let places: Vec<String> = newly
                .iter()
                .take(5)
                .map(|f| format!("{} {}", f.account_id, f.region))
                .collect();
            return Ok(Refresh::FullScan(format!(
                "the CloudTrail history could not be read in {} place{} ({}{}), so what changed \
                 there is not known: {}",
                newly.len(),
                if newly.len() == 1 { "" } else { "s" },
                places.join(", "),
                if newly.len() > 5 { ", …" } else { "" },
                first
                    .error
                    .as_ref()
                    .map(|e| e.message.as_str())
                    .unwrap_or_default()
            )));
        }
        let held: HashSet<&str> = previous.changes.iter().map(|c| c.id.as_str()).collect();
        let mut new_changes: Vec<ChangeEvent> = histories
            .iter()
            .flat_map(|h| h.changes.iter())
            .filter(|c| !held.contains(c.id.as_str()))
            .cloned()
            .collect();
        // Stable: events of one second keep the history's order (see `merge_history`).
        new_changes.sort_by(|a, b| b.at.cmp(&a.at));
        new_changes.dedup_by(|a, b| a.id == b.id);
        if let Some(org) = new_changes
            .iter()
            .find(|c| c.source == "organizations.amazonaws.com")
        {
            return Ok(Refresh::FullScan(format!(
                "the organization changed ({} at {} by {}): its accounts and their stages are read \
                 again",
                org.action, org.at, org.who
            )));
        }
        // What each event may have changed: every event the snapshot does not hold. A full scan
        // reads the history beside its collectors, so the events it holds from its own run (whole
        // seconds: from the second it began) may have come after a collector read; a refresh
        // read again what each event it held touched, after reading it.
        let since_taken = collect::cloudtrail::rfc3339(taken);
        let due: Vec<&ChangeEvent> = histories
            .iter()
            .flat_map(|h| h.changes.iter())
            .filter(|c| {
                !held.contains(c.id.as_str()) || (!previous.refreshed && c.at >= since_taken)
            })
            .collect();
        let reread = plan(&due, &scanned_regions(previous));

        let mut report = previous.clone();
        let by_account: BTreeMap<&str, Vec<&Reread>> =
            reread.iter().fold(BTreeMap::new(), |mut m, r| {
                m.entry(r.account_id.as_str()).or_default().push(r);
                m
            });
        let runs: Vec<_> = by_account
            .iter()
            .filter_map(|(id, jobs)| {
                let account = previous.accounts.iter().find(|a| a.id == *id)?.clone();
                Some(async move {
                    let config = self.config(&account).await;
                    let read = self.read_again(&config, &account, jobs).await;
                    (account, config, read)
                })
            })
            .collect();
        let done: Vec<(Account, SdkConfig, Collected, Vec<CollectError>)> =
            futures::future::join_all(runs)
                .await
                .into_iter()
                .map(|(a, c, (collected, errors))| (a, c, collected, errors))
                .collect();
        let changed_accounts: BTreeSet<String> = done.iter().map(|(a, ..)| a.id.clone()).collect();
        for (account, _, collected, errors) in done {
            patch(
                &mut report,
                &account,
                by_account
                    .get(account.id.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
                collected,
                errors,
            );
        }

        // The states of the stages that changed, read again; the others' claims carried over.
        let account_stages: BTreeMap<String, String> = report
            .accounts
            .iter()
            .filter_map(|a| Some((a.id.clone(), a.stage.clone()?)))
            .collect();
        let changed_stages: BTreeSet<&String> = changed_accounts
            .iter()
            .filter_map(|a| account_stages.get(a))
            .collect();
        let stale: Vec<usize> = report
            .terraform
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                !changed_accounts.is_empty()
                    && (s
                        .stage
                        .as_ref()
                        .is_none_or(|st| changed_stages.contains(st))
                        || s.account_id
                            .as_ref()
                            .is_some_and(|a| changed_accounts.contains(a)))
            })
            .map(|(i, _)| i)
            .collect();
        // States written with no event (import, state rm): their object's ETag changed.
        let maybe_written = self.states_maybe_written(previous).await;
        let mut stale = stale;
        stale.extend(maybe_written.iter().copied());
        stale.sort_unstable();
        stale.dedup();
        let mut states = self.read_states(previous, &stale).await;
        let states_written: Vec<String> = states
            .iter()
            .filter(|s| {
                previous
                    .terraform
                    .iter()
                    .find(|t| t.location == s.summary.location)
                    .is_some_and(|t| t.etag.is_some() && t.etag != s.summary.etag)
            })
            .map(|s| s.summary.location.clone())
            .collect();
        let mut stages: BTreeSet<String> = account_stages.values().cloned().collect();
        stages.extend(self.ctx.workspace.config.stages.keys().cloned());
        for s in &mut states {
            stagecraft_iac::state_stage::decide(
                s,
                stagecraft_iac::state_stage::Context {
                    workspace: &self.ctx.workspace,
                    stages: &stages,
                    account_stages: &account_stages,
                },
            );
        }
        let read_again: HashSet<String> =
            states.iter().map(|s| s.summary.location.clone()).collect();
        let carried: HashMap<String, Vec<Claim>> = report
            .resources
            .iter()
            .filter_map(|r| {
                let claims: Vec<Claim> = r
                    .owner
                    .claims()
                    .into_iter()
                    .filter(|c| matches!(c, Claim::Terraform(t) if !read_again.contains(&t.state)))
                    .collect();
                (!claims.is_empty()).then(|| (r.id.clone(), claims))
            })
            .collect();
        let services: BTreeSet<String> =
            report.services.iter().map(|s| s.service.clone()).collect();
        if !changed_accounts.is_empty() || !states_written.is_empty() {
            let ScanReport {
                resources, stacks, ..
            } = &mut report;
            own::assign(
                resources,
                own::Inputs {
                    stacks,
                    states: &mut states,
                    services: &services,
                    stages: &stages,
                    account_stages: &account_stages,
                    carried: &carried,
                },
            );
            expect_deployed_values(
                &mut report.services,
                &super::parameters_of(&report.resources),
                &account_stages,
                &self.ctx.hasher,
            );
        }
        let state_locations: Vec<String> =
            states.iter().map(|s| s.summary.location.clone()).collect();
        for s in states {
            if let Some(old) = report
                .terraform
                .iter_mut()
                .find(|t| t.location == s.summary.location)
            {
                *old = s.summary;
            }
        }

        let (changes, feed) = merge_history(histories, Some(previous), now);
        for r in &mut report.resources {
            r.changed = None;
        }
        stagecraft_analysis::change::attach(&mut report.resources, &changes);
        report.changes = changes;
        report.feed = feed;
        super::count_all(&mut report.accounts, &mut report.resources);
        report.coverage = recover(previous, &report);
        report.refreshed = true;
        report.started_at = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| collect::cloudtrail::rfc3339(now));
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(Refresh::Patched(Box::new(Refreshed {
            report,
            new_changes,
            reread,
            states: state_locations,
            states_written,
            unread,
            history_from,
        })))
    }

    /// Runs one account's collectors again where they are due, and hands the tags the sweeps
    /// found to what they read.
    async fn read_again(
        &self,
        config: &SdkConfig,
        account: &Account,
        jobs: &[&Reread],
    ) -> (Collected, Vec<CollectError>) {
        let deadline = tokio::time::Instant::now() + self.ctx.account_timeout;
        let home = self.ctx.home.clone();
        let runs: Vec<_> = jobs
            .iter()
            .map(|job| {
                let region = if job.collector.is_global() {
                    home.clone()
                } else {
                    job.region.clone()
                };
                let config = aws::in_region(config, &region);
                let collector = job.collector;
                async move {
                    let target = collect::Target {
                        config: &config,
                        account_id: &account.id,
                        region: &region,
                        hasher: &self.ctx.hasher,
                    };
                    tokio::time::timeout_at(deadline, collect::run(collector, &target))
                        .await
                        .unwrap_or_else(|_| {
                            Err(CollectError {
                                collector,
                                region: region.clone(),
                                code: stagecraft_model::ErrorCode::Timeout,
                                message: format!(
                                    "no answer within the account's {} s ([scan] account_timeout)",
                                    self.ctx.account_timeout.as_secs()
                                ),
                            })
                        })
                }
            })
            .collect();
        let results: Vec<Result<Collected, CollectError>> = stream::iter(runs)
            .buffer_unordered(super::COLLECTORS_PER_ACCOUNT)
            .collect()
            .await;
        let (mut collected, mut errors, failed_sweeps) = super::gather(results);
        let sweeps = std::mem::take(&mut collected.sweeps);
        errors.extend(
            collect::tags::apply(
                config,
                &account.id,
                &mut collected.resources,
                &sweeps,
                failed_sweeps,
            )
            .await,
        );
        (collected, errors)
    }

    /// The states at `which` (indexes into the snapshot's) read again where the snapshot found them.
    async fn read_states(&self, previous: &ScanReport, which: &[usize]) -> Vec<LoadedState> {
        if which.is_empty() {
            return Vec::new();
        }
        let known = match self.known_states(previous, which).await {
            Ok(known) => known,
            Err(local) => return local,
        };
        let mut read = remote_state::read_known(known.into_iter().map(|(_, k)| k).collect()).await;
        for s in &mut read {
            s.summary.account_id = previous
                .terraform
                .iter()
                .find(|t| t.location == s.summary.location)
                .and_then(|t| t.account_id.clone());
        }
        read
    }

    /// Where and with which credentials each state at `which` can be read again; `Err` holds the
    /// workspace's local state, read already.
    async fn known_states(
        &self,
        previous: &ScanReport,
        which: &[usize],
    ) -> Result<Vec<(usize, KnownState)>, Vec<LoadedState>> {
        let ws = &self.ctx.workspace;
        let backend = match state_source(ws) {
            Ok(Some(StateSource::Local(path))) => {
                return Err(stagecraft_iac::terraform::load_local(&path));
            }
            Ok(Some(StateSource::S3(b))) => Some(b),
            _ => None,
        };
        let backend_config = match &backend {
            Some(b) => Some(
                remote_state::backend_config(&self.ctx.env, b, &self.ctx.mgmt, &self.ctx.profiles)
                    .await,
            ),
            None => None,
        };
        let mut known = Vec::new();
        for &i in which {
            let summary = &previous.terraform[i];
            let Some((bucket, key)) = summary
                .location
                .strip_prefix("s3://")
                .and_then(|l| l.split_once('/'))
            else {
                continue;
            };
            let lockfile = summary.lock.as_ref().is_some_and(|l| l.via == "lockfile");
            if let (Some(b), Some(config)) = (&backend, &backend_config) {
                if b.bucket == bucket {
                    known.push((
                        i,
                        KnownState {
                            bucket: bucket.to_owned(),
                            key: key.to_owned(),
                            workspace: summary.workspace.clone(),
                            config: config.clone(),
                            lock_tables: b.dynamodb_table.iter().cloned().collect(),
                            lockfile: b.use_lockfile || lockfile,
                        },
                    ));
                    continue;
                }
            }
            let held = previous
                .coverage
                .state
                .state_buckets
                .iter()
                .find(|b| b.bucket == bucket);
            let account =
                held.and_then(|b| previous.accounts.iter().find(|a| a.id == b.account_id));
            if let (Some(held), Some(account)) = (held, account) {
                let config = aws::in_region(&self.config(account).await, &held.region);
                known.push((
                    i,
                    KnownState {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                        workspace: summary.workspace.clone(),
                        config,
                        lock_tables: held.lock_tables.clone(),
                        lockfile,
                    },
                ));
            }
        }
        Ok(known)
    }

    /// The states (indexes into the snapshot's) whose object may have changed since it was read:
    /// a write to a state is an S3 data event, in no event history (`terraform import`,
    /// `state rm`, `state mv`). One listing per state bucket (`ListObjectsV2` under the keys'
    /// common prefix) compares each object's `ETag` with the one read; where the listing fails,
    /// every state of that bucket is a candidate (reading it again compares the `ETag` itself).
    async fn states_maybe_written(&self, previous: &ScanReport) -> Vec<usize> {
        let with_etag: Vec<usize> = previous
            .terraform
            .iter()
            .enumerate()
            .filter(|(_, s)| s.etag.is_some())
            .map(|(i, _)| i)
            .collect();
        if with_etag.is_empty() {
            return Vec::new();
        }
        let Ok(known) = self.known_states(previous, &with_etag).await else {
            return Vec::new();
        };
        let mut by_bucket: BTreeMap<String, (SdkConfig, Vec<(usize, String)>)> = BTreeMap::new();
        for (i, k) in known {
            by_bucket
                .entry(k.bucket.clone())
                .or_insert_with(|| (k.config.clone(), Vec::new()))
                .1
                .push((i, k.key));
        }
        let lists = by_bucket
            .into_iter()
            .map(|(bucket, (config, keys))| async move {
                let prefix = common_prefix(keys.iter().map(|(_, k)| k.as_str()));
                let listed = remote_state::etags(&config, &bucket, &prefix).await;
                keys.into_iter()
                    .filter(|(i, key)| match &listed {
                        Ok(etags) => etags.get(key) != previous.terraform[*i].etag.as_ref(),
                        Err(_) => true,
                    })
                    .map(|(i, _)| i)
                    .collect::<Vec<usize>>()
            });
        let mut out: Vec<usize> = futures::future::join_all(lists)
            .await
            .into_iter()
            .flatten()
            .collect();
        out.sort_unstable();
        out
    }
}

/// The longest prefix every key shares, cut at its last `/` (a listing's `Prefix`).
fn common_prefix<'a>(mut keys: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = keys.next() else {
        return String::new();
    };
    let mut len = first.len();
    for k in keys {
        len = first
            .bytes()
            .zip(k.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    let shared = &first[..len];
    match shared.rfind('/') {
        Some(slash) => shared[..=slash].to_owned(),
        None => String::new(),
    }
}

/// The collectors to run again for `changes`, in each account and region: the collector of each
/// event's service (IAM and S3 account-wide), and the tag sweep of every region read again.
fn plan(changes: &[&ChangeEvent], scanned: &HashMap<&str, BTreeSet<&str>>) -> Vec<Reread> {
    let mut plan: BTreeSet<Reread> = BTreeSet::new();
    for c in changes {
        for collector in Collector::for_event_source(&c.source) {
            let region = if collector.is_global() {
                "global".to_owned()
            } else if scanned
                .get(c.account_id.as_str())
                .is_some_and(|r| r.contains(c.region.as_str()))
            {
                c.region.clone()
            } else {
                // A region the snapshot did not scan: a full scan decides the regions in use.
                continue;
            };
            plan.insert(Reread {
                account_id: c.account_id.clone(),
                region,
                collector: *collector,
            });
        }
    }
    let swept: Vec<Reread> = plan
        .iter()
        .filter(|r| !r.collector.is_global() && r.collector != Collector::Tags)
        .map(|r| Reread {
            collector: Collector::Tags,
            ..r.clone()
        })
        .collect();
    plan.extend(swept);
    plan.into_iter().collect()
}

/// Every account and region whose history a refresh reads: where the snapshot scanned, where it
/// read history, and us-east-1 (CloudTrail records IAM and the organization there). Accounts the
/// snapshot could not scan are left as they are: they need a scan of their own.
fn places(previous: &ScanReport) -> Vec<(Account, String)> {
    let scanned = scanned_regions(previous);
    let mut out = Vec::new();
    for a in previous
        .accounts
        .iter()
        .filter(|a| a.status != AccountStatus::Error)
    {
        let mut regions: BTreeSet<&str> = scanned.get(a.id.as_str()).cloned().unwrap_or_default();
        regions.extend(
            previous
                .feed
                .iter()
                .filter(|f| f.account_id == a.id)
                .map(|f| f.region.as_str()),
        );
        regions.insert(aws::FALLBACK_REGION);
        out.extend(regions.into_iter().map(|r| (a.clone(), r.to_owned())));
    }
    out
}

/// The regions the snapshot scanned in each account.
fn scanned_regions(previous: &ScanReport) -> HashMap<&str, BTreeSet<&str>> {
    previous
        .coverage
        .accounts
        .iter()
        .map(|c| {
            (
                c.account_id.as_str(),
                c.regions.iter().map(String::as_str).collect(),
            )
        })
        .collect()
}

/// Replaces what the collectors in `jobs` read in `account` with what they read now.
fn patch(
    report: &mut ScanReport,
    account: &Account,
    jobs: &[&Reread],
    mut collected: Collected,
    errors: Vec<CollectError>,
) {
    let replaced = |collector: Collector, region: &str| {
        jobs.iter()
            .any(|j| j.collector == collector && (collector.is_global() || j.region == region))
    };
    report.resources.retain(|r| {
        r.account_id != account.id
            || !Collector::of_type(&r.type_name).is_some_and(|c| replaced(c, &r.region))
    });
    let mut seen: HashSet<String> = report.resources.iter().map(|r| r.id.clone()).collect();
    // The stacks read again, with the parameters they read matched in the account's parameters.
    report
        .stacks
        .retain(|s| s.account_id != account.id || !replaced(Collector::Cloudformation, &s.region));
    let mut fresh_stacks = Collected {
        resources: report
            .resources
            .iter()
            .chain(collected.resources.iter())
            .filter(|r| r.account_id == account.id && r.type_name == collect::ssm::TYPE)
            .cloned()
            .collect(),
        stacks: std::mem::take(&mut collected.stacks),
        ..Collected::default()
    };
    template_reads(&mut fresh_stacks);
    report.stacks.extend(fresh_stacks.stacks);
    report.stacks.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.name).cmp(&(&b.account_id, &b.region, &b.name))
    });
    for mut r in collected.resources {
        if seen.insert(r.id.clone()) {
            r.stage = account.stage.clone();
            report.resources.push(r);
        }
    }
    let Some(held) = report.accounts.iter_mut().find(|a| a.id == account.id) else {
        return;
    };
    held.collect_errors
        .retain(|e| !replaced(e.collector, &e.region));
    held.collect_errors.extend(errors);
    held.collect_errors
        .sort_by(|a, b| (a.collector, &a.region).cmp(&(b.collector, &b.region)));
    for known in &mut held.limits {
        for c in [Collector::Cloudformation, Collector::Lambda] {
            if replaced(c, &known.region) {
                known.forget(c);
            }
        }
    }
    for l in collected.limits {
        match held.limits.iter_mut().find(|k| k.region == l.region) {
            Some(known) => known.merge(l),
            None => held.limits.push(l),
        }
    }
    held.status = if held.collect_errors.is_empty() {
        AccountStatus::Ok
    } else {
        AccountStatus::Partial
    };
    if held.status == AccountStatus::Ok {
        held.error = None;
    }
}

/// The patched snapshot's coverage: the accounts' lines built again, the history's gaps from this
/// read, and everything else the snapshot's scan did not see carried over.
fn recover(previous: &ScanReport, report: &ScanReport) -> stagecraft_model::coverage::Coverage {
    let regions: BTreeMap<String, (Vec<String>, u32)> = previous
        .coverage
        .accounts
        .iter()
        .map(|c| {
            (
                c.account_id.clone(),
                (c.regions.clone(), c.region_probe_calls),
            )
        })
        .collect();
    let states: Vec<LoadedState> = report
        .terraform
        .iter()
        .map(|s| LoadedState {
            summary: s.clone(),
            state: None,
        })
        .collect();
    let account_stages: BTreeMap<String, String> = report
        .accounts
        .iter()
        .filter_map(|a| Some((a.id.clone(), a.stage.clone()?)))
        .collect();
    // The lines the snapshot's accounts and history gave; the rest (state searches, regions) stay.
    let mut derived: HashSet<String> = coverage::account_lines(&previous.accounts)
        .into_iter()
        .collect();
    derived.extend(history_gaps(&previous.feed));
    let carried: Vec<String> = previous
        .coverage
        .skipped
        .iter()
        .filter(|l| !derived.contains(*l))
        .cloned()
        .collect();
    let mut built = coverage::build(coverage::Seen {
        region_source: &previous.coverage.region_source,
        regions: &regions,
        accounts: &report.accounts,
        states: &states,
        state: previous.coverage.state.clone(),
        state_skipped: carried,
        services: &report.services,
        account_stages: &account_stages,
    });
    built.partial |= previous.coverage.partial && !previous.coverage.skipped.is_empty();
    built.skipped.extend(history_gaps(&report.feed));
    built.value_key = previous.coverage.value_key.clone();
    built
}

#[cfg(test)]
mod tests {
    use super::*;
    use stagecraft_model::change::Tool;
    use stagecraft_model::Resource;

    #[test]
    fn a_bucket_is_listed_under_what_its_states_share() {
        assert_eq!(
            common_prefix(
                [
                    "env:/dev/core/terraform.tfstate",
                    "env:/qa/core/terraform.tfstate"
                ]
                .into_iter()
            ),
            "env:/"
        );
        assert_eq!(
            common_prefix(["live/dev/core/terraform.tfstate"].into_iter()),
            "live/dev/core/"
        );
        // The default workspace's key has no folder: the whole bucket.
        assert_eq!(
            common_prefix(
                ["core/terraform.tfstate", "env:/dev/core/terraform.tfstate"].into_iter()
            ),
            ""
        );
        assert_eq!(common_prefix(std::iter::empty()), "");
    }

    fn event(id: &str, at: &str, source: &str, region: &str) -> ChangeEvent {
        ChangeEvent {
            id: id.into(),
            at: at.into(),
            account_id: "111".into(),
            region: region.into(),
            source: source.into(),
            action: "X".into(),
            who: "user a".into(),
            who_arn: None,
            tool: Tool::Console,
            user_agent: String::new(),
            targets: Vec::new(),
            window_days: None,
        }
    }

    #[test]
    fn a_lambda_change_replaces_only_that_regions_functions_and_keeps_the_rest() {
        let account = Account {
            id: "111".into(),
            name: "dev".into(),
            email: "dev@acme.example".into(),
            parent_id: "ou-1".into(),
            ou_path: Vec::new(),
            is_management: false,
            stage: Some("dev".into()),
            stage_source: stagecraft_model::StageSource::Config,
            tags: Default::default(),
            status: AccountStatus::Ok,
            access: None,
            identity: None,
            error: None,
            collect_errors: Vec::new(),
            limits: Vec::new(),
            counts: Default::default(),
        };
        let mut report = ScanReport {
            profile: "m".into(),
            regions: Vec::new(),
            organization: stagecraft_model::Organization {
                id: "o-1".into(),
                management_account_id: "000".into(),
                root_id: "r-1".into(),
                ous: Vec::new(),
            },
            accounts: Vec::new(),
            resources: Vec::new(),
            stacks: Vec::new(),
            terraform: Vec::new(),
            services: Vec::new(),
            declared: Vec::new(),
            warnings: Vec::new(),
            coverage: Default::default(),
            changes: Vec::new(),
            feed: Vec::new(),
            refreshed: false,
            started_at: "2026-11-29T00:00:00Z".into(),
            duration_ms: 1,
        };
        report.accounts.push(account.clone());
        let f = |name: &str, region: &str| {
            Resource::new(
                collect::lambda::TYPE,
                format!("arn:aws:lambda:{region}:111:function:{name}"),
                name.into(),
                "111",
                region,
            )
        };
        report.resources = vec![f("old", "eu-west-1"), f("other", "us-east-1")];
        let mut table = Resource::new(
            collect::dynamodb::TYPE,
            "arn:aws:dynamodb:eu-west-1:111:table/t".into(),
            "t".into(),
            "111",
            "eu-west-1",
        );
        table.attr("x", "kept");
        report.resources.push(table);
        let job = Reread {
            account_id: "111".into(),
            region: "eu-west-1".into(),
            collector: Collector::Lambda,
        };
        patch(
            &mut report,
            &account,
            &[&job],
            Collected::from(vec![f("new", "eu-west-1")]),
            Vec::new(),
        );
        let mut names: Vec<&str> = report.resources.iter().map(|r| r.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["new", "other", "t"]);
        let new = report.resources.iter().find(|r| r.name == "new").unwrap();
        assert_eq!(new.stage.as_deref(), Some("dev"));
    }

    #[test]
    fn each_event_plans_its_services_collector_where_it_happened_and_that_regions_tag_sweep() {
        let scanned: HashMap<&str, BTreeSet<&str>> =
            [("111", ["eu-west-1", "us-east-1"].into_iter().collect())]
                .into_iter()
                .collect();
        let events = [
            event("1", "t", "lambda.amazonaws.com", "eu-west-1"),
            event("2", "t", "lambda.amazonaws.com", "eu-west-1"),
            event("3", "t", "iam.amazonaws.com", "us-east-1"),
            event("4", "t", "apigateway.amazonaws.com", "us-east-1"),
            // No collector reads EC2; eu-central-1 was not scanned.
            event("5", "t", "ec2.amazonaws.com", "eu-west-1"),
            event("6", "t", "ssm.amazonaws.com", "eu-central-1"),
        ];
        let refs: Vec<&ChangeEvent> = events.iter().collect();
        let got: Vec<(String, &str)> = plan(&refs, &scanned)
            .iter()
            .map(|r| (r.region.clone(), r.collector.name()))
            .collect();
        assert_eq!(
            got,
            [
                ("eu-west-1".to_owned(), "lambda"),
                ("eu-west-1".to_owned(), "tags"),
                ("global".to_owned(), "iam"),
                ("us-east-1".to_owned(), "apigateway"),
                ("us-east-1".to_owned(), "apigatewayv2"),
                ("us-east-1".to_owned(), "tags"),
            ]
        );
    }
}
