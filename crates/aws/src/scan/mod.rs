//! A scan: discover the organization, collect every account concurrently with bounded parallelism,
//! read Terraform state and the Serverless services, then decide every resource's owner.
//!
//! Progress goes to a plain callback (the CLI draws bars from it, the app forwards it over a Tauri
//! channel), so the core stays free of any UI. One account failing never stops the others: it is marked
//! with the reason and the scan completes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aws_config::SdkConfig;
use futures::stream::{self, StreamExt};
use futures::FutureExt as _;
use stagecraft_iac::config::discovers_state;

use crate::collect::{self, CollectError, Collected, Collector, StackFacts, ValueHasher};
use crate::config::Workspace;
use crate::credentials::{self as aws, AwsEnv};
use crate::model::{Access, Account, AccountStatus, Resource, ScanReport, ScanTarget};
use crate::serverless::{self, ResolvedService};
use crate::{discover, own, remote_state, Error, UiError};
use stagecraft_store::spool::Spool;
use stagecraft_store::Store;

mod coverage;
pub mod refresh;
mod regions;

pub use refresh::{Refresh, Refreshed, Refresher, Reread};
pub use stagecraft_model::ScanEvent;

/// Collectors running at once inside one account (accounts themselves are bounded by `parallelism`).
/// Each calls a different service, with API limits of its own, so every collector of a one-region
/// account runs at once: the account takes as long as its longest chain of calls, not a queue of them.
const COLLECTORS_PER_ACCOUNT: usize = 12;

/// What to scan; `None`s fall back to the workspace config, then to defaults.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub profile: Option<String>,
    pub regions: Vec<String>,
    pub parallelism: Option<usize>,
    /// Keys the hashes of environment values; the store's key makes them comparable across scans.
    pub hasher: Option<ValueHasher>,
    /// Rescan one account and keep what `previous` knows of the others (ownership, links and the
    /// audit are still decided over the whole organization).
    pub rescan: Option<Rescan>,
    /// Roles taken through the management profile's IAM Identity Center sign-in, instead of a
    /// profile per account or the organization's role.
    pub sso_roles: stagecraft_model::signin::SsoRoles,
    /// The organization's last snapshot (its resources are not needed): each account's CloudTrail
    /// history is read on from where it stopped, and the changes it holds are kept.
    pub last: Option<Arc<ScanReport>>,
    /// Scan only this shard's accounts (the others are marked another shard's); every state is
    /// still read.
    pub shard: Option<stagecraft_model::coverage::Shard>,
    /// How many resources the scan holds in memory before it sets the rest aside on disk (the
    /// default: [`stagecraft_store::spool::HELD_RESOURCES`]).
    pub held_resources: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Rescan {
    pub account_id: String,
    pub previous: std::sync::Arc<ScanReport>,
}

/// The management profile a scan uses: `--profile`, else the config, else `AWS_PROFILE`, else `default`.
pub fn management_profile(opts: &ScanOptions, workspace: &Workspace) -> String {
    opts.profile
        .clone()
        .or_else(|| workspace.config.organization.profile.clone())
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "default".to_owned())
}

/// Which organization a scan with these options would look at, without calling AWS.
pub fn target(workspace: &Workspace, opts: &ScanOptions) -> ScanTarget {
    ScanTarget {
        profile: management_profile(opts, workspace),
        config_path: workspace.path.as_ref().map(|p| p.display().to_string()),
        aws_config_file: std::env::var("AWS_CONFIG_FILE")
            .ok()
            .filter(|s| !s.is_empty()),
        stages: workspace.config.stages.keys().cloned().collect(),
        scan_on_open: true,
        live_interval: stagecraft_model::LIVE_INTERVAL,
        protected_stages: workspace
            .config
            .stages
            .keys()
            .map(String::as_str)
            .chain(["prod"])
            .filter(|s| stagecraft_analysis::deletion::is_protected(workspace, s))
            .map(str::to_owned)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// Discovers the organization and scans every account.
pub async fn scan(
    env: &AwsEnv,
    workspace: &Workspace,
    opts: &ScanOptions,
    progress: &(dyn Fn(ScanEvent) + Send + Sync),
) -> Result<ScanReport, Error> {
    let decided = decide(env, workspace, opts, progress).await?;
    let mut all = Gather::default();
    let mut report = decided.finish(&mut all)?;
    report.resources = all.resources;
    report.stacks = all.stacks;
    progress(ScanEvent::Finished {
        duration_ms: report.duration_ms,
    });
    Ok(report)
}

/// Scans every account, setting each aside as it finishes, and decides what crosses accounts;
/// [`Decided::finish`] then decides the owners one account at a time.
pub async fn decide(
    env: &AwsEnv,
    workspace: &Workspace,
    opts: &ScanOptions,
    progress: &(dyn Fn(ScanEvent) + Send + Sync),
) -> Result<Decided, Error> {
    let started = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let started_at = now_rfc3339();
    let profile = management_profile(opts, workspace);
    env.require_profile(&profile).await?;
    progress(ScanEvent::Started {
        profile: profile.clone(),
    });

    let mgmt = env.sdk_config(&profile, None).await;
    let home = mgmt
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| aws::FALLBACK_REGION.to_owned());
    let (fixed_regions, region_source) = if !opts.regions.is_empty() {
        (Some(opts.regions.clone()), "option")
    } else if !workspace.config.organization.regions.is_empty() {
        (
            Some(workspace.config.organization.regions.clone()),
            "config",
        )
    } else {
        (None, "in use")
    };

    let tree = discover::tree(&mgmt, &profile).await?;
    phase_took(started, "reading the organization and its root");
    let clock = tree.clock.filter(|c| c.matters());
    if let Some(r) = &opts.rescan {
        if r.previous.organization.id != tree.organization.id {
            return Err(Error::Input(format!(
                "the snapshot to refresh is of organization {}, but profile `{profile}` reaches \
                 organization {}: scan the whole organization, or switch back to it",
                r.previous.organization.id, tree.organization.id
            )));
        }
    }

    let Signin {
        profiles,
        roles,
        sso,
    } = signin(env, &profile, opts).await?;
    let parallelism = opts
        .parallelism
        .unwrap_or(workspace.config.scan.parallelism)
        .max(1);
    let hasher = opts.hasher.clone().unwrap_or_else(ValueHasher::ephemeral);
    let (events, mut progressed) = tokio::sync::mpsc::unbounded_channel();
    let (stages, known_stages) = tokio::sync::watch::channel(None);
    let ctx = Arc::new(AccountCtx {
        env: env.clone(),
        stages: known_stages,
        mgmt_identity: tree.identity.clone(),
        workspace: workspace.clone(),
        mgmt: mgmt.clone(),
        mgmt_profile: profile.clone(),
        profiles: profiles.clone(),
        roles,
        sso,
        regions: fixed_regions.clone(),
        home: home.clone(),
        hasher: hasher.clone(),
        account_timeout: std::time::Duration::from_secs(workspace.config.scan.account_timeout),
        events,
        history_from: history_cursors(
            opts.last
                .as_deref()
                .or(opts.rescan.as_ref().map(|r| r.previous.as_ref())),
            &tree.organization.id,
            now,
        ),
        first_history: now - time::Duration::days(i64::from(workspace.config.scan.history_days)),
        now,
    });
    // The configured backend is listed while the accounts are scanned; each account's buckets are
    // searched for state as soon as it is scanned, leaving the configured locations to the backend.
    let searching = discovers_state(workspace);
    let configured = {
        let (env, workspace, mgmt, profiles) = (
            env.clone(),
            workspace.clone(),
            mgmt.clone(),
            profiles.clone(),
        );
        async move {
            Arc::new(remote_state::Configured::list(&env, &workspace, &mgmt, &profiles).await)
        }
        .boxed()
        .shared()
    };
    // Each account is a task of its own, so that the work of reading answers spreads over the
    // runtime's threads; dropping the scan aborts them.
    let gate = Arc::new(tokio::sync::Semaphore::new(parallelism));
    let mut tasks = tokio::task::JoinSet::new();
    let mut start = |account: Account| {
        let (ctx, gate) = (ctx.clone(), gate.clone());
        let configured = searching.then(|| configured.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            ctx.scan_and_search(account, configured).await
        });
    };
    // Each account starts as soon as its tags (and so its stage) are known; its progress waits in
    // the channel until the window has the whole organization. A refresh of one account waits
    // for all of them, to choose the one.
    let mut discovered = Vec::new();
    {
        let mut tagged = std::pin::pin!(tree.accounts(workspace));
        while let Some(account) = tagged.next().await {
            let mut account = account?;
            match opts.shard {
                Some(shard) if !shard.holds(&account.id) => {
                    account.status = AccountStatus::OtherShard;
                }
                _ if opts.rescan.is_none() => start(account.clone()),
                _ => {}
            }
            discovered.push(account);
        }
    }
    let organization = tree.walked();
    phase_took(started, "listing the accounts and reading their tags");
    discovered.sort_by(Account::display_order);
    stages.send_replace(Some(Arc::new(
        discovered
            .iter()
            .map(|a| (a.id.clone(), a.stage.clone()))
            .collect(),
    )));
    progress(ScanEvent::Discovered {
        organization: organization.clone(),
        accounts: discovered.clone(),
    });
    if let (Some(_), Some(_)) = (&opts.shard, &opts.rescan) {
        return Err(Error::Input(
            "a sharded scan scans its share of the organization; rescan one account without --shard".into(),
        ));
    }
    // Another shard's accounts: not scanned, their buckets searched for state all the same.
    let elsewhere: Vec<Account> = discovered
        .iter()
        .filter(|a| a.status == AccountStatus::OtherShard)
        .cloned()
        .collect();
    for a in &elsewhere {
        progress(ScanEvent::AccountFinished {
            account: Box::new(a.clone()),
        });
    }
    let searching_elsewhere = {
        let (ctx, elsewhere, configured) = (ctx.clone(), elsewhere.clone(), configured.clone());
        async move {
            if !searching || elsewhere.is_empty() {
                return Vec::new();
            }
            let known = Arc::new(configured.await.locations());
            let searches: Vec<_> = elsewhere
                .into_iter()
                .map(|a| {
                    let (ctx, known) = (ctx.clone(), known.clone());
                    async move {
                        let config = ctx.credentials(&a.id, &ctx.access_for(&a)).await;
                        remote_state::search_elsewhere(&a.id, config, &known).await
                    }
                    .boxed()
                })
                .collect();
            stream::iter(searches)
                .buffer_unordered(parallelism)
                .collect::<Vec<_>>()
                .await
        }
    };
    let kept = match &opts.rescan {
        None => elsewhere
            .into_iter()
            .map(|a| (a, Collected::default()))
            .collect(),
        Some(r) => {
            let (to_scan, kept) = keep_all_but(discovered, r, progress)?;
            to_scan.into_iter().for_each(&mut start);
            kept
        }
    };
    // Each account is set aside as it finishes: what a scan holds does not grow with the
    // organization (only what ownership across accounts needs stays: buckets and parameters).
    let mut spool = Spool::holding(
        opts.held_resources
            .unwrap_or(stagecraft_store::spool::HELD_RESOURCES),
    );
    let mut aside = Aside::default();
    let scanning = async move {
        let mut done = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((mut fresh, searched)) => {
                    aside.put(&mut spool, &fresh.account, &mut fresh.collected)?;
                    done.push((fresh, searched));
                }
                // A panic in an account's task is a bug: raised here, as without the task.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {}
            }
        }
        Ok::<_, Error>((done, spool, aside))
    };
    let reading = async { configured.clone().await.read().await };
    let both = futures::future::join3(scanning, reading, searching_elsewhere);
    tokio::pin!(both);
    let (fresh, from_backend, searched_elsewhere) = loop {
        tokio::select! {
            done = &mut both => break done,
            Some(event) = progressed.recv() => progress(event),
        }
    };
    let (fresh, mut spool, mut aside) = fresh?;
    phase_took(started, "reading the accounts and the backend");
    while let Ok(event) = progressed.try_recv() {
        progress(event);
    }
    let (fresh, mut searched): (Vec<Fresh>, Vec<Option<remote_state::Searched>>) =
        fresh.into_iter().unzip();
    let mut accounts: Vec<Account> = Vec::new();
    let mut histories = Vec::new();
    let mut scanned_regions: BTreeMap<String, (Vec<String>, u32)> = BTreeMap::new();
    let mut region_notes = Vec::new();
    for f in fresh {
        if let Some(note) = f.note {
            region_notes.push(format!(
                "account {} ({}): {note}",
                f.account.id, f.account.name
            ));
        }
        scanned_regions.insert(f.account.id.clone(), (f.regions, f.probe_calls));
        histories.extend(f.history);
        accounts.push(f.account);
    }
    if let Some(r) = &opts.rescan {
        // Kept accounts keep the regions they were scanned in.
        for (account, _) in &kept {
            let regions = r
                .previous
                .coverage
                .accounts
                .iter()
                .find(|c| c.account_id == account.id)
                .map(|c| c.regions.clone())
                .unwrap_or_else(|| r.previous.regions.clone());
            scanned_regions.insert(account.id.clone(), (regions, 0));
        }
    }
    let regions: Vec<String> = {
        let mut all: Vec<String> = scanned_regions
            .values()
            .flat_map(|(r, _)| r.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // The home region first, as before.
        all.sort_by_key(|r| (*r != home, r.clone()));
        all
    };
    searched.extend(searched_elsewhere.into_iter().map(Some));
    if searching && opts.rescan.is_some() && !kept.is_empty() {
        // Accounts kept from an earlier snapshot are searched now, with fresh credentials.
        let known = configured.clone().await.locations();
        let stores = ctx.kept_stores(&kept).await;
        let known = &known;
        let searches: Vec<_> = stores
            .iter()
            .map(|s| remote_state::search_account(s, known))
            .collect();
        let more: Vec<remote_state::Searched> = stream::iter(searches)
            .buffer_unordered(parallelism)
            .collect()
            .await;
        searched.extend(more.into_iter().map(Some));
    }
    for (account, mut collected) in kept {
        aside.put(&mut spool, &account, &mut collected)?;
        accounts.push(account);
    }
    let Aside {
        bucket_owners,
        parameters,
    } = aside;
    accounts.sort_by(Account::display_order);
    let account_stages: BTreeMap<String, String> = accounts
        .iter()
        .filter_map(|a| Some((a.id.clone(), a.stage.clone()?)))
        .collect();
    let mut stages: BTreeSet<String> = account_stages.values().cloned().collect();
    stages.extend(workspace.config.stages.keys().cloned());

    let mut warnings = Vec::new();
    if let Some(clock) = clock {
        warnings.push(UiError {
            code: stagecraft_model::ErrorCode::ClockSkew,
            message: format!(
                "{} (from the management account's answer); AWS refuses requests signed more than \
                 5 minutes off. The scan corrected for it, but a deploy's Terraform and Serverless \
                 may not: {}",
                clock.describe(),
                crate::clock::ClockOffset::FIX
            ),
        });
    }
    progress(ScanEvent::Phase {
        name: "terraform".into(),
        detail: "reading Terraform state".into(),
    });
    let searched = searching.then(|| searched.into_iter().flatten().collect());
    let mut found = remote_state::assemble(from_backend, searched, |bucket| {
        bucket_owners.get(bucket).cloned()
    });
    warnings.append(&mut found.warnings);
    phase_took(started, "assembling the state files");
    let mut states = std::mem::take(&mut found.states);
    for s in &mut states {
        stagecraft_iac::state_stage::decide(
            s,
            stagecraft_iac::state_stage::Context {
                workspace,
                stages: &stages,
                account_stages: &account_stages,
            },
        );
    }
    progress(ScanEvent::Phase {
        name: "services".into(),
        detail: "reading serverless.yml files".into(),
    });
    let mut services = load_services(workspace, &stages, &mgmt, &account_stages, &mut warnings);
    expect_deployed_values(&mut services, &parameters, &account_stages, &hasher);
    let service_names: BTreeSet<String> = services.iter().map(|s| s.service.clone()).collect();
    phase_took(started, "resolving the services");

    progress(ScanEvent::Phase {
        name: "ownership".into(),
        detail: format!("matching {} resources to their owners", aside_count(&spool)),
    });
    // Terraform claims across accounts (a state in one account names resources in others): every
    // account's resources are looked through once, one account at a time.
    let terraform = {
        let mut terraform = own::Terraform::new(&mut states, &account_stages);
        if !terraform.is_empty() {
            for a in &accounts {
                terraform.observe(&spool.resources(&a.id)?);
            }
        }
        terraform.finish()
    };
    phase_took(started, "matching Terraform's claims");
    let earlier = opts
        .last
        .as_deref()
        .or(opts.rescan.as_ref().map(|r| r.previous.as_ref()))
        .filter(|l| l.organization.id == organization.id);
    let (changes, feed) = merge_history(histories, earlier, now);

    let mut coverage = coverage::build(coverage::Seen {
        region_source,
        regions: &scanned_regions,
        accounts: &accounts,
        states: &states,
        state: found.coverage,
        state_skipped: found.skipped,
        services: &services,
        account_stages: &account_stages,
    });
    coverage.partial |= !region_notes.is_empty();
    coverage.value_key = Some(hasher.fingerprint());
    if let Some(shard) = opts.shard {
        coverage.shard = Some(shard);
        let others = accounts
            .iter()
            .filter(|a| a.status == AccountStatus::OtherShard)
            .count();
        coverage.skipped.push(shard.note(others));
    }
    coverage.skipped.extend(region_notes);
    coverage.skipped.extend(history_gaps(&feed));
    let declared = declared_names(workspace, &stages, &services, &mut warnings);
    let head = ScanReport {
        coverage,
        profile,
        regions,
        organization,
        accounts,
        resources: Vec::new(),
        stacks: Vec::new(),
        terraform: states.into_iter().map(|s| s.summary).collect(),
        declared,
        services,
        warnings,
        changes,
        feed,
        refreshed: false,
        started_at,
        duration_ms: 0,
    };
    Ok(Decided {
        head,
        spool,
        terraform,
        service_names,
        stages,
        account_stages,
        started,
    })
}

/// What the accounts' scans set aside while the others go on, and the little kept in memory for
/// deciding across accounts: which account holds each bucket (a state backend's), and the
/// parameters' value hashes (what a deploy would give the functions).
#[derive(Default)]
struct Aside {
    bucket_owners: HashMap<String, String>,
    /// (account, region, name) → the value's keyed hash (a SecureString has none).
    parameters: HashMap<(String, String, String), String>,
}

impl Aside {
    fn put(
        &mut self,
        spool: &mut Spool,
        account: &Account,
        collected: &mut Collected,
    ) -> Result<(), Error> {
        for r in &mut collected.resources {
            r.stage.clone_from(&account.stage);
            if r.type_name == collect::s3::TYPE {
                self.bucket_owners
                    .entry(r.name.clone())
                    .or_insert_with(|| account.id.clone());
            }
            if r.type_name == collect::ssm::TYPE {
                if let Some(v) = r.attr_str("value") {
                    self.parameters.insert(
                        (r.account_id.clone(), r.region.clone(), r.name.clone()),
                        v.to_owned(),
                    );
                }
            }
        }
        spool.put(
            std::mem::take(&mut collected.resources),
            std::mem::take(&mut collected.stacks),
        )?;
        Ok(())
    }
}

fn aside_count(spool: &Spool) -> usize {
    spool.resource_count().unwrap_or_default()
}

/// A scan whose every account has been read and whose Terraform claims are decided; each
/// account's resources wait in the spool for their owners, decided an account at a time.
#[derive(Debug)]
pub struct Decided {
    head: ScanReport,
    spool: Spool,
    terraform: HashMap<String, Vec<stagecraft_model::Claim>>,
    service_names: BTreeSet<String>,
    stages: BTreeSet<String>,
    account_stages: BTreeMap<String, String>,
    started: Instant,
}

/// Where a decided scan's accounts go, one at a time, in the accounts' order.
pub trait Sink {
    /// An account made ready to be handed on, on the thread that decides the owners, while the
    /// sink takes the account before it.
    type Ready: Send;
    fn ready(resources: Vec<Resource>, stacks: Vec<StackFacts>) -> Result<Self::Ready, Error>;
    fn account(&mut self, ready: Self::Ready) -> Result<(), Error>;
}

/// Every account gathered into one report.
#[derive(Default)]
struct Gather {
    resources: Vec<Resource>,
    stacks: Vec<StackFacts>,
}

impl Sink for Gather {
    type Ready = (Vec<Resource>, Vec<StackFacts>);
    fn ready(resources: Vec<Resource>, stacks: Vec<StackFacts>) -> Result<Self::Ready, Error> {
        Ok((resources, stacks))
    }
    fn account(&mut self, (resources, stacks): Self::Ready) -> Result<(), Error> {
        self.resources.extend(resources);
        self.stacks.extend(stacks);
        Ok(())
    }
}

/// The store's rows are serialised while the account before is inserted.
impl Sink for stagecraft_store::Writer<'_> {
    type Ready = stagecraft_store::Prepared;
    fn ready(resources: Vec<Resource>, stacks: Vec<StackFacts>) -> Result<Self::Ready, Error> {
        Ok(stagecraft_store::Prepared::of(&resources, &stacks)?)
    }
    fn account(&mut self, ready: Self::Ready) -> Result<(), Error> {
        Ok(self.add(ready)?)
    }
}

impl Decided {
    pub fn organization_id(&self) -> &str {
        &self.head.organization.id
    }

    pub fn started_at(&self) -> &str {
        &self.head.started_at
    }

    /// Decides each account's owners and hands the account to `sink`; returns the report without
    /// its resources and stacks (they went to the sink), each account with its counts. The owners
    /// are decided on a thread of their own, an account or two ahead of the sink.
    pub fn finish<S: Sink>(self, sink: &mut S) -> Result<ScanReport, Error> {
        let Decided {
            mut head,
            mut spool,
            terraform,
            service_names,
            stages,
            account_stages,
            started,
        } = self;
        let changes = stagecraft_analysis::change::by_account(&head.changes);
        let ids: Vec<String> = head.accounts.iter().map(|a| a.id.clone()).collect();
        let decide = |id: &str| -> Result<_, Error> {
            let (mut resources, mut stacks) = spool.take(id)?;
            own::assign_claimed(
                &mut resources,
                own::Claimed {
                    stacks: &stacks,
                    services: &service_names,
                    stages: &stages,
                    account_stages: &account_stages,
                    terraform: &terraform,
                    carried: &Default::default(),
                },
            );
            stagecraft_analysis::change::attach(
                &mut resources,
                changes.get(id).into_iter().flatten().copied(),
            );
            let counts = count_owners(&resources);
            sort_resources(&mut resources);
            stacks.sort_by(|a, b| (&a.region, &a.name).cmp(&(&b.region, &b.name)));
            Ok((counts, S::ready(resources, stacks)?))
        };
        // At most two decided accounts wait between the threads, besides the one being decided and
        // the one being taken: what is held stays a few accounts' worth, whatever the organization.
        let (decided, taken) = std::sync::mpsc::sync_channel(2);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut decide = decide;
                for id in &ids {
                    let next = decide(id);
                    let failed = next.is_err();
                    // The sink failed and stopped taking, or this did: either way, done.
                    if decided.send(next).is_err() || failed {
                        break;
                    }
                }
            });
            for account in &mut head.accounts {
                let (counts, ready) = taken
                    .recv()
                    .map_err(|_| Error::Input("deciding the owners stopped early".into()))??;
                account.counts = counts;
                sink.account(ready)?;
            }
            Ok::<_, Error>(())
        })?;
        phase_took(started, "deciding owners and handing the accounts on");
        head.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(head)
    }
}

/// What every account's credentials are made from: the profiles, the roles they name, and the
/// IAM Identity Center sign-in with the roles chosen through it.
struct Signin {
    profiles: BTreeSet<String>,
    roles: HashMap<String, aws::ProfileRole>,
    sso: Option<(crate::sso::Session, stagecraft_model::signin::SsoRoles)>,
}

async fn signin(env: &AwsEnv, profile: &str, opts: &ScanOptions) -> Result<Signin, Error> {
    let profile_set = env.profile_set().await?;
    let sso = if opts.sso_roles.is_empty() {
        None
    } else {
        let session = env.sso_session(profile).await?;
        if session.is_none() {
            return Err(Error::Input(format!(
                "roles through IAM Identity Center were chosen, but profile `{profile}` does not \
                 sign in through IAM Identity Center; choose its IAM Identity Center profile or \
                 clear the roles"
            )));
        }
        session.map(|s| (s, opts.sso_roles.clone()))
    };
    Ok(Signin {
        profiles: profile_set.profiles().map(str::to_owned).collect(),
        roles: aws::profile_roles(&profile_set),
        sso,
    })
}

/// A scan stored as a snapshot.
#[derive(Debug)]
pub struct Stored {
    pub report: ScanReport,
    pub id: i64,
    /// The snapshots `[history]` no longer keeps, deleted after this one was stored.
    pub pruned: Vec<i64>,
}

/// Scans and stores the report as a snapshot; environment values are hashed with the store's key so
/// snapshots compare. Then prunes the snapshots `[history]` does not keep. The report returned is
/// the snapshot read back.
pub async fn scan_and_store(
    env: &AwsEnv,
    workspace: &Workspace,
    opts: &ScanOptions,
    store: &mut Store,
    progress: &(dyn Fn(ScanEvent) + Send + Sync),
) -> Result<Stored, Error> {
    let stored = scan_into_store(env, workspace, opts, store, progress).await?;
    Ok(Stored {
        report: store.load(stored.id)?,
        ..stored
    })
}

/// [`scan_and_store`] returning the report without its resources and stacks: each account goes
/// to the store as its owners are decided, so the scan never holds the organization whole.
pub async fn scan_into_store(
    env: &AwsEnv,
    workspace: &Workspace,
    opts: &ScanOptions,
    store: &mut Store,
    progress: &(dyn Fn(ScanEvent) + Send + Sync),
) -> Result<Stored, Error> {
    // The organization's last snapshot: its history reads go on from where they stopped. One that
    // cannot be read only means reading the history from the start again.
    let last = match &opts.last {
        Some(l) => Some(l.clone()),
        None => store
            .organization_of_profile(&management_profile(opts, workspace))
            .and_then(|org| match org {
                Some(org) => store.latest_head_in(&org),
                None => Ok(None),
            })
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the last snapshot could not be read; the CloudTrail history is read from the start");
                None
            })
            .map(Arc::new),
    };
    let opts = ScanOptions {
        hasher: Some(ValueHasher::new(store.hash_key()?)),
        last,
        ..opts.clone()
    };
    let decided = decide(env, workspace, &opts, progress).await?;
    let mut writer = store.writer(decided.organization_id(), decided.started_at())?;
    let report = decided.finish(&mut writer)?;
    let id = writer.finish(&report)?;
    progress(ScanEvent::Finished {
        duration_ms: report.duration_ms,
    });
    let history = &workspace.config.history;
    let pruned = store.prune(stagecraft_store::Retention {
        keep: history.keep,
        keep_days: history.keep_days,
    })?;
    if !pruned.is_empty() {
        tracing::info!(
            pruned = pruned.len(),
            keep = history.keep,
            "pruned the snapshots [history] no longer keeps"
        );
    }
    Ok(Stored { report, id, pruned })
}

/// One pass of the incremental refresh, stored.
#[derive(Debug)]
pub enum Pass {
    /// The snapshot patched with what changed; stored as a snapshot when anything did.
    Refreshed {
        refreshed: Box<Refreshed>,
        stored: Option<i64>,
    },
    /// What changed could not be followed from the history, so the organization was scanned in
    /// full: why, and the scan.
    Scanned { why: String, stored: Box<Stored> },
}

impl Pass {
    pub fn report(&self) -> &ScanReport {
        match self {
            Pass::Refreshed { refreshed, .. } => &refreshed.report,
            Pass::Scanned { stored, .. } => &stored.report,
        }
    }

    /// What the pass did, as the window and `watch --json` show it.
    pub fn summary(&self) -> stagecraft_model::change::LivePass {
        let at = collect::cloudtrail::rfc3339(time::OffsetDateTime::now_utc());
        match self {
            Pass::Refreshed { refreshed, stored } => stagecraft_model::change::LivePass {
                at,
                changes: refreshed.new_changes.clone(),
                read_again: refreshed.reread.clone(),
                full_scan: None,
                snapshot: *stored,
                unwatched: refreshed.unread.clone(),
                states_written: refreshed.states_written.clone(),
                history_from: refreshed.history_from.clone(),
            },
            Pass::Scanned { why, stored } => stagecraft_model::change::LivePass {
                at,
                changes: Vec::new(),
                read_again: Vec::new(),
                full_scan: Some(why.clone()),
                snapshot: Some(stored.id),
                unwatched: stored
                    .report
                    .feed
                    .iter()
                    .filter(|f| f.error.is_some())
                    .cloned()
                    .collect(),
                states_written: Vec::new(),
                history_from: None,
            },
        }
    }
}

/// The options a refresh with `store` needs: its hash key, so its values compare with the
/// snapshots'.
pub fn with_store_key(opts: &ScanOptions, store: &Store) -> Result<ScanOptions, Error> {
    Ok(ScanOptions {
        hasher: Some(ValueHasher::new(store.hash_key()?)),
        ..opts.clone()
    })
}

/// Refreshes `previous` (the organization's latest snapshot) from the history and stores what
/// changed; with no snapshot, or when the history cannot say what changed, scans in full.
pub async fn refresh_and_store(
    env: &AwsEnv,
    workspace: &Workspace,
    opts: &ScanOptions,
    refresher: &Refresher,
    previous: Option<&ScanReport>,
    store: &mut Store,
    progress: &(dyn Fn(ScanEvent) + Send + Sync),
) -> Result<Pass, Error> {
    let why = match previous {
        None => "there is no snapshot of the organization yet".to_owned(),
        Some(previous) => match refresher.refresh(previous).await? {
            Refresh::Patched(refreshed) => {
                let stored = if refreshed.changed() {
                    Some(store.save(&refreshed.report)?)
                } else {
                    None
                };
                return Ok(Pass::Refreshed { refreshed, stored });
            }
            Refresh::FullScan(why) => why,
        },
    };
    let opts = ScanOptions {
        last: previous.map(|p| Arc::new(p.clone())),
        ..opts.clone()
    };
    let stored = scan_and_store(env, workspace, &opts, store, progress).await?;
    Ok(Pass::Scanned {
        why,
        stored: Box::new(stored),
    })
}

/// An account with what was collected in it.
type Scanned = (Account, Collected);

/// An account scanned now: what was collected, the credentials, and the regions it was scanned in.
struct Fresh {
    account: Account,
    collected: Collected,
    config: Option<SdkConfig>,
    regions: Vec<String>,
    probe_calls: u32,
    /// Why the regions were narrowed, if they were.
    note: Option<String>,
    /// The write events of its regions' CloudTrail history, and how much of it was read.
    history: Vec<collect::cloudtrail::History>,
}

/// One account's regions that stopped answering. Once a call in a region could not reach AWS after
/// the SDK's retries (or the account's time ran out), the region's other collectors stop, running
/// or not yet started: each would only wait out the same retries, call after call.
struct Breaker(tokio::sync::watch::Sender<BTreeMap<String, String>>);

impl Default for Breaker {
    fn default() -> Self {
        Breaker(tokio::sync::watch::Sender::new(BTreeMap::new()))
    }
}

impl Breaker {
    fn tripped(&self, region: &str) -> Option<String> {
        self.0.borrow().get(region).cloned()
    }

    /// Waits until `region` stops answering, and says why.
    async fn tripped_in(&self, region: &str) -> String {
        let mut rx = self.0.subscribe();
        loop {
            if let Some(why) = rx.borrow_and_update().get(region).cloned() {
                return why;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    fn trip(&self, e: &CollectError) {
        use stagecraft_model::ErrorCode::{Timeout, Unreachable};
        if matches!(e.code, Timeout | Unreachable) {
            self.0.send_modify(|regions| {
                regions.entry(e.region.clone()).or_insert_with(|| {
                    format!(
                        "{} in {} got no answer ({})",
                        e.collector.name(),
                        e.region,
                        e.message
                    )
                });
            });
        }
    }
}

/// Splits the discovered accounts into the one to rescan and the others, which keep what the
/// previous snapshot collected (and are reported finished at once).
fn keep_all_but(
    discovered: Vec<Account>,
    rescan: &Rescan,
    progress: &(dyn Fn(ScanEvent) + Send + Sync),
) -> Result<(Vec<Account>, Vec<Scanned>), Error> {
    if !discovered.iter().any(|a| a.id == rescan.account_id) {
        return Err(Error::Input(format!(
            "account {} is not in the organization; rescan the whole organization instead",
            rescan.account_id
        )));
    }
    let prev = &rescan.previous;
    let mut to_scan = Vec::new();
    let mut kept = Vec::new();
    for account in discovered {
        if account.id == rescan.account_id {
            to_scan.push(account);
            continue;
        }
        // An account the previous snapshot did not have is scanned too.
        let Some(old) = prev.accounts.iter().find(|a| a.id == account.id) else {
            to_scan.push(account);
            continue;
        };
        let collected = Collected {
            resources: prev
                .resources
                .iter()
                .filter(|r| r.account_id == account.id)
                .cloned()
                .collect(),
            stacks: prev
                .stacks
                .iter()
                .filter(|s| s.account_id == account.id)
                .cloned()
                .collect(),
            sweeps: Vec::new(),
            limits: Vec::new(),
        };
        progress(ScanEvent::AccountFinished {
            account: Box::new(old.clone()),
        });
        kept.push((old.clone(), collected));
    }
    Ok((to_scan, kept))
}

/// The literal names the workspace's Terraform code and services create in each stage.
fn declared_names(
    workspace: &Workspace,
    stages: &BTreeSet<String>,
    services: &[ResolvedService],
    warnings: &mut Vec<UiError>,
) -> Vec<crate::model::deletion::DeclaredName> {
    let mut out = Vec::new();
    if let Some(dir) = workspace
        .config
        .terraform
        .as_ref()
        .and_then(|t| t.dir.as_ref())
    {
        let dir = workspace.base_dir().join(dir);
        // Files are named from the Terraform directory's parent: `infra/secrets.tf`.
        let shown_from = dir
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| dir.clone());
        let stages: Vec<String> = stages.iter().cloned().collect();
        let mut problems = Vec::new();
        out = stagecraft_iac::declared::terraform_names(&dir, &shown_from, &stages, &mut problems);
        warnings.extend(problems.into_iter().map(|message| UiError {
            code: stagecraft_model::ErrorCode::TerraformCode,
            message,
        }));
    }
    out.extend(
        services
            .iter()
            .flat_map(stagecraft_iac::declared::serverless_names),
    );
    out.sort();
    out.dedup();
    out
}

/// For every function environment variable fed by `${ssm:…}`, the hash of the value a deploy would
/// give it now, from the parameters this scan read in the stage's account.
fn expect_deployed_values(
    services: &mut [ResolvedService],
    parameters: &HashMap<(String, String, String), String>,
    account_stages: &BTreeMap<String, String>,
    hasher: &ValueHasher,
) {
    for svc in services {
        let Some(account) = account_stages
            .iter()
            .find(|(_, s)| **s == svc.stage)
            .map(|(a, _)| a.as_str())
        else {
            continue;
        };
        let region = svc.region.clone();
        // A SecureString carries no value: it is never decrypted, so never compared.
        let value_of = |name: &str| -> Option<String> {
            parameters
                .get(&(account.to_owned(), region.clone(), name.to_owned()))
                .cloned()
        };
        for f in &mut svc.functions {
            serverless::expect_values(f, &value_of, hasher);
        }
    }
}

/// Where a scan's time goes, at `debug`: each phase's end, from the scan's start.
fn phase_took(started: Instant, phase: &str) {
    tracing::debug!(
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "scan: {phase} done"
    );
}

/// Reads the configured services and resolves each for every stage; a broken file is a warning.
fn load_services(
    workspace: &Workspace,
    stages: &BTreeSet<String>,
    mgmt: &SdkConfig,
    account_stages: &BTreeMap<String, String>,
    warnings: &mut Vec<UiError>,
) -> Vec<ResolvedService> {
    let Some(sls) = &workspace.config.serverless else {
        return Vec::new();
    };
    let region = mgmt.region().map(|r| r.to_string());
    let mut out = Vec::new();
    for dir in &sls.services {
        let path = workspace.base_dir().join(dir);
        match serverless::load_service(&path) {
            Ok(file) => {
                for stage in stages {
                    let account = account_stages
                        .iter()
                        .find(|(_, s)| *s == stage)
                        .map(|(a, _)| a.as_str());
                    let resolved = file.resolve(Some(stage), region.as_deref(), account);
                    out.push(resolved);
                }
            }
            Err(e) => warnings.push(UiError {
                code: stagecraft_model::ErrorCode::ServerlessConfig,
                message: e.to_string(),
            }),
        }
    }
    out
}

/// Each account's stage, by account id.
type StageOf = HashMap<String, Option<String>>;

struct AccountCtx {
    env: AwsEnv,
    /// Every account of the organization with its stage, once every account's tags are read.
    stages: tokio::sync::watch::Receiver<Option<Arc<StageOf>>>,
    /// Who the management profile acts as (discovery asked).
    mgmt_identity: crate::model::Identity,
    workspace: Workspace,
    mgmt: SdkConfig,
    mgmt_profile: String,
    profiles: BTreeSet<String>,
    /// The profiles whose role is assumed here rather than by the SDK: AssumeRole's answer names
    /// the account, so no `sts:GetCallerIdentity` round trip follows it.
    roles: HashMap<String, aws::ProfileRole>,
    /// The management profile's sign-in and the roles chosen through it.
    sso: Option<(crate::sso::Session, stagecraft_model::signin::SsoRoles)>,
    /// The regions to scan in every account; `None`: the regions each account uses.
    regions: Option<Vec<String>>,
    /// The management profile's region, always scanned.
    home: String,
    hasher: ValueHasher,
    /// How long one account may take; what it has not answered by then is given up on.
    account_timeout: std::time::Duration,
    /// Progress, passed on by the scan's own task (accounts are scanned in tasks of their own).
    events: tokio::sync::mpsc::UnboundedSender<ScanEvent>,
    /// Where each account and region's CloudTrail history is read from (the last snapshot's read,
    /// less the delivery lag), and from how far back when no snapshot read it.
    history_from: HashMap<(String, String), time::OffsetDateTime>,
    first_history: time::OffsetDateTime,
    /// The scan's start: every history read ends here.
    now: time::OffsetDateTime,
}

impl AccountCtx {
    fn report(&self, event: ScanEvent) {
        // The receiver lives as long as the scan; after it, nobody is listening.
        let _ = self.events.send(event);
    }

    /// How to get credentials for an account: the profile its stage names in the workspace, else
    /// the role chosen for it through the IAM Identity Center sign-in, else a profile named after its
    /// stage, else the organization's role assumed from the management profile.
    fn access_for(&self, account: &Account) -> Access {
        if account.is_management {
            return Access::Profile {
                profile: self.mgmt_profile.to_owned(),
            };
        }
        let stage = account.stage.as_ref();
        let configured = stage.and_then(|stage| {
            self.workspace
                .config
                .stages
                .get(stage)
                .and_then(|s| s.profile.clone())
        });
        if let Some(profile) = configured {
            return Access::Profile { profile };
        }
        if let Some(role) = self
            .sso
            .as_ref()
            .and_then(|(_, roles)| roles.for_account(&account.id))
        {
            return Access::Sso {
                role_name: role.to_owned(),
                profile: self.mgmt_profile.to_owned(),
            };
        }
        if let Some(stage) = stage.filter(|s| self.profiles.contains(*s)) {
            return Access::Profile {
                profile: stage.clone(),
            };
        }
        Access::AssumeRole {
            role_arn: aws::role_arn(&account.id, self.workspace.config.assume_role()),
            source_profile: self.mgmt_profile.to_owned(),
        }
    }

    /// Credentials for `account` and who they act as. The organization's role is assumed here, and
    /// its answer names the account (AWS refuses a role that does not exist or does not trust the
    /// caller); a profile or an IAM Identity Center role is asked `sts:GetCallerIdentity`, since a
    /// profile may point anywhere.
    async fn reach(
        &self,
        account: &Account,
        access: &Access,
    ) -> Result<(SdkConfig, crate::model::Identity), UiError> {
        if matches!(access, Access::Profile { profile } if *profile == self.mgmt_profile) {
            return Ok((self.mgmt.clone(), self.mgmt_identity.clone()));
        }
        if let Access::AssumeRole { role_arn, .. } = access {
            return aws::assumed(&self.mgmt, role_arn)
                .await
                .map_err(|m| UiError {
                    code: stagecraft_model::ErrorCode::RoleMissing,
                    message: format!(
                        "{}: {m} — account {} ({}) has no role {} that the management account may \
                     assume; create it (AWS Organizations creates {} only in accounts it creates) \
                     or name another one with [organization] assume_role",
                        describe_access(access),
                        account.id,
                        account.name,
                        self.workspace.config.assume_role(),
                        crate::config::DEFAULT_ASSUME_ROLE
                    ),
                });
        }
        let profile_role = match access {
            Access::Profile { profile } => self.roles.get(profile),
            _ => None,
        };
        if let Some(role) = profile_role {
            let base = if role.source_profile == self.mgmt_profile {
                self.mgmt.clone()
            } else {
                let region = self.mgmt.region().map(|r| r.to_string());
                self.env
                    .sdk_config(&role.source_profile, region.as_deref())
                    .await
            };
            return aws::assumed_role(&base, role)
                .await
                .map_err(|m| unreached(account, access, m));
        }
        let config = self.credentials(&account.id, access).await;
        let identity = aws::caller_identity(&config)
            .await
            .map_err(|m| unreached(account, access, m))?;
        Ok((config, identity))
    }

    /// When a stage's profile reached another account of the same stage (a stage of several
    /// accounts, one of them the profile's), the organization's role assumed from the management
    /// profile reaches this one. Any other mismatch is a wrong profile and stays an error.
    async fn sibling_fallback(
        &self,
        account: &Account,
        access: &Access,
        reached: &str,
    ) -> Option<Access> {
        if !matches!(access, Access::Profile { .. }) || account.stage.is_none() {
            return None;
        }
        // The other accounts' stages: known once discovery has read every account's tags.
        let stages = self
            .stages
            .clone()
            .wait_for(Option::is_some)
            .await
            .ok()?
            .clone()?;
        let sibling = stages.get(reached) == Some(&account.stage);
        sibling.then(|| Access::AssumeRole {
            role_arn: aws::role_arn(&account.id, self.workspace.config.assume_role()),
            source_profile: self.mgmt_profile.to_owned(),
        })
    }

    async fn credentials(&self, account_id: &str, access: &Access) -> SdkConfig {
        match access {
            Access::Profile { profile } if *profile == self.mgmt_profile => self.mgmt.clone(),
            Access::Profile { profile } => {
                let region = self.mgmt.region().map(|r| r.to_string());
                self.env.sdk_config(profile, region.as_deref()).await
            }
            Access::AssumeRole { role_arn, .. } => aws::assume_role(&self.mgmt, role_arn).await,
            Access::Sso { role_name, .. } => match &self.sso {
                Some((session, _)) => {
                    aws::with_credentials(&self.mgmt, session.role(account_id, role_name))
                }
                None => self.mgmt.clone(),
            },
        }
    }

    /// Scans an account, then (given the configured backend's listing) searches its buckets for
    /// Terraform state.
    async fn scan_and_search(
        &self,
        account: Account,
        configured: Option<ConfiguredListing>,
    ) -> (Fresh, Option<remote_state::Searched>) {
        let fresh = self.scan_account(account).await;
        let (Some(configured), Some(config)) = (configured, &fresh.config) else {
            return (fresh, None);
        };
        if !searchable(&fresh.account) {
            return (fresh, None);
        }
        let stores = stores_of(&fresh.account, &fresh.collected, config.clone());
        let known = configured.await.locations();
        let searched = remote_state::search_account(&stores, &known).await;
        (fresh, Some(searched))
    }

    /// The buckets and lock tables of accounts kept from an earlier snapshot, with credentials
    /// for them (fetched now, all at once).
    async fn kept_stores(&self, kept: &[Scanned]) -> Vec<remote_state::AccountStores> {
        let fetched = futures::future::join_all(kept.iter().filter(|(a, _)| searchable(a)).map(
            |(a, collected)| async move {
                let access = self.access_for(a);
                let config = self.credentials(&a.id, &access).await;
                stores_of(a, collected, config)
            },
        ))
        .await;
        fetched
    }

    async fn scan_account(&self, mut account: Account) -> Fresh {
        // Until the regions are known, progress counts the home region only.
        let per_region = Collector::REGIONAL.len() as u32;
        let global = Collector::GLOBAL.len() as u32;
        let total = std::sync::atomic::AtomicU32::new(1 + per_region + global);
        let report = |step: String, done: u32| {
            self.report(ScanEvent::AccountProgress {
                account_id: account.id.clone(),
                step,
                done,
                total: total.load(std::sync::atomic::Ordering::Relaxed),
            })
        };
        report("identity".to_owned(), 0);
        let deadline = tokio::time::Instant::now() + self.account_timeout;
        let mut access = self.access_for(&account);
        let (config, identity) = loop {
            account.access = Some(access.clone());
            let reached =
                match tokio::time::timeout_at(deadline, self.reach(&account, &access)).await {
                    Ok(reached) => reached,
                    Err(_) => {
                        let error = self.silent(&account, &access, "its credentials and identity");
                        return self.failed(account, error);
                    }
                };
            let (config, identity) = match reached {
                Ok(pair) => pair,
                Err(error) => return self.failed(account, error),
            };
            if identity.account != account.id {
                if let Some(other) = self
                    .sibling_fallback(&account, &access, &identity.account)
                    .await
                {
                    access = other;
                    continue;
                }
                let message = format!(
                    "{} resolves to account {} ({}), not to account {} ({}); fix the profile's role_arn \
                     or the stage mapping — Stagecraft never uses credentials of another account",
                    describe_access(&access),
                    identity.account,
                    identity.arn,
                    account.id,
                    account.name
                );
                return self.failed(
                    account,
                    UiError {
                        code: stagecraft_model::ErrorCode::IdentityMismatch,
                        message,
                    },
                );
            }
            break (config, identity);
        };
        account.identity = Some(identity);
        report("identity".to_owned(), 1);

        // The first region's collectors (the home region's, or the first named) start at once;
        // the other regions' once the regions in use are known.
        let first_region = self
            .regions
            .as_ref()
            .and_then(|fixed| fixed.first().cloned())
            .unwrap_or_else(|| self.home.to_owned());
        let first_jobs: Vec<(Collector, String)> = Collector::REGIONAL
            .iter()
            .chain(Collector::GLOBAL.iter())
            .map(|c| (*c, first_region.clone()))
            .collect();
        total.store(
            1 + first_jobs.len() as u32,
            std::sync::atomic::Ordering::Relaxed,
        );
        let found: std::sync::Mutex<Option<regions::InUse>> = std::sync::Mutex::new(None);
        let finding = async {
            let in_use = match &self.regions {
                Some(fixed) => regions::InUse {
                    regions: fixed.to_vec(),
                    ..regions::InUse::default()
                },
                None => {
                    report("regions in use".to_owned(), 1);
                    tokio::time::timeout_at(deadline, regions::in_use(&config, &self.home))
                        .await
                        .unwrap_or_else(|_| regions::InUse {
                            regions: vec![self.home.to_owned()],
                            calls: 1,
                            note: Some(format!(
                                "account:ListRegions did not answer within the account's {} s, so \
                                 only {} was scanned",
                                self.account_timeout.as_secs(),
                                self.home
                            )),
                        })
                }
            };
            let later: Vec<(Collector, String)> = in_use
                .regions
                .iter()
                .filter(|r| **r != first_region)
                .flat_map(|r| Collector::REGIONAL.iter().map(move |c| (*c, r.clone())))
                .collect();
            total.fetch_add(later.len() as u32, std::sync::atomic::Ordering::Relaxed);
            if let Ok(mut f) = found.lock() {
                *f = Some(in_use);
            }
            stream::iter(later)
        };
        let jobs = stream::iter(first_jobs).chain(stream::once(finding).flatten());

        let done = std::sync::atomic::AtomicU32::new(1);
        let account_id = account.id.clone();
        let breaker = Breaker::default();
        let total = &total;
        let collecting = jobs
            .map(|(collector, region): (Collector, String)| {
                let config = aws::in_region(&config, &region);
                let account_id = account_id.clone();
                let done = &done;
                let breaker = &breaker;
                async move {
                    let target = collect::Target {
                        config: &config,
                        account_id: &account_id,
                        region: &region,
                        hasher: &self.hasher,
                    };
                    let out = match breaker.tripped(&region) {
                        Some(why) => Err(CollectError {
                            collector,
                            region: region.clone(),
                            code: stagecraft_model::ErrorCode::Unreachable,
                            message: format!("not tried: {why}"),
                        }),
                        None => {
                            let run = tokio::time::timeout_at(
                                deadline,
                                collect::run(collector, &target),
                            );
                            let out = tokio::select! {
                                out = run => out.unwrap_or_else(|_| {
                                    Err(CollectError {
                                        collector,
                                        region: region.clone(),
                                        code: stagecraft_model::ErrorCode::Timeout,
                                        message: format!(
                                            "no answer within the account's {} s ([scan] account_timeout)",
                                            self.account_timeout.as_secs()
                                        ),
                                    })
                                }),
                                why = breaker.tripped_in(&region) => Err(CollectError {
                                    collector,
                                    region: region.clone(),
                                    code: stagecraft_model::ErrorCode::Unreachable,
                                    message: format!("stopped: {why}"),
                                }),
                            };
                            if let Err(e) = &out {
                                breaker.trip(e);
                            }
                            out
                        }
                    };
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    let step = if Collector::GLOBAL.contains(&collector) {
                        collector.name().to_owned()
                    } else {
                        format!("{} {region}", collector.name())
                    };
                    self.report(ScanEvent::AccountProgress {
                        account_id: account_id.clone(),
                        step,
                        done: n,
                        total: total.load(std::sync::atomic::Ordering::Relaxed),
                    });
                    out
                }
            })
            .buffer_unordered(COLLECTORS_PER_ACCOUNT)
            .collect::<Vec<Result<Collected, CollectError>>>();
        // The first region's history beside its collectors; the other regions' (and us-east-1's,
        // where CloudTrail records the global services) once the regions in use are known.
        let (results, first_history) = tokio::join!(
            collecting,
            self.history(&config, &account.id, &first_region, deadline)
        );
        let mut history = vec![first_history];
        let mut later: Vec<String> = found
            .lock()
            .ok()
            .and_then(|f| f.as_ref().map(|f| f.regions.clone()))
            .unwrap_or_default();
        later.push(aws::FALLBACK_REGION.to_owned());
        later.sort();
        later.dedup();
        later.retain(|r| *r != first_region);
        history.extend(
            futures::future::join_all(
                later
                    .iter()
                    .map(|r| self.history(&config, &account.id, r, deadline)),
            )
            .await,
        );

        let attempted = results.len();
        let (mut collected, mut errors, failed_sweeps) = gather(results);
        let sweeps = std::mem::take(&mut collected.sweeps);
        // A region that stopped answering is not read again resource by resource.
        let (gone, failed_sweeps): (BTreeMap<_, _>, BTreeMap<_, _>) = failed_sweeps
            .into_iter()
            .partition(|(region, _)| breaker.tripped(region).is_some());
        errors.extend(gone.into_values());
        let made_up = failed_sweeps.len();
        let tag_errors = collect::tags::apply(
            &config,
            &account.id,
            &mut collected.resources,
            &sweeps,
            failed_sweeps,
        )
        .await;
        // Failed sweeps the per-resource reading made up for do not count against the account.
        let attempted = if tag_errors.is_empty() {
            attempted - made_up
        } else {
            attempted
        };
        errors.extend(tag_errors);
        template_reads(&mut collected);
        let mut limits: BTreeMap<String, stagecraft_model::limits::RegionLimits> = BTreeMap::new();
        for l in std::mem::take(&mut collected.limits) {
            match limits.get_mut(&l.region) {
                Some(known) => known.merge(l),
                None => {
                    limits.insert(l.region.clone(), l);
                }
            }
        }
        account.limits = limits.into_values().collect();
        errors.sort_by(|a, b| (a.collector, &a.region).cmp(&(b.collector, &b.region)));
        account.status = if errors.is_empty() {
            AccountStatus::Ok
        } else if errors.len() == attempted {
            use stagecraft_model::ErrorCode::{Timeout, Unreachable};
            let silent = errors
                .iter()
                .all(|e| matches!(e.code, Timeout | Unreachable))
                && errors.iter().any(|e| e.code == Timeout);
            account.error = Some(if silent {
                self.silent(&account, &access, "any of its collectors")
            } else {
                UiError {
                    code: errors[0].code,
                    message: format!(
                        "account {} ({}) through {}: every collector failed; first: {} ({})",
                        account.id,
                        account.name,
                        describe_access(&access),
                        errors[0].message,
                        errors[0].collector.name()
                    ),
                }
            });
            AccountStatus::Error
        } else {
            AccountStatus::Partial
        };
        if errors
            .iter()
            .any(|e| e.code == stagecraft_model::ErrorCode::ExpiredCredentials)
        {
            account.error = Some(UiError {
                code: stagecraft_model::ErrorCode::ExpiredCredentials,
                message: format!(
                    "the credentials of {} expired during the scan, so {} of its collectors stopped; sign in again (IAM Identity Center: `aws sso login`) or renew the keys, then rescan this account",
                    describe_access(account.access.as_ref().unwrap_or(&self.access_for(&account))),
                    errors.iter().filter(|e| e.code == stagecraft_model::ErrorCode::ExpiredCredentials).count()
                ),
            });
        }
        account.collect_errors = errors;
        self.report(ScanEvent::AccountFinished {
            account: Box::new(account.clone()),
        });
        let in_use = found.into_inner().ok().flatten().unwrap_or_default();
        Fresh {
            account,
            collected,
            config: Some(config),
            regions: in_use.regions,
            probe_calls: in_use.calls,
            note: in_use.note,
            history,
        }
    }

    /// The account did not answer `step` before its deadline.
    fn silent(&self, account: &Account, access: &Access, step: &str) -> UiError {
        UiError {
            code: stagecraft_model::ErrorCode::Timeout,
            message: format!(
                "account {} ({}) through {}: no answer to {step} within {} s ([scan] account_timeout); \
                 its traffic may be blocked (a firewall, VPN or proxy) — the other accounts were scanned, \
                 rescan this one when it answers",
                account.id,
                account.name,
                describe_access(access),
                self.account_timeout.as_secs()
            ),
        }
    }

    /// The write events of one region's CloudTrail history since the last read.
    async fn history(
        &self,
        config: &SdkConfig,
        account_id: &str,
        region: &str,
        deadline: tokio::time::Instant,
    ) -> collect::cloudtrail::History {
        let since = self
            .history_from
            .get(&(account_id.to_owned(), region.to_owned()))
            .copied()
            .unwrap_or(self.first_history);
        let config = aws::in_region(config, region);
        let reading = collect::cloudtrail::read(&config, account_id, region, since, self.now);
        match tokio::time::timeout_at(deadline, reading).await {
            Ok(h) => h,
            Err(_) => collect::cloudtrail::History {
                changes: Vec::new(),
                read: stagecraft_model::change::FeedRead {
                    account_id: account_id.to_owned(),
                    region: region.to_owned(),
                    since: collect::cloudtrail::rfc3339(since),
                    until: collect::cloudtrail::rfc3339(self.now),
                    events: 0,
                    error: Some(UiError {
                        code: stagecraft_model::ErrorCode::Timeout,
                        message: format!(
                            "cloudtrail:LookupEvents in account {account_id}, {region}: no answer within the account's {} s ([scan] account_timeout)",
                            self.account_timeout.as_secs()
                        ),
                    }),
                },
            },
        }
    }

    fn failed(&self, mut account: Account, error: UiError) -> Fresh {
        account.status = AccountStatus::Error;
        account.error = Some(error);
        self.report(ScanEvent::AccountFinished {
            account: Box::new(account.clone()),
        });
        Fresh {
            account,
            collected: Collected::default(),
            config: None,
            regions: Vec::new(),
            probe_calls: 0,
            note: None,
            history: Vec::new(),
        }
    }
}

/// Every account's counts, the resources in the accounts' order (a refresh's whole report).
fn count_all(accounts: &mut [Account], resources: &mut [Resource]) {
    let order: HashMap<&str, usize> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    sort_resources_within(resources, |r| order.get(r.account_id.as_str()).copied());
    for account in accounts.iter_mut() {
        let mine: Vec<&Resource> = resources
            .iter()
            .filter(|r| r.account_id == account.id)
            .collect();
        account.counts = count_owners(mine);
    }
}

/// The parameters' value hashes of a whole report, as [`Aside`] keeps them.
fn parameters_of(resources: &[Resource]) -> HashMap<(String, String, String), String> {
    resources
        .iter()
        .filter(|r| r.type_name == collect::ssm::TYPE)
        .filter_map(|r| {
            Some((
                (r.account_id.clone(), r.region.clone(), r.name.clone()),
                r.attr_str("value")?.to_owned(),
            ))
        })
        .collect()
}

/// One account's resources, by owner kind.
fn count_owners<'r>(resources: impl IntoIterator<Item = &'r Resource>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in resources {
        *counts.entry("resources".to_owned()).or_insert(0) += 1;
        *counts.entry(r.owner.kind().to_owned()).or_insert(0) += 1;
    }
    counts
}

/// One account's resources by region, type, name and id (the accounts come in their order).
fn sort_resources(resources: &mut [Resource]) {
    sort_resources_within(resources, |_| 0);
}

fn sort_resources_within<K: Ord>(resources: &mut [Resource], account: impl Fn(&Resource) -> K) {
    resources.sort_by(|a, b| {
        (account(a), &a.region, &a.type_name, &a.name, &a.id).cmp(&(
            account(b),
            &b.region,
            &b.type_name,
            &b.name,
            &b.id,
        ))
    });
}

/// One account's collectors' results folded together: what they read, the failures, and apart from
/// those the failed tag sweeps by region (made up for per resource; only if that fails too are
/// they the account's errors).
fn gather(
    results: Vec<Result<Collected, CollectError>>,
) -> (Collected, Vec<CollectError>, BTreeMap<String, CollectError>) {
    let mut collected = Collected::default();
    let mut errors = Vec::new();
    let mut failed_sweeps = BTreeMap::new();
    for r in results {
        match r {
            Ok(c) => {
                collected.resources.extend(c.resources);
                collected.stacks.extend(c.stacks);
                collected.sweeps.extend(c.sweeps);
                collected.limits.extend(c.limits);
            }
            Err(e) if e.collector == Collector::Tags => {
                failed_sweeps.insert(e.region.clone(), e);
            }
            Err(e) => errors.push(e),
        }
    }
    (collected, errors, failed_sweeps)
}

/// Matches the keyed hashes of every template string against the account's parameter values (in
/// any of its regions), keeps the matches as the stacks' parameter reads and drops the hashes. A
/// value two parameters share names neither: the read would be a guess.
/// The configured backend's listing, shared by every account's state search.
type ConfiguredListing =
    futures::future::Shared<futures::future::BoxFuture<'static, Arc<remote_state::Configured>>>;

/// Why a profile or an IAM Identity Center role did not reach its account.
fn unreached(account: &Account, access: &Access, m: String) -> UiError {
    // AWS refuses a profile's `role_arn` that is missing or does not trust its source.
    if m.contains("sts:AssumeRole") {
        UiError {
            code: stagecraft_model::ErrorCode::RoleMissing,
            message: format!(
                "{}: {m} — the role the profile names is missing in account {} ({}) or does not \
                 trust the profile's source; create it or fix the profile's role_arn",
                describe_access(access),
                account.id,
                account.name
            ),
        }
    } else {
        UiError {
            code: stagecraft_model::ErrorCode::Credentials,
            message: format!(
                "{}: {m}; check that the profile works (`aws sts get-caller-identity --profile …`) \
                 or that the role exists in the account",
                describe_access(access)
            ),
        }
    }
}

/// An account that stopped answering during the scan is not searched for state: every read would
/// wait out the retries again (coverage lists it as not completely scanned).
fn searchable(account: &Account) -> bool {
    account.status != AccountStatus::Error
        && !account.collect_errors.iter().any(|e| {
            e.code == stagecraft_model::ErrorCode::Unreachable
                || e.code == stagecraft_model::ErrorCode::Timeout
        })
}

/// An account's buckets and lock tables, as its scan found them.
fn stores_of(
    account: &Account,
    collected: &Collected,
    config: SdkConfig,
) -> remote_state::AccountStores {
    let of_type = |ty: &'static str| {
        collected
            .resources
            .iter()
            .filter(move |r| r.type_name == ty)
    };
    remote_state::AccountStores {
        account_id: account.id.clone(),
        config,
        buckets: of_type(collect::s3::TYPE)
            .map(|r| (r.name.clone(), r.region.clone()))
            .collect(),
        lock_tables: of_type(collect::dynamodb::TYPE)
            .filter(|r| r.attr_str("hash_key") == Some("LockID"))
            .map(|r| (r.name.clone(), r.region.clone()))
            .collect(),
    }
}

fn template_reads(collected: &mut Collected) {
    let mut by_hash: HashMap<&str, Vec<&str>> = HashMap::new();
    for p in collected
        .resources
        .iter()
        .filter(|r| r.type_name == collect::ssm::TYPE)
    {
        if let (Some(h), Some(v)) = (p.attr_str("value_hash"), p.attr_str("value")) {
            if stagecraft_model::stack::distinctive(v) {
                by_hash.entry(h).or_default().push(p.id.as_str());
            }
        }
    }
    for stack in &mut collected.stacks {
        let mut reads = BTreeSet::new();
        for (hash, path) in std::mem::take(&mut stack.value_paths) {
            if let Some([param]) = by_hash.get(hash.as_str()).map(Vec::as_slice) {
                reads.insert(((*param).to_owned(), path));
            }
        }
        stack.parameter_reads = reads
            .into_iter()
            .map(|(parameter, path)| stagecraft_model::TemplateRead { parameter, path })
            .collect();
    }
}

fn describe_access(access: &Access) -> String {
    match access {
        Access::Profile { profile } => format!("profile `{profile}`"),
        Access::AssumeRole {
            role_arn,
            source_profile,
        } => format!("role {role_arn} (assumed from profile `{source_profile}`)"),
        Access::Sso { role_name, profile } => format!(
            "role {role_name} through the IAM Identity Center sign-in of profile `{profile}`"
        ),
    }
}

/// What the CloudTrail history reads did not see, one line per reason: who changed the
/// resources of those accounts and regions is not known.
fn history_gaps(feed: &[stagecraft_model::change::FeedRead]) -> Vec<String> {
    let mut by_code: BTreeMap<String, Vec<&stagecraft_model::change::FeedRead>> = BTreeMap::new();
    for f in feed {
        if let Some(e) = &f.error {
            by_code.entry(format!("{:?}", e.code)).or_default().push(f);
        }
    }
    by_code
        .into_values()
        .map(|reads| {
            let places: Vec<String> = reads
                .iter()
                .take(5)
                .map(|f| format!("{} {}", f.account_id, f.region))
                .collect();
            let more = reads.len().saturating_sub(places.len());
            format!(
                "CloudTrail history not read in {} place{} ({}{}): who changed what there is not known, and a refresh (`scan --since-last`, Live) does not see changes there; a full scan does. {}",
                reads.len(),
                if reads.len() == 1 { "" } else { "s" },
                places.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() },
                reads[0].error.as_ref().map(|e| e.message.as_str()).unwrap_or_default()
            )
        })
        .collect()
}

/// Where each account and region's history is read from: where the last snapshot's read of it
/// ended, less the time CloudTrail may take to deliver an event. Regions whose read failed are
/// read again from the first read's start.
fn history_cursors(
    last: Option<&ScanReport>,
    organization: &str,
    now: time::OffsetDateTime,
) -> HashMap<(String, String), time::OffsetDateTime> {
    let oldest = now - time::Duration::days(stagecraft_model::change::HISTORY_DAYS);
    last.filter(|l| l.organization.id == organization)
        .map(|l| l.feed.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|f| f.error.is_none())
        .filter_map(|f| {
            let until = collect::cloudtrail::parse_time(&f.until)?;
            let from = (until - collect::cloudtrail::DELIVERY_LAG)
                .max(oldest)
                .min(now);
            Some(((f.account_id.clone(), f.region.clone()), from))
        })
        .collect()
}

/// The changes read now with those an earlier snapshot held (each once, newest first, none older
/// than the history reaches), and how far each account and region has been read.
fn merge_history(
    fresh: Vec<collect::cloudtrail::History>,
    earlier: Option<&ScanReport>,
    now: time::OffsetDateTime,
) -> (
    Vec<stagecraft_model::change::ChangeEvent>,
    Vec<stagecraft_model::change::FeedRead>,
) {
    let oldest = collect::cloudtrail::rfc3339(
        now - time::Duration::days(stagecraft_model::change::HISTORY_DAYS),
    );
    let mut feed: BTreeMap<(String, String), stagecraft_model::change::FeedRead> = BTreeMap::new();
    let mut changes = Vec::new();
    for h in fresh {
        changes.extend(h.changes);
        feed.insert((h.read.account_id.clone(), h.read.region.clone()), h.read);
    }
    if let Some(earlier) = earlier {
        for read in &earlier.feed {
            let key = (read.account_id.clone(), read.region.clone());
            match feed.get_mut(&key) {
                // Read on from the earlier read: together they reach back to its start, unless
                // this read stopped short of where the earlier one ended (too many events).
                Some(now_read) if now_read.error.is_none() && read.error.is_none() => {
                    if read.since < now_read.since && read.until >= now_read.since {
                        now_read.since = read.since.clone();
                    }
                }
                Some(_) => {}
                None => {
                    feed.insert(key, read.clone());
                }
            }
        }
        changes.extend(earlier.changes.iter().cloned());
    }
    // RFC 3339 in UTC with whole seconds orders as text. Events of one second keep the order the
    // history gave them (newest first): a stable sort, not one by id, or a deletion in the second
    // of its creation could read as older than it.
    changes.retain(|c| c.at >= oldest);
    changes.sort_by(|a, b| b.at.cmp(&a.at));
    let mut seen = HashSet::new();
    changes.retain(|c| seen.insert(c.id.clone()));
    (changes, feed.into_values().collect())
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn template_values_become_reads_only_when_one_parameter_holds_them_and_hashes_are_dropped() {
        use crate::collect::{Collected, ValueHasher};
        use crate::model::{Resource, StackFacts};
        let h = ValueHasher::new([3; 32]);
        let param = |name: &str, value: &str| {
            let mut r = Resource::new(
                crate::collect::ssm::TYPE,
                format!("arn:aws:ssm:us-east-1:1:parameter{name}"),
                name.to_owned(),
                "1",
                "us-east-1",
            );
            r.attr("value", value).attr("value_hash", h.hash(value));
            r
        };
        let stack = StackFacts {
            value_paths: vec![
                (
                    h.hash("arn:aws:dynamodb:us-east-1:1:table/orders"),
                    "Resources.R.Properties.Policies[0]".into(),
                ),
                (
                    h.hash("shared-value"),
                    "Resources.F.Properties.Environment.Variables.A".into(),
                ),
                (
                    h.hash("nobody-holds-this"),
                    "Resources.F.Properties.Description2".into(),
                ),
            ],
            ..StackFacts::new(
                "1",
                "eu-west-1",
                "api-dev",
                "arn:stack".into(),
                "CREATE_COMPLETE",
            )
        };
        let mut collected = Collected {
            resources: vec![
                param(
                    "/core/table_arn",
                    "arn:aws:dynamodb:us-east-1:1:table/orders",
                ),
                param("/a", "shared-value"),
                param("/b", "shared-value"),
            ],
            stacks: vec![stack],
            ..Collected::default()
        };
        super::template_reads(&mut collected);
        let s = &collected.stacks[0];
        assert!(s.value_paths.is_empty(), "the hashes are not kept");
        let reads: Vec<(&str, &str)> = s
            .parameter_reads
            .iter()
            .map(|r| (r.parameter.as_str(), r.path.as_str()))
            .collect();
        // A parameter in another region of the same account counts; a value two parameters share
        // names neither.
        assert_eq!(
            reads,
            [(
                "arn:aws:ssm:us-east-1:1:parameter/core/table_arn",
                "Resources.R.Properties.Policies[0]"
            )]
        );
    }
}
