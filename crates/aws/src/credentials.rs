//! Credentials and SDK configuration, all through aws-config.
//!
//! Stagecraft reaches any organization — the local sandbox included — the same way: AWS profiles in an AWS
//! config file (`AWS_CONFIG_FILE`, `~/.aws/config`, or one given explicitly). There is no sandbox-only code
//! path; the sandbox is just profiles whose `endpoint_url` points at the emulator.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_types::os_shim_internal::{Env, Fs};

use crate::model::Identity;
use crate::sdk_error::aws_message;
use crate::Error;

pub use stagecraft_model::FALLBACK_REGION;

/// Where AWS profiles come from.
#[derive(Debug, Clone, Default)]
pub struct AwsEnv {
    /// An explicit AWS config file; `None` means the SDK's own lookup (`AWS_CONFIG_FILE`, `~/.aws/…`).
    config_file: Option<PathBuf>,
}

impl AwsEnv {
    /// The SDK's standard lookup: `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws`.
    pub fn from_environment() -> Self {
        AwsEnv { config_file: None }
    }

    /// Only the given AWS config file (hermetic; used by tests and the sandbox).
    pub fn with_config_file(path: impl Into<PathBuf>) -> Self {
        AwsEnv {
            config_file: Some(path.into()),
        }
    }

    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    fn profile_files(&self) -> Option<EnvConfigFiles> {
        self.config_file.as_ref().map(|path| {
            EnvConfigFiles::builder()
                .with_file(EnvConfigFileKind::Config, path)
                .build()
        })
    }

    fn describe_files(&self) -> String {
        match &self.config_file {
            Some(p) => p.display().to_string(),
            None => std::env::var("AWS_CONFIG_FILE")
                .map(|f| format!("{f} (AWS_CONFIG_FILE) and the shared credentials file"))
                .unwrap_or_else(|_| "~/.aws/config and ~/.aws/credentials".to_owned()),
        }
    }

    /// The names of every profile defined in the config and credentials files.
    pub async fn profile_names(&self) -> Result<BTreeSet<String>, Error> {
        let files = self.profile_files().unwrap_or_default();
        let set = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None)
            .await
            .map_err(|e| Error::ProfileFiles {
                files: self.describe_files(),
                message: e.to_string(),
            })?;
        Ok(set.profiles().map(str::to_owned).collect())
    }

    /// Fails with a clear message when `profile` is not defined.
    pub async fn require_profile(&self, profile: &str) -> Result<(), Error> {
        if self.profile_names().await?.contains(profile) {
            Ok(())
        } else {
            Err(Error::ProfileMissing {
                profile: profile.to_owned(),
                files: self.describe_files(),
            })
        }
    }

    /// SDK config for a profile; `region` overrides the profile's region.
    pub async fn sdk_config(&self, profile: &str, region: Option<&str>) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .profile_name(profile)
            .retry_config(retries())
            .timeout_config(timeouts());
        if let Some(files) = self.profile_files() {
            loader = loader.profile_files(files);
        }
        if let Some(region) = region {
            loader = loader.region(Region::new(region.to_owned()));
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return config
                .into_builder()
                .region(Region::new(FALLBACK_REGION))
                .build();
        }
        config
    }
}

/// Throttling and transient failures are retried with jittered exponential backoff, 8 attempts from
/// 200 ms: an organization-wide scan under 20 % throttling still completes (the chance one of ~300
/// calls fails all attempts is below 1 in 10,000), and an unreachable account gives up in seconds.
fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(20))
}

/// Every call has a deadline: a hung endpoint fails the account, never the scan.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(120))
        .build()
}

/// Credentials for `role_arn`, assumed with `base`'s credentials; keeps `base`'s region and endpoint.
pub async fn assume_role(base: &SdkConfig, role_arn: &str) -> SdkConfig {
    let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name("stagecraft")
        .configure(base)
        .build()
        .await;
    base.clone()
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// The same config in another region.
pub fn in_region(config: &SdkConfig, region: &str) -> SdkConfig {
    config
        .clone()
        .into_builder()
        .region(Region::new(region.to_owned()))
        .build()
}

/// `sts:GetCallerIdentity`: which account and principal these credentials act as.
pub async fn caller_identity(config: &SdkConfig) -> Result<Identity, String> {
    identity_and_clock(config)
        .await
        .map(|(identity, _)| identity)
}

/// [`caller_identity`], and how far AWS's clock is from this machine's (from the answer's `Date`).
pub async fn identity_and_clock(
    config: &SdkConfig,
) -> Result<(Identity, Option<crate::clock::ClockOffset>), String> {
    let probe = crate::clock::ClockProbe::default();
    let out = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .customize()
        .interceptor(probe.clone())
        .send()
        .await
        .map_err(|e| aws_message(&e))?;
    Ok((
        Identity {
            account: out.account.unwrap_or_default(),
            arn: out.arn.unwrap_or_default(),
        },
        probe.offset(),
    ))
}

/// Whether an error says the credentials or the sign-in behind them lapsed (an expired session
/// token, an IAM Identity Center session to renew): signing in again fixes it, nothing else does.
pub fn signed_out(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "expiredtoken",
        "tokenrefreshrequired",
        "security token included in the request is expired",
        "sso session",
        "sso token",
        "token has expired",
        "session has expired",
    ]
    .iter()
    .any(|k| m.contains(k))
}

pub fn role_arn(account_id: &str, role_name: &str) -> String {
    format!("arn:aws:iam::{account_id}:role/{role_name}")
}

/// Checks that the role these credentials act as still exists. AWS refuses `AssumeRole` into a missing
/// role; emulators and cached sessions may not, so this makes "the role is gone" an explicit error.
/// Only a definite "no such role" fails: a principal that may not call `iam:GetRole` passes.
pub async fn role_exists(config: &SdkConfig, role: &str) -> Result<(), String> {
    match aws_sdk_iam::Client::new(config)
        .get_role()
        .role_name(role)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if crate::sdk_error::error_code(&e) == Some("NoSuchEntity") => {
            Err(format!("role {role} does not exist"))
        }
        Err(_) => Ok(()),
    }
}
