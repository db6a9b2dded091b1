//! The data every other crate shares: what a scan produces (accounts, resources and their owners,
//! stacks, Terraform workspaces, Serverless services), pending deletions, deploy plans and runs, undo
//! actions, progress events, the `AWS::…` type names and the errors with their codes.
//!
//! This is the bottom of the crate graph: no AWS SDK, no async runtime, no file or network access,
//! so every crate above (the readers, the analysis, the store, the scan, the window) speaks the same
//! types without pulling in more than serde.
//!
//! Every type here derives `TS`: `cargo test` regenerates `ui/src/generated/`, and CI fails when the
//! committed TypeScript differs, so the IPC contract is declared once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub mod action;
pub mod change;
pub mod collector;
pub mod coverage;
pub mod deletion;
pub mod deploy;
mod error;
pub mod event;
pub mod hash;
pub mod limits;
pub mod map;
mod resource;
pub mod serverless;
pub mod signin;
pub mod stack;
pub mod terraform;
pub mod types;

pub use collector::{CollectError, Collector};
pub use coverage::Coverage;
pub use error::{Error, ErrorCode, UiError};
pub use event::ScanEvent;
pub use hash::ValueHasher;
pub use map::FlatMap;
pub use resource::{Claim, Owner, Resource, ServerlessClaim, StackClaim, TerraformClaim};
pub use stack::{Declared, StackFacts, StackMember, TemplateRead};
pub use terraform::{LockInfo, TerraformState};

/// The region used when neither a profile nor a file names one.
pub const FALLBACK_REGION: &str = "us-east-1";

/// An organizational unit, with its path from the root (`["environments"]`).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct OrgUnit {
    pub id: String,
    pub name: String,
    pub parent_id: String,
    /// Names from the root down to and including this unit.
    pub path: Vec<String>,
}

/// Where an account's stage came from, so a user can tell a configured mapping from a guess.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum StageSource {
    /// `[stages.<name>] account = …` in the workspace config.
    Config,
    /// A `Stage` or `Environment` tag on the account.
    Tag,
    /// A token of the account name (`acme-qa` → `qa`).
    Name,
    /// The management account, which holds no stage.
    Management,
    /// Nothing matched.
    None,
}

/// How Stagecraft obtained credentials for an account.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export)]
pub enum Access {
    /// A named AWS profile (its own credentials, SSO, credential_process or role_arn chain).
    Profile { profile: String },
    /// `sts:AssumeRole` from the management profile into the account.
    AssumeRole {
        role_arn: String,
        source_profile: String,
    },
    /// A role (permission set) taken through the IAM Identity Center sign-in of `profile`
    /// (`sso:GetRoleCredentials`), with no profile for the account.
    Sso { role_name: String, profile: String },
}

/// The caller identity STS reported for the credentials used on an account.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum AccountStatus {
    /// Not scanned yet (only seen in progress events).
    Pending,
    Ok,
    /// Some collectors failed (see `collect_errors`); what the others found is there.
    Partial,
    Error,
    /// Left to another shard of a sharded scan (`--shard i/n`): not scanned here, and seen once the
    /// shards are assembled.
    OtherShard,
}

/// One account of the organization and what the scan learned about it.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
    /// The id of the root or OU that holds the account.
    pub parent_id: String,
    /// OU names from the root down (empty for accounts directly under the root).
    pub ou_path: Vec<String>,
    pub is_management: bool,
    pub stage: Option<String>,
    pub stage_source: StageSource,
    pub tags: BTreeMap<String, String>,
    pub status: AccountStatus,
    pub access: Option<Access>,
    pub identity: Option<Identity>,
    pub error: Option<UiError>,
    /// Collectors that failed on this account (access denied, throttled past the retries, …).
    pub collect_errors: Vec<CollectError>,
    /// `resources` and the count per owner kind (`terraform`, `serverless`, `unmanaged`, …).
    #[ts(type = "Record<string, number>")]
    pub counts: BTreeMap<String, u64>,
    /// Per scanned region: stacks, Lambda concurrency and stack size against their limits.
    #[serde(default)]
    pub limits: Vec<limits::RegionLimits>,
}

/// Words that name a stage, in the order people read them (dev before qa before prod). Stage inference
/// matches account-name tokens against them; display order ranks stages by them.
pub const STAGE_WORDS: [&str; 12] = [
    "dev",
    "development",
    "test",
    "testing",
    "qa",
    "uat",
    "stage",
    "staging",
    "preprod",
    "prod",
    "production",
    "sandbox",
];

impl Account {
    /// Management first, then by OU path, conventional stage order, and name: the order a reader expects.
    pub fn display_order(a: &Account, b: &Account) -> std::cmp::Ordering {
        let rank = |x: &Account| {
            x.stage
                .as_deref()
                .and_then(|s| STAGE_WORDS.iter().position(|o| *o == s))
                .unwrap_or(STAGE_WORDS.len())
        };
        (!a.is_management, &a.ou_path, rank(a), &a.name).cmp(&(
            !b.is_management,
            &b.ou_path,
            rank(b),
            &b.name,
        ))
    }
}

/// The organization as discovered from the management account.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Organization {
    pub id: String,
    pub management_account_id: String,
    pub root_id: String,
    pub ous: Vec<OrgUnit>,
}

/// The result of `stagecraft scan`.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct ScanReport {
    /// The management profile the organization was discovered with.
    pub profile: String,
    pub regions: Vec<String>,
    pub organization: Organization,
    pub accounts: Vec<Account>,
    /// Every live resource of every scanned account, with its owner.
    pub resources: Vec<Resource>,
    /// CloudFormation stacks with their members and template facts.
    pub stacks: Vec<StackFacts>,
    /// Every Terraform workspace state found.
    pub terraform: Vec<TerraformState>,
    /// The workspace's Serverless services, resolved for each stage.
    pub services: Vec<serverless::ResolvedService>,
    /// Names the Terraform code and the services will create, per stage (what a pending deletion
    /// can block).
    #[serde(default)]
    pub declared: Vec<deletion::DeclaredName>,
    /// Problems outside any one account: a state backend that cannot be read, a broken `serverless.yml`.
    pub warnings: Vec<UiError>,
    /// What the scan saw and what it did not.
    #[serde(default)]
    pub coverage: Coverage,
    /// The write events read from each account's CloudTrail event history, with those the
    /// previous snapshots held (newest first, the last [`change::HISTORY_DAYS`] days).
    #[serde(default)]
    pub changes: Vec<change::ChangeEvent>,
    /// How much of each account and region's history has been read.
    #[serde(default)]
    pub feed: Vec<change::FeedRead>,
    /// Whether this snapshot is an earlier one refreshed from the CloudTrail history (only what
    /// changed read again) rather than a full scan.
    #[serde(default)]
    pub refreshed: bool,
    /// RFC 3339 time the scan started.
    pub started_at: String,
    #[ts(type = "number")]
    pub duration_ms: u64,
}

/// A report's fields by reference, with its resources and stacks given apart: what the store
/// writes as a snapshot's head (both empty: they are rows of their own) and what streams a stored
/// snapshot out as JSON without holding it. Serialises exactly as [`ScanReport`].
#[derive(Debug, Serialize)]
pub struct ReportView<'a, R, S> {
    pub profile: &'a String,
    pub regions: &'a Vec<String>,
    pub organization: &'a Organization,
    pub accounts: &'a Vec<Account>,
    pub resources: R,
    pub stacks: S,
    pub terraform: &'a Vec<TerraformState>,
    pub services: &'a Vec<serverless::ResolvedService>,
    pub declared: &'a Vec<deletion::DeclaredName>,
    pub warnings: &'a Vec<UiError>,
    pub coverage: &'a Coverage,
    pub changes: &'a Vec<change::ChangeEvent>,
    pub feed: &'a Vec<change::FeedRead>,
    pub refreshed: bool,
    pub started_at: &'a String,
    pub duration_ms: u64,
}

impl ScanReport {
    /// This report's fields with `resources` and `stacks` in place of its own.
    pub fn view<R: Serialize, S: Serialize>(
        &self,
        resources: R,
        stacks: S,
    ) -> ReportView<'_, R, S> {
        // Every field named: a field added to the report must be added to the view.
        let ScanReport {
            profile,
            regions,
            organization,
            accounts,
            resources: _,
            stacks: _,
            terraform,
            services,
            declared,
            warnings,
            coverage,
            changes,
            feed,
            refreshed,
            started_at,
            duration_ms,
        } = self;
        ReportView {
            profile,
            regions,
            organization,
            accounts,
            resources,
            stacks,
            terraform,
            services,
            declared,
            warnings,
            coverage,
            changes,
            feed,
            refreshed: *refreshed,
            started_at,
            duration_ms: *duration_ms,
        }
    }

    /// A copy of the report without its resources and stacks: what the window holds (it asks the
    /// core for the resources it shows).
    pub fn head_owned(&self) -> ScanReport {
        let ScanReport {
            profile,
            regions,
            organization,
            accounts,
            resources: _,
            stacks: _,
            terraform,
            services,
            declared,
            warnings,
            coverage,
            changes,
            feed,
            refreshed,
            started_at,
            duration_ms,
        } = self;
        ScanReport {
            profile: profile.clone(),
            regions: regions.clone(),
            organization: organization.clone(),
            accounts: accounts.clone(),
            resources: Vec::new(),
            stacks: Vec::new(),
            terraform: terraform.clone(),
            services: services.clone(),
            declared: declared.clone(),
            warnings: warnings.clone(),
            coverage: coverage.clone(),
            changes: changes.clone(),
            feed: feed.clone(),
            refreshed: *refreshed,
            started_at: started_at.clone(),
            duration_ms: *duration_ms,
        }
    }

    /// The report without its resources and stacks, as the store keeps a snapshot's head.
    pub fn head(&self) -> ReportView<'_, [(); 0], [(); 0]> {
        self.view([], [])
    }

    /// Refuses a stage no account of this snapshot has (what the window may ask about comes from here).
    pub fn require_stage(&self, stage: &str) -> Result<(), Error> {
        if self
            .accounts
            .iter()
            .any(|a| a.stage.as_deref() == Some(stage))
        {
            Ok(())
        } else {
            Err(Error::Input(format!(
                "no account of the snapshot is stage `{stage}`"
            )))
        }
    }

    /// Refuses an account id this snapshot does not hold.
    pub fn require_account(&self, account_id: &str) -> Result<(), Error> {
        if self.accounts.iter().any(|a| a.id == account_id) {
            Ok(())
        } else {
            Err(Error::Input(format!(
                "account `{account_id}` is not in the snapshot"
            )))
        }
    }
}

/// What the window shows before any scan: which organization it will look at, and from where.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct ScanTarget {
    /// The management profile a scan will use.
    pub profile: String,
    /// The workspace config file, if any.
    pub config_path: Option<String>,
    /// The AWS config file in use (`AWS_CONFIG_FILE`), if set.
    pub aws_config_file: Option<String>,
    /// Stages named in the workspace config.
    pub stages: Vec<String>,
    /// Whether the window scans as soon as it opens (else it shows the last snapshot until asked).
    pub scan_on_open: bool,
    /// Stages whose name must be typed to confirm an action (the config's `protected`, else `prod`).
    pub protected_stages: Vec<String>,
    /// Seconds between two passes of the Live mode.
    #[serde(default = "default_live_interval")]
    pub live_interval: u32,
}

/// The Live mode's default: a pass every 30 s.
pub const LIVE_INTERVAL: u32 = 30;

fn default_live_interval() -> u32 {
    LIVE_INTERVAL
}
