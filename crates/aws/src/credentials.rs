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
use stagecraft_model::signin::{ProfileInfo, ProfileKind, SsoTarget};

pub use stagecraft_model::FALLBACK_REGION;

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// Where AWS profiles come from.
#[derive(Debug, Clone, Default)]
pub struct AwsEnv {
    /// An explicit AWS config file; `None` means the SDK's own lookup (`AWS_CONFIG_FILE`, `~/.aws/…`).
    config_file: Option<PathBuf>,
    /// Where IAM Identity Center tokens are cached; `None`: `~/.aws/sso/cache`, the AWS CLI's.
    sso_cache: Option<PathBuf>,
    /// One HTTPS client for every AWS client made from these profiles.
    http: Https,
}

/// The HTTPS client (connection pool and TLS setup) every AWS client of an [`AwsEnv`] shares. Left
/// to itself, the SDK gives each service client a new one: a collector's client would parse the
/// trust store again and open its own connections instead of reusing the pool (a fifth of a scan's
/// CPU time, BENCHMARKS.md; against AWS, a TLS handshake per client).
#[derive(Debug, Clone)]
struct Https(SharedHttpClient);

impl Default for Https {
    fn default() -> Self {
        use aws_smithy_http_client::proxy::ProxyConfig;
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        use aws_smithy_http_client::{Builder, ConnectorBuilder};
        // As the SDK's own default client (rustls with aws-lc, the proxy from the environment).
        let hyper = Builder::new().build_with_connector_fn(|settings, components| {
            let mut connector =
                ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        });
        Https(SharedHttpClient::new(Pooled(hyper, Default::default())))
    }
}

/// The SDK's HTTPS client without its check at client construction: that check builds a TLS
/// connector (parsing the trust store) every time a service client is made, outside the client's
/// cache. Connectors are built once, on first use, and cached. Each paces its calls
/// ([`crate::pace::PacedConnector`]), with what the APIs of these profiles' accounts were found to allow.
#[derive(Debug)]
struct Pooled(SharedHttpClient, std::sync::Arc<crate::pace::Learned>);

impl HttpClient for Pooled {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(crate::pace::PacedConnector {
            inner: self.0.http_connector(settings, components),
            learned: self.1.clone(),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

impl AwsEnv {
    /// The SDK's standard lookup: `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws`.
    pub fn from_environment() -> Self {
        AwsEnv::default()
    }

    /// Only the given AWS config file (hermetic; used by tests and the sandbox).
    pub fn with_config_file(path: impl Into<PathBuf>) -> Self {
        AwsEnv {
            config_file: Some(path.into()),
            ..AwsEnv::default()
        }
    }

    /// The same profiles, with IAM Identity Center tokens cached in `dir` (hermetic tests).
    pub fn with_sso_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.sso_cache = Some(dir.into());
        self
    }

    /// Where IAM Identity Center tokens are cached.
    pub fn sso_cache_dir(&self) -> PathBuf {
        self.sso_cache.clone().unwrap_or_else(|| {
            dirs::home_dir()
                .unwrap_or_default()
                .join(".aws")
                .join("sso")
                .join("cache")
        })
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

    /// The AWS config files in use, as a user would name them.
    pub fn describe_files(&self) -> String {
        match &self.config_file {
            Some(p) => p.display().to_string(),
            None => std::env::var("AWS_CONFIG_FILE")
                .map(|f| format!("{f} (AWS_CONFIG_FILE) and the shared credentials file"))
                .unwrap_or_else(|_| "~/.aws/config and ~/.aws/credentials".to_owned()),
        }
    }

    pub(crate) async fn profile_set(&self) -> Result<aws_config::profile::ProfileSet, Error> {
        let files = self.profile_files().unwrap_or_default();
        aws_config::profile::load(&Fs::real(), &Env::real(), &files, None)
            .await
            .map_err(|e| Error::ProfileFiles {
                files: self.describe_files(),
                message: e.to_string(),
            })
    }

    /// The names of every profile defined in the config and credentials files.
    pub async fn profile_names(&self) -> Result<BTreeSet<String>, Error> {
        Ok(self
            .profile_set()
            .await?
            .profiles()
            .map(str::to_owned)
            .collect())
    }

    /// Every profile with its kind, region and, for IAM Identity Center, where it signs in: read by
    /// the SDK's own profile loader, so the window lists what the SDK would use.
    pub async fn profiles(&self) -> Result<Vec<ProfileInfo>, Error> {
        Ok(profiles_in(&self.profile_set().await?))
    }
}

/// The profiles of a loaded profile set, by name (see [`AwsEnv::profiles`]).
pub(crate) fn profiles_in(set: &aws_config::profile::ProfileSet) -> Vec<ProfileInfo> {
    let mut out: Vec<ProfileInfo> = set
        .profiles()
        .filter_map(|name| set.get_profile(name))
        .map(|p| {
            let get = |k: &str| p.get(k).map(str::to_owned).filter(|v| !v.is_empty());
            let session = get("sso_session");
            let from_session = |k: &str| {
                session
                    .as_deref()
                    .and_then(|s| set.sso_session(s))
                    .and_then(|s| s.get(k))
                    .map(str::to_owned)
            };
            let start_url = from_session("sso_start_url").or_else(|| get("sso_start_url"));
            let sso = start_url.map(|start_url| SsoTarget {
                start_url,
                region: from_session("sso_region")
                    .or_else(|| get("sso_region"))
                    .unwrap_or_else(|| FALLBACK_REGION.to_owned()),
                session: session.clone(),
                account_id: get("sso_account_id"),
                role_name: get("sso_role_name"),
            });
            let kind = if sso.is_some() {
                ProfileKind::Sso
            } else if get("role_arn").is_some() {
                ProfileKind::RoleChain
            } else if get("credential_process").is_some() {
                ProfileKind::CredentialProcess
            } else if get("aws_access_key_id").is_some() {
                ProfileKind::StaticKeys
            } else {
                ProfileKind::Other
            };
            ProfileInfo {
                name: p.name().to_owned(),
                kind,
                region: get("region"),
                sso,
                role_arn: get("role_arn"),
                source_profile: get("source_profile"),
                endpoint_url: get("endpoint_url"),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The scopes an `[sso-session]` registers for (`sso_registration_scopes`).
pub(crate) fn sso_scopes_in(
    set: &aws_config::profile::ProfileSet,
    session: Option<&str>,
) -> Option<Vec<String>> {
    let scopes = set.sso_session(session?)?.get("sso_registration_scopes")?;
    let list: Vec<String> = scopes
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    (!list.is_empty()).then_some(list)
}

impl AwsEnv {
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
            .http_client(self.http.0.clone())
            .retry_config(retries())
            .timeout_config(timeouts())
            .stalled_stream_protection(stalled_streams());
        if let Some(files) = self.profile_files() {
            loader = loader.profile_files(files);
        }
        if let Some(region) = region {
            loader = loader.region(Region::new(region.to_owned()));
        }
        let mut config = loader.load().await;
        if config.region().is_none() {
            config = config
                .into_builder()
                .region(Region::new(FALLBACK_REGION))
                .build();
        }
        // An IAM Identity Center profile's keys come through Stagecraft's own sign-in handling
        // (the same token cache and renewal as the SDK's, with errors that say "sign in again").
        if let Ok(Some(session)) = self.sso_session(profile).await {
            if let (Some(account), Some(role)) = (
                session.target.account_id.clone(),
                session.target.role_name.clone(),
            ) {
                return with_credentials(&config, session.role(&account, &role));
            }
        }
        config
    }
}

/// A retry quota for one client (one collector's service in one account and region). The SDK's
/// default quota is one per service for the whole process (500 tokens; 5 per throttled retry, 14
/// per other retry), but AWS throttles per account, region and API: one throttled account spent
/// every account's retries, and the scan failed at a quarter of the published rates
/// (BENCHMARKS.md). Here each client has its own 500 tokens: 100 throttled retries, 20 retries of
/// a dropped connection or a 5xx, 10 of a timeout. Enough for a client of a hundred calls under
/// 20 % faults (a quota of two such retries per client, tried once, lost a stack's template one
/// run in three); an endpoint that went away is stopped by the breaker per region instead.
pub(crate) fn own_retries(service: &'static str) -> aws_sdk_sts::config::retry::RetryPartition {
    use aws_sdk_sts::config::retry::{RetryPartition, TokenBucket};
    RetryPartition::custom(service)
        .token_bucket(
            TokenBucket::builder()
                .capacity(500)
                .throttling_retry_cost(5)
                .retry_cost(25)
                .timeout_retry_cost(50)
                .build(),
        )
        .build()
}

/// Throttling and transient failures are retried with jittered exponential backoff, 8 attempts from
/// 200 ms: an organization-wide scan under 20 % throttling still completes (the chance one of ~300
/// calls fails all attempts is below 1 in 10,000), and an unreachable account gives up in seconds.
/// Each client has a retry quota of its own ([`own_retries`]). Not the adaptive mode: its rate
/// limiter starts from the rate it has measured, which right after a burst is near nothing, so one
/// throttled burst held a client's next calls for 20 s (measured, BENCHMARKS.md).
pub(crate) fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(20))
}

/// The SDK's stalled-stream protection, on answers only. A request's body is a few hundred bytes in
/// memory, and the SDK's watch on it counts from the attempt's start: a call waiting its turn
/// ([`crate::pace`]) past the 5 s grace period failed as "throughput of 0 B/s" (found at a quarter
/// of AWS's rates with 32 accounts at once, BENCHMARKS.md). An answer that stalls still fails.
pub(crate) fn stalled_streams(
) -> aws_config::stalled_stream_protection::StalledStreamProtectionConfig {
    aws_config::stalled_stream_protection::StalledStreamProtectionConfig::enabled()
        .upload_enabled(false)
        .build()
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

/// Assumes `role_arn` now with `base`'s credentials: a config acting as the role (its region and
/// endpoint kept), and who it acts as, read from the answer (so no `GetCallerIdentity` follows).
/// The keys last as long as AWS grants them (an hour); a scan of one account ends well before.
pub async fn assumed(base: &SdkConfig, role_arn: &str) -> Result<(SdkConfig, Identity), String> {
    assumed_role(
        base,
        &ProfileRole {
            role_arn: role_arn.to_owned(),
            ..ProfileRole::default()
        },
    )
    .await
}

/// Credentials for `role`, assumed with `base`'s credentials, and who they act as (AssumeRole's
/// answer names the role's account, so no `sts:GetCallerIdentity` is needed).
pub async fn assumed_role(
    base: &SdkConfig,
    role: &ProfileRole,
) -> Result<(SdkConfig, Identity), String> {
    let out = crate::client!(aws_sdk_sts, base)
        .assume_role()
        .role_arn(&role.role_arn)
        .role_session_name(role.session_name.as_deref().unwrap_or("stagecraft"))
        .set_external_id(role.external_id.clone())
        .set_duration_seconds(role.duration_seconds)
        .send()
        .await
        .map_err(|e| aws_message(&e))?;
    let keys = out
        .credentials
        .ok_or_else(|| "AssumeRole answered without credentials".to_owned())?;
    let arn = out.assumed_role_user.map(|u| u.arn).unwrap_or_default();
    let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
    let expiry = std::time::SystemTime::try_from(keys.expiration).ok();
    let credentials = aws_credential_types::Credentials::new(
        keys.access_key_id,
        keys.secret_access_key,
        Some(keys.session_token),
        expiry,
        "stagecraft-assume-role",
    );
    Ok((
        with_credentials(base, credentials),
        Identity { account, arn },
    ))
}

/// A profile that assumes a role with another profile's credentials (`role_arn` and
/// `source_profile`), as the SDK would assume it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileRole {
    pub role_arn: String,
    pub source_profile: String,
    pub external_id: Option<String>,
    pub session_name: Option<String>,
    pub duration_seconds: Option<i32>,
}

/// The profiles whose role can be assumed directly: `role_arn` with a `source_profile` of another
/// name. Left to the SDK: a role that needs an MFA code (`mfa_serial`), one whose credentials come
/// from the environment or the instance (`credential_source`) or a web identity token, and a
/// profile that is its own source.
pub(crate) fn profile_roles(
    set: &aws_config::profile::ProfileSet,
) -> std::collections::HashMap<String, ProfileRole> {
    set.profiles()
        .filter_map(|name| set.get_profile(name))
        .filter_map(|p| {
            let get = |k: &str| p.get(k).map(str::to_owned).filter(|v| !v.is_empty());
            let source_profile = get("source_profile").filter(|s| s != p.name())?;
            if get("mfa_serial").is_some()
                || get("credential_source").is_some()
                || get("web_identity_token_file").is_some()
            {
                return None;
            }
            Some((
                p.name().to_owned(),
                ProfileRole {
                    role_arn: get("role_arn")?,
                    source_profile,
                    external_id: get("external_id"),
                    session_name: get("role_session_name"),
                    duration_seconds: get("duration_seconds").and_then(|d| d.parse().ok()),
                },
            ))
        })
        .collect()
}

/// The same config (region, endpoint, retries) with other credentials.
pub fn with_credentials(
    base: &SdkConfig,
    provider: impl aws_credential_types::provider::ProvideCredentials + 'static,
) -> SdkConfig {
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
    let out = crate::client!(aws_sdk_sts, config)
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
        "sign in again",
    ]
    .iter()
    .any(|k| m.contains(k))
}

pub fn role_arn(account_id: &str, role_name: &str) -> String {
    format!("arn:aws:iam::{account_id}:role/{role_name}")
}

/// "Test" on a profile: who it acts as (`sts:GetCallerIdentity`) and what it may do in the
/// organization (`organizations:DescribeOrganization`, then one `ListAccounts` page for a member).
pub async fn check_profile(env: &AwsEnv, profile: &str) -> stagecraft_model::signin::ProfileCheck {
    use stagecraft_model::signin::{OrgStanding, ProfileCheck};
    let mut check = ProfileCheck {
        profile: profile.to_owned(),
        identity: None,
        organization_id: None,
        management_account_id: None,
        standing: OrgStanding::Unusable,
        message: String::new(),
    };
    if let Err(e) = env.require_profile(profile).await {
        check.message = e.to_string();
        return check;
    }
    let config = env.sdk_config(profile, None).await;
    let identity = match caller_identity(&config).await {
        Ok(i) => i,
        Err(m) => {
            check.message = if signed_out(&m) {
                format!("its sign-in is missing or lapsed: sign in, then test again ({m})")
            } else {
                format!("its credentials do not work: {m}")
            };
            return check;
        }
    };
    check.identity = Some(identity.clone());
    let org = crate::client!(aws_sdk_organizations, &config);
    let described = match org.describe_organization().send().await {
        Ok(out) => out.organization,
        Err(e) => {
            let code = crate::sdk_error::error_code(&e)
                .unwrap_or_default()
                .to_owned();
            if code == "AWSOrganizationsNotInUseException" {
                check.standing = OrgStanding::NoOrganization;
                check.message = format!(
                    "acts as {} in account {}, which is in no AWS Organization",
                    identity.arn, identity.account
                );
            } else {
                check.standing = OrgStanding::Member;
                check.message = format!(
                    "acts as {} in account {}, but may not describe its organization ({}): \
                     choose the management account's profile",
                    identity.arn,
                    identity.account,
                    aws_message(&e)
                );
            }
            return check;
        }
    };
    let org_id = described
        .as_ref()
        .and_then(|o| o.id.clone())
        .unwrap_or_default();
    let master = described
        .as_ref()
        .and_then(|o| o.master_account_id.clone())
        .unwrap_or_default();
    check.organization_id = Some(org_id.clone());
    check.management_account_id = Some(master.clone());
    if identity.account == master {
        check.standing = OrgStanding::Management;
        check.message = format!(
            "acts as {} in the management account {master} of organization {org_id}: a scan can start here",
            identity.arn
        );
        return check;
    }
    let lists = org.list_accounts().max_results(1).send().await.is_ok();
    if lists {
        check.standing = OrgStanding::DelegatedAdministrator;
        check.message = format!(
            "acts as {} in account {}, a delegated administrator of organization {org_id}: it can list \
             the accounts, but a scan starts from the management account ({master}); choose its profile",
            identity.arn, identity.account
        );
    } else {
        check.standing = OrgStanding::Member;
        check.message = format!(
            "acts as {} in account {}, a member of organization {org_id}, not its management account \
             ({master}): choose the management account's profile",
            identity.arn, identity.account
        );
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn roles_assumed_directly_are_the_profiles_the_sdk_would_assume_without_a_prompt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config");
        std::fs::write(
            &file,
            "[profile management]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n\
             [profile dev]\nrole_arn = arn:aws:iam::222222222222:role/Admin\nsource_profile = management\n\
             external_id = team-7\nrole_session_name = lead\nduration_seconds = 1800\n\
             [profile mfa]\nrole_arn = arn:aws:iam::333333333333:role/Admin\nsource_profile = management\n\
             mfa_serial = arn:aws:iam::111111111111:mfa/lead\n\
             [profile ec2]\nrole_arn = arn:aws:iam::444444444444:role/Admin\ncredential_source = Ec2InstanceMetadata\n\
             [profile self]\nrole_arn = arn:aws:iam::555555555555:role/Admin\nsource_profile = self\n\
             aws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n",
        )
        .expect("write");
        let set = AwsEnv::with_config_file(&file)
            .profile_set()
            .await
            .expect("profiles");
        let roles = profile_roles(&set);
        assert_eq!(
            roles.keys().collect::<Vec<_>>(),
            vec!["dev"],
            "MFA, credential_source and a profile that is its own source are left to the SDK"
        );
        assert_eq!(
            roles["dev"],
            ProfileRole {
                role_arn: "arn:aws:iam::222222222222:role/Admin".into(),
                source_profile: "management".into(),
                external_id: Some("team-7".into()),
                session_name: Some("lead".into()),
                duration_seconds: Some(1800),
            }
        );
    }
}
