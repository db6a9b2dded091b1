//! IAM Identity Center: the device authorization sign-in (`sso-oidc`), the token cached where and as
//! the AWS CLI caches it (`~/.aws/sso/cache/<sha1>.json`, so the CLI, the SDKs and Stagecraft share
//! one sign-in), its refresh, the accounts and roles it opens (`sso`), and credentials for a role in
//! an account (`GetRoleCredentials`) with no profile per account.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::{self, error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use sha1::Digest as _;

use crate::credentials::AwsEnv;
use crate::sdk_error::aws_message;
use crate::Error;
use stagecraft_model::signin::{DeviceCode, SignIn, SsoAccount, SsoTarget};

/// A token this close to its end is renewed before it is used.
const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
/// Role look-ups running at once when listing what a sign-in opens.
const ROLE_CONCURRENCY: usize = 8;
/// The scope IAM Identity Center grants for account access.
const DEFAULT_SCOPE: &str = "sso:account:access";

/// Where a profile signs in, resolved from its `[sso-session]` (or its own `sso_start_url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The profile it was found through (named in errors).
    pub profile: String,
    pub target: SsoTarget,
    pub scopes: Vec<String>,
    /// The profile's `endpoint_url`, when it points somewhere other than AWS.
    pub endpoint_url: Option<String>,
    /// The directory of cached tokens (`~/.aws/sso/cache`).
    pub cache_dir: PathBuf,
}

/// A cached token, in the AWS CLI's file format.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub start_url: String,
    pub region: String,
    pub access_token: String,
    /// RFC 3339, UTC (`2026-12-03T12:00:00Z`).
    pub expires_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl Token {
    fn expires(&self) -> Option<SystemTime> {
        parse_time(&self.expires_at)
    }

    /// Whether it can renew itself: a refresh token and a client registration still valid.
    fn refreshable(&self) -> bool {
        self.refresh_token.is_some()
            && self.client_id.is_some()
            && self.client_secret.is_some()
            && self
                .registration_expires_at
                .as_deref()
                .and_then(parse_time)
                .is_none_or(|t| t > SystemTime::now())
    }
}

fn parse_time(s: &str) -> Option<SystemTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(SystemTime::from)
}

fn format_time(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::from(t))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Session {
    /// The cache file: SHA-1 of the session name, or of the start URL for the older form.
    pub fn cache_file(&self) -> PathBuf {
        let key = self
            .target
            .session
            .as_deref()
            .unwrap_or(&self.target.start_url);
        self.cache_dir
            .join(format!("{}.json", hex::encode(sha1::Sha1::digest(key))))
    }

    fn signed_out(&self, message: impl Into<String>) -> Error {
        Error::SignedOut {
            profile: self.profile.clone(),
            message: message.into(),
        }
    }

    /// The cached token, if any; a damaged cache file reads as none (signing in rewrites it).
    pub fn cached(&self) -> Option<Token> {
        let text = std::fs::read_to_string(self.cache_file()).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn store(&self, token: &Token) -> Result<(), Error> {
        let path = self.cache_file();
        write_private(
            &path,
            &serde_json::to_string_pretty(token).unwrap_or_default(),
        )
        .map_err(|e| Error::io(format!("writing the sign-in cache {}", path.display()), e))
    }

    fn oidc(&self) -> aws_sdk_ssooidc::Client {
        let mut b = aws_sdk_ssooidc::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.target.region.clone()));
        if let Some(url) = &self.endpoint_url {
            b = b.endpoint_url(url);
        }
        aws_sdk_ssooidc::Client::from_conf(b.build())
    }

    fn portal(&self) -> aws_sdk_sso::Client {
        let mut b = aws_sdk_sso::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.target.region.clone()));
        if let Some(url) = &self.endpoint_url {
            b = b.endpoint_url(url);
        }
        aws_sdk_sso::Client::from_conf(b.build())
    }

    /// Whether the sign-in is usable now, renewing a token that can renew itself when it is close
    /// to its end (one `CreateToken` call); nothing else calls AWS.
    pub async fn status(&self) -> SignIn {
        let Some(token) = self.cached() else {
            return SignIn::SignedOut;
        };
        match self.fresh(token).await {
            Ok(t) => SignIn::SignedIn {
                refreshable: t.refreshable(),
                expires_at: t.expires_at,
            },
            Err(_) => SignIn::Expired {
                expired_at: self.cached().map(|t| t.expires_at).unwrap_or_default(),
            },
        }
    }

    /// A token valid for at least a few minutes: the cached one, renewed when close to its end.
    pub async fn token(&self) -> Result<Token, Error> {
        let token = self
            .cached()
            .ok_or_else(|| self.signed_out("is missing: this machine never signed in"))?;
        self.fresh(token).await
    }

    async fn fresh(&self, token: Token) -> Result<Token, Error> {
        let now = SystemTime::now();
        let ends = token.expires().unwrap_or(SystemTime::UNIX_EPOCH);
        if ends > now + REFRESH_AHEAD {
            return Ok(token);
        }
        if token.refreshable() {
            if let Ok(renewed) = self.refresh(&token).await {
                return Ok(renewed);
            }
        }
        if ends > now {
            return Ok(token);
        }
        Err(self.signed_out(format!("lapsed at {}", token.expires_at)))
    }

    async fn refresh(&self, token: &Token) -> Result<Token, Error> {
        let out = self
            .oidc()
            .create_token()
            .grant_type("refresh_token")
            .client_id(token.client_id.clone().unwrap_or_default())
            .client_secret(token.client_secret.clone().unwrap_or_default())
            .refresh_token(token.refresh_token.clone().unwrap_or_default())
            .send()
            .await
            .map_err(|e| self.signed_out(format!("could not be renewed ({})", aws_message(&e))))?;
        let renewed = Token {
            access_token: out.access_token.unwrap_or_default(),
            expires_at: format_time(
                SystemTime::now() + Duration::from_secs(u64::try_from(out.expires_in).unwrap_or(0)),
            ),
            refresh_token: out.refresh_token.or_else(|| token.refresh_token.clone()),
            ..token.clone()
        };
        self.store(&renewed)?;
        Ok(renewed)
    }

    /// Signs in with the device authorization flow: registers this app, asks for a device code,
    /// hands it to `show` (which opens the page and shows the code), then polls until the user
    /// approves, the code expires, or `cancel` turns true. The token is cached as the AWS CLI does.
    pub async fn sign_in(
        &self,
        show: &(dyn Fn(&DeviceCode) + Send + Sync),
        mut cancel: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Result<Token, Error> {
        let oidc = self.oidc();
        let failed = |what: &str, message: String| {
            self.signed_out(format!("could not start: {what} failed ({message})"))
        };
        let client = oidc
            .register_client()
            .client_name("stagecraft")
            .client_type("public")
            .set_scopes(Some(self.scopes.clone()))
            .send()
            .await
            .map_err(|e| failed("sso-oidc:RegisterClient", aws_message(&e)))?;
        let client_id = client.client_id.unwrap_or_default();
        let client_secret = client.client_secret.unwrap_or_default();
        let auth = oidc
            .start_device_authorization()
            .client_id(&client_id)
            .client_secret(&client_secret)
            .start_url(&self.target.start_url)
            .send()
            .await
            .map_err(|e| failed("sso-oidc:StartDeviceAuthorization", aws_message(&e)))?;
        let device_code = auth.device_code.unwrap_or_default();
        let code = DeviceCode {
            user_code: auth.user_code.unwrap_or_default(),
            verification_uri: auth.verification_uri.clone().unwrap_or_default(),
            verification_uri_complete: auth
                .verification_uri_complete
                .or(auth.verification_uri)
                .unwrap_or_default(),
            expires_in: u32::try_from(auth.expires_in).unwrap_or(600),
        };
        show(&code);
        let deadline =
            SystemTime::now() + Duration::from_secs(u64::try_from(auth.expires_in).unwrap_or(600));
        let mut interval = Duration::from_secs(u64::try_from(auth.interval).unwrap_or(5).max(1));
        loop {
            let wait = tokio::time::sleep(interval);
            match cancel.as_mut() {
                Some(rx) => {
                    tokio::select! {
                        _ = wait => {}
                        _ = rx.changed() => {}
                    }
                    if *rx.borrow() {
                        return Err(self.signed_out("was cancelled before it was approved"));
                    }
                }
                None => wait.await,
            }
            if SystemTime::now() > deadline {
                return Err(self.signed_out(format!(
                    "was not approved within {} minutes (code {})",
                    code.expires_in / 60,
                    code.user_code
                )));
            }
            let asked = oidc
                .create_token()
                .grant_type("urn:ietf:params:oauth:grant-type:device_code")
                .device_code(&device_code)
                .client_id(&client_id)
                .client_secret(&client_secret)
                .send()
                .await;
            use aws_sdk_ssooidc::operation::create_token::CreateTokenError as E;
            match asked {
                Ok(out) => {
                    let now = SystemTime::now();
                    let token = Token {
                        start_url: self.target.start_url.clone(),
                        region: self.target.region.clone(),
                        access_token: out.access_token.unwrap_or_default(),
                        expires_at: format_time(
                            now + Duration::from_secs(u64::try_from(out.expires_in).unwrap_or(0)),
                        ),
                        client_id: Some(client_id.clone()),
                        client_secret: Some(client_secret.clone()),
                        registration_expires_at: (client.client_secret_expires_at > 0).then(|| {
                            format_time(
                                SystemTime::UNIX_EPOCH
                                    + Duration::from_secs(
                                        u64::try_from(client.client_secret_expires_at).unwrap_or(0),
                                    ),
                            )
                        }),
                        refresh_token: out.refresh_token,
                    };
                    self.store(&token)?;
                    return Ok(token);
                }
                Err(e) => match e.as_service_error() {
                    Some(E::AuthorizationPendingException(_)) => {}
                    Some(E::SlowDownException(_)) => interval += Duration::from_secs(5),
                    Some(E::ExpiredTokenException(_)) => {
                        return Err(self.signed_out(format!(
                            "code {} expired before it was approved",
                            code.user_code
                        )))
                    }
                    Some(E::AccessDeniedException(_)) => {
                        return Err(self.signed_out("was denied on the sign-in page"))
                    }
                    _ => {
                        return Err(self.signed_out(format!(
                            "failed while waiting for approval ({})",
                            aws_message(&e)
                        )))
                    }
                },
            }
        }
    }

    /// Forgets the sign-in here (`sso:Logout`, then the cached token is removed).
    pub async fn sign_out(&self) -> Result<(), Error> {
        if let Some(token) = self.cached() {
            let _ = self
                .portal()
                .logout()
                .access_token(token.access_token)
                .send()
                .await;
        }
        match std::fs::remove_file(self.cache_file()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(
                format!("removing {}", self.cache_file().display()),
                e,
            )),
        }
    }

    /// Every account the sign-in opens, with the roles the user may take in each.
    pub async fn accounts(&self) -> Result<Vec<SsoAccount>, Error> {
        let token = self.token().await?;
        let portal = self.portal();
        let mut listed = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = portal
                .list_accounts()
                .access_token(&token.access_token)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| self.portal_error("sso:ListAccounts", aws_message(&e)))?;
            listed.extend(page.account_list.unwrap_or_default());
            match page.next_token {
                Some(t) if !t.is_empty() => next = Some(t),
                _ => break,
            }
        }
        let with_roles: Vec<Result<SsoAccount, Error>> = stream::iter(listed)
            .map(|a| {
                let portal = portal.clone();
                let token = token.access_token.clone();
                async move {
                    let id = a.account_id.unwrap_or_default();
                    let mut roles = Vec::new();
                    let mut next: Option<String> = None;
                    loop {
                        let page = portal
                            .list_account_roles()
                            .access_token(&token)
                            .account_id(&id)
                            .set_next_token(next.take())
                            .send()
                            .await
                            .map_err(|e| {
                                self.portal_error("sso:ListAccountRoles", aws_message(&e))
                            })?;
                        roles.extend(
                            page.role_list
                                .unwrap_or_default()
                                .into_iter()
                                .filter_map(|r| r.role_name),
                        );
                        match page.next_token {
                            Some(t) if !t.is_empty() => next = Some(t),
                            _ => break,
                        }
                    }
                    roles.sort();
                    Ok(SsoAccount {
                        name: a.account_name.unwrap_or_else(|| id.clone()),
                        email: a.email_address.unwrap_or_default(),
                        id,
                        roles,
                    })
                }
            })
            .buffer_unordered(ROLE_CONCURRENCY)
            .collect()
            .await;
        let mut out = with_roles.into_iter().collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    fn portal_error(&self, operation: &'static str, message: String) -> Error {
        if message.contains("Unauthorized") {
            self.signed_out(format!("was refused ({message})"))
        } else {
            Error::Aws {
                operation,
                scope: format!(
                    "the IAM Identity Center sign-in of profile `{}`",
                    self.profile
                ),
                message,
            }
        }
    }

    /// Credentials for `role` in `account`, fetched (and renewed) through the sign-in.
    pub fn role(&self, account_id: &str, role_name: &str) -> PortalRole {
        PortalRole {
            session: self.clone(),
            account_id: account_id.to_owned(),
            role_name: role_name.to_owned(),
        }
    }
}

/// A role in an account, reached through the sign-in: `sso:GetRoleCredentials` each time the
/// SDK's cache of the keys runs out.
#[derive(Debug, Clone)]
pub struct PortalRole {
    session: Session,
    account_id: String,
    role_name: String,
}

impl PortalRole {
    async fn credentials(&self) -> provider::Result {
        let token = self
            .session
            .token()
            .await
            .map_err(|e| CredentialsError::provider_error(e.to_string()))?;
        let out = self
            .session
            .portal()
            .get_role_credentials()
            .access_token(&token.access_token)
            .account_id(&self.account_id)
            .role_name(&self.role_name)
            .send()
            .await
            .map_err(|e| {
                let message = aws_message(&e);
                let why = if message.contains("Unauthorized") {
                    format!(
                        "the IAM Identity Center sign-in of profile `{}` lapsed (sso session expired: {message}); sign in again",
                        self.session.profile
                    )
                } else {
                    format!(
                        "sso:GetRoleCredentials for role {} in account {} failed: {message}",
                        self.role_name, self.account_id
                    )
                };
                CredentialsError::provider_error(why)
            })?;
        let c = out
            .role_credentials
            .ok_or_else(|| CredentialsError::unhandled("GetRoleCredentials returned no keys"))?;
        let expiry = SystemTime::UNIX_EPOCH
            + Duration::from_millis(u64::try_from(c.expiration).unwrap_or(0));
        Ok(Credentials::new(
            c.access_key_id.unwrap_or_default(),
            c.secret_access_key.unwrap_or_default(),
            c.session_token,
            Some(expiry),
            "IAM Identity Center",
        ))
    }
}

impl ProvideCredentials for PortalRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}

/// Writes a file only this user can read (a token is a credential), through a temporary file so a
/// crash never leaves half a token.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    write_through_temporary(path, text, 0o600)
}

/// Writes `text` to `path` with `mode` through a temporary file beside it, so a crash leaves the old
/// file or the new one, never half of one. A missing folder is made readable by its owner only.
fn write_through_temporary(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

impl AwsEnv {
    /// SDK config for an account reached the way a scan recorded (`Account::access`), in `region`.
    pub async fn access_config(
        &self,
        access: &stagecraft_model::Access,
        account_id: &str,
        region: Option<&str>,
    ) -> Result<aws_config::SdkConfig, Error> {
        use stagecraft_model::Access;
        Ok(match access {
            Access::Profile { profile } => self.sdk_config(profile, region).await,
            Access::AssumeRole {
                role_arn,
                source_profile,
            } => {
                let base = self.sdk_config(source_profile, region).await;
                crate::credentials::assume_role(&base, role_arn).await
            }
            Access::Sso { role_name, profile } => {
                let session = self.sso_session(profile).await?.ok_or_else(|| {
                    Error::SignedOut {
                        profile: profile.clone(),
                        message: "is not configured (the profile no longer names an IAM Identity Center sign-in)".into(),
                    }
                })?;
                let base = self.sdk_config(profile, region).await;
                crate::credentials::with_credentials(&base, session.role(account_id, role_name))
            }
        })
    }

    /// The IAM Identity Center sign-in `profile` uses, if it signs in that way.
    pub async fn sso_session(&self, profile: &str) -> Result<Option<Session>, Error> {
        // One read of the profile files for both the profile and its session's scopes.
        let set = self.profile_set().await?;
        let info = crate::credentials::profiles_in(&set)
            .into_iter()
            .find(|p| p.name == profile)
            .ok_or_else(|| Error::ProfileMissing {
                profile: profile.to_owned(),
                files: self.describe_files(),
            })?;
        let Some(target) = info.sso else {
            return Ok(None);
        };
        let scopes = crate::credentials::sso_scopes_in(&set, target.session.as_deref())
            .unwrap_or_else(|| vec![DEFAULT_SCOPE.to_owned()]);
        Ok(Some(Session {
            profile: profile.to_owned(),
            target,
            scopes,
            endpoint_url: info.endpoint_url,
            cache_dir: self.sso_cache_dir(),
        }))
    }
}

/// A start URL typed in the window, signed in before any profile names it; saved as a profile the
/// way `aws configure sso` saves one.
impl AwsEnv {
    /// The sign-in for `start_url` in `region`, under the session (and later profile) `name`.
    pub fn sso_start(&self, name: &str, start_url: &str, region: &str) -> Result<Session, Error> {
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(Error::Input(format!(
                "`{name}` cannot name a profile: use letters, digits, `-`, `_` and `.`"
            )));
        }
        let start_url = start_url.trim().trim_end_matches('/');
        let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| start_url.starts_with(p));
        if !(start_url.starts_with("https://") || local) || start_url.contains(char::is_whitespace)
        {
            return Err(Error::Input(format!(
                "`{start_url}` is not an IAM Identity Center start URL: it looks like \
                 https://my-org.awsapps.com/start (the AWS access portal URL)"
            )));
        }
        let region = region.trim();
        let parts: Vec<&str> = region.split('-').collect();
        if parts.len() < 3
            || !region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(Error::Input(format!(
                "`{region}` is not an AWS region: IAM Identity Center's region looks like us-east-1"
            )));
        }
        // A local emulator (never AWS) answers the sign-in and the portal at the start URL's origin.
        let endpoint_url = local.then(|| {
            let rest = &start_url["http://".len()..];
            format!("http://{}", rest.split('/').next().unwrap_or(rest))
        });
        Ok(Session {
            profile: name.to_owned(),
            target: SsoTarget {
                start_url: start_url.to_owned(),
                region: region.to_owned(),
                session: Some(name.to_owned()),
                account_id: None,
                role_name: None,
            },
            scopes: vec![DEFAULT_SCOPE.to_owned()],
            endpoint_url,
            cache_dir: self.sso_cache_dir(),
        })
    }

    /// The AWS config file profiles are added to: the one given, `AWS_CONFIG_FILE`, or `~/.aws/config`.
    pub fn config_file_to_write(&self) -> PathBuf {
        self.config_file()
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("AWS_CONFIG_FILE").map(PathBuf::from))
            .unwrap_or_else(|| {
                dirs::home_dir()
                    .unwrap_or_default()
                    .join(".aws")
                    .join("config")
            })
    }

    /// Saves a signed-in start URL as `[profile <name>]` with its `[sso-session <name>]`, acting as
    /// `role_name` in `account_id` (the management account), appended to the AWS config file: what
    /// was there stays byte for byte, and a profile or session of that name is never replaced.
    pub async fn add_sso_profile(
        &self,
        session: &Session,
        account_id: &str,
        role_name: &str,
    ) -> Result<PathBuf, Error> {
        let name = &session.profile;
        if self.profile_names().await?.contains(name) {
            return Err(Error::Input(format!(
                "a profile `{name}` already exists in {}: choose another name",
                self.describe_files()
            )));
        }
        if !account_id.chars().all(|c| c.is_ascii_digit()) || account_id.len() != 12 {
            return Err(Error::Input(format!(
                "`{account_id}` is not an AWS account id (12 digits)"
            )));
        }
        let path = self.config_file_to_write();
        let existing = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let header = |s: &str| {
            s.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        if existing
            .lines()
            .any(|l| l.trim_start().starts_with('[') && header(l) == format!("sso-session {name}"))
        {
            return Err(Error::Input(format!(
                "an [sso-session {name}] already exists in {}: choose another name",
                path.display()
            )));
        }
        let target = &session.target;
        let mut text = existing.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "\n[profile {name}]\nsso_session = {name}\nsso_account_id = {account_id}\n\
             sso_role_name = {role_name}\nregion = {region}\n",
            region = target.region
        ));
        if let Some(endpoint) = &session.endpoint_url {
            text.push_str(&format!("endpoint_url = {endpoint}\n"));
        }
        text.push_str(&format!(
            "\n[sso-session {name}]\nsso_start_url = {}\nsso_region = {}\nsso_registration_scopes = {}\n",
            target.start_url,
            target.region,
            session.scopes.join(",")
        ));
        let mode = {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::metadata(&path).map_or(0o600, |m| m.permissions().mode() & 0o777)
        };
        write_through_temporary(&path, &text, mode)
            .map_err(|e| Error::io(format!("adding profile `{name}` to {}", path.display()), e))?;
        Ok(path)
    }
}
