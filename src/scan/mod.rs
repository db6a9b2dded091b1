//! A scan: discover the organization, then visit every account concurrently with bounded parallelism.
//!
//! Progress goes to a plain callback (the CLI draws bars from it, the app forwards it over a Tauri
//! channel), so the core stays free of any UI. One account failing never stops the others: it is marked
//! with the reason and the scan completes.

mod events;

use std::collections::BTreeMap;
use std::time::Instant;

use aws_config::SdkConfig;
use futures::stream::{self, StreamExt};

use crate::aws::{self, AwsEnv};
use crate::config::Workspace;
use crate::discover;
use crate::model::{Access, Account, AccountStatus, ScanReport, ScanTarget};
use crate::{collect, Error, UiError};

pub use events::ScanEvent;

/// What to scan; `None`s fall back to the workspace config, then to defaults.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub profile: Option<String>,
    pub regions: Vec<String>,
    pub parallelism: Option<usize>,
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
    }
}

/// Discovers the organization and scans every account.
pub async fn scan(
    env: &AwsEnv,
    workspace: &Workspace,
    opts: &ScanOptions,
    progress: &(dyn Fn(ScanEvent) + Send + Sync),
) -> Result<ScanReport, Error> {
    let started = Instant::now();
    let started_at = now_rfc3339();
    let profile = management_profile(opts, workspace);
    env.require_profile(&profile).await?;
    progress(ScanEvent::Started {
        profile: profile.clone(),
    });

    let mgmt = env.sdk_config(&profile, None).await;
    let regions = if !opts.regions.is_empty() {
        opts.regions.clone()
    } else if !workspace.config.organization.regions.is_empty() {
        workspace.config.organization.regions.clone()
    } else {
        vec![mgmt
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| aws::FALLBACK_REGION.to_owned())]
    };

    let discovered = discover::discover(&mgmt, &profile, workspace).await?;
    progress(ScanEvent::Discovered {
        organization: discovered.organization.clone(),
        accounts: discovered.accounts.clone(),
    });

    let profiles = env.profile_names().await?;
    let parallelism = opts
        .parallelism
        .unwrap_or(workspace.config.scan.parallelism)
        .max(1);
    let ctx = AccountCtx {
        env,
        workspace,
        mgmt: &mgmt,
        mgmt_profile: &profile,
        profiles: &profiles,
        regions: &regions,
        progress,
    };
    let mut accounts: Vec<Account> = stream::iter(discovered.accounts)
        .map(|account| ctx.scan_account(account))
        .buffer_unordered(parallelism)
        .collect()
        .await;
    accounts.sort_by(Account::display_order);

    let report = ScanReport {
        profile,
        regions,
        organization: discovered.organization,
        accounts,
        started_at,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    progress(ScanEvent::Finished {
        duration_ms: report.duration_ms,
    });
    Ok(report)
}

struct AccountCtx<'a> {
    env: &'a AwsEnv,
    workspace: &'a Workspace,
    mgmt: &'a SdkConfig,
    mgmt_profile: &'a str,
    profiles: &'a std::collections::BTreeSet<String>,
    regions: &'a [String],
    progress: &'a (dyn Fn(ScanEvent) + Send + Sync),
}

impl AccountCtx<'_> {
    /// How to get credentials for an account: its stage's profile if there is one, else assume a role.
    fn access_for(&self, account: &Account) -> Access {
        if account.is_management {
            return Access::Profile {
                profile: self.mgmt_profile.to_owned(),
            };
        }
        if let Some(stage) = &account.stage {
            let configured = self
                .workspace
                .config
                .stages
                .get(stage)
                .and_then(|s| s.profile.clone());
            if let Some(profile) =
                configured.or_else(|| self.profiles.contains(stage).then(|| stage.clone()))
            {
                return Access::Profile { profile };
            }
        }
        Access::AssumeRole {
            role_arn: aws::role_arn(&account.id, self.workspace.config.assume_role()),
            source_profile: self.mgmt_profile.to_owned(),
        }
    }

    async fn credentials(&self, access: &Access) -> SdkConfig {
        match access {
            Access::Profile { profile } if profile == self.mgmt_profile => self.mgmt.clone(),
            Access::Profile { profile } => {
                let region = self.mgmt.region().map(|r| r.to_string());
                self.env.sdk_config(profile, region.as_deref()).await
            }
            Access::AssumeRole { role_arn, .. } => aws::assume_role(self.mgmt, role_arn).await,
        }
    }

    async fn scan_account(&self, mut account: Account) -> Account {
        let steps = 1 + self.regions.len() as u32;
        let step = |name: &str, done: u32| {
            (self.progress)(ScanEvent::AccountProgress {
                account_id: account.id.clone(),
                step: name.to_owned(),
                done,
                total: steps,
            })
        };
        step("identity", 0);
        let access = self.access_for(&account);
        account.access = Some(access.clone());
        let config = self.credentials(&access).await;

        let outcome = async {
            let identity = aws::caller_identity(&config).await.map_err(|m| UiError {
                code: "credentials".to_owned(),
                message: format!("{}: {m}", describe_access(&access)),
            })?;
            if identity.account != account.id {
                return Err(UiError {
                    code: "identity_mismatch".to_owned(),
                    message: format!(
                        "{} resolves to account {} ({}), not to account {} ({}); fix the profile's role_arn \
                         or the stage mapping — Stagecraft never uses credentials of another account",
                        describe_access(&access),
                        identity.account,
                        identity.arn,
                        account.id,
                        account.name
                    ),
                });
            }
            account.identity = Some(identity);
            let mut counts = BTreeMap::new();
            for (i, region) in self.regions.iter().enumerate() {
                step(&format!("ssm {region}"), 1 + i as u32);
                let n = collect::ssm::count_parameters(&aws::in_region(&config, region))
                    .await
                    .map_err(|message| UiError {
                        code: "collect".to_owned(),
                        message: format!("{region}: {message}"),
                    })?;
                *counts.entry("ssm_parameters".to_owned()).or_insert(0) += n;
            }
            Ok(counts)
        }
        .await;

        match outcome {
            Ok(counts) => {
                account.counts = counts;
                account.status = AccountStatus::Ok;
            }
            Err(e) => {
                account.status = AccountStatus::Error;
                account.error = Some(e);
            }
        }
        (self.progress)(ScanEvent::AccountFinished {
            account: Box::new(account.clone()),
        });
        account
    }
}

fn describe_access(access: &Access) -> String {
    match access {
        Access::Profile { profile } => format!("profile `{profile}`"),
        Access::AssumeRole {
            role_arn,
            source_profile,
        } => format!("role {role_arn} (assumed from profile `{source_profile}`)"),
    }
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
