//! How the user reaches AWS: the profiles of their AWS config, an IAM Identity Center sign-in, the
//! accounts and roles it opens, and the settings the window keeps between starts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::Identity;

/// What kind of credentials a profile gives.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ProfileKind {
    /// IAM Identity Center (`sso_session` or the older `sso_start_url`).
    Sso,
    /// `role_arn` assumed from a `source_profile` or `credential_source`.
    RoleChain,
    /// An access key in the config or credentials file.
    StaticKeys,
    /// Keys printed by a `credential_process` command.
    CredentialProcess,
    /// Anything else (web identity, a login session, a profile with nothing in it).
    Other,
}

/// One profile of the user's AWS config and credentials files.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct ProfileInfo {
    pub name: String,
    pub kind: ProfileKind,
    pub region: Option<String>,
    /// For an IAM Identity Center profile: where it signs in.
    pub sso: Option<SsoTarget>,
    /// For a role chain: the role and where its first credentials come from.
    pub role_arn: Option<String>,
    pub source_profile: Option<String>,
    /// A custom endpoint (`endpoint_url`), shown so a user can tell a local emulator from AWS.
    pub endpoint_url: Option<String>,
}

/// An IAM Identity Center profile's sign-in and the account and role it names.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct SsoTarget {
    pub start_url: String,
    pub region: String,
    /// The `[sso-session …]` it uses; `None` for the older per-profile form.
    pub session: Option<String>,
    pub account_id: Option<String>,
    pub role_name: Option<String>,
}

/// Whether the sign-in behind a profile is usable.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
#[ts(export)]
pub enum SignIn {
    /// The profile does not sign in through IAM Identity Center.
    NotSso,
    /// Never signed in on this machine (no cached token).
    SignedOut,
    /// Signed in until `expires_at` (RFC 3339); `refreshable` when it renews itself.
    SignedIn {
        expires_at: String,
        refreshable: bool,
    },
    /// The sign-in lapsed at `expired_at` and cannot renew itself: sign in again.
    Expired { expired_at: String },
}

/// What the user types into AWS's page to approve this device.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct DeviceCode {
    pub user_code: String,
    pub verification_uri: String,
    /// The page with the code filled in: what the browser is opened on.
    pub verification_uri_complete: String,
    /// Seconds the code stays valid.
    pub expires_in: u32,
}

/// An account the sign-in opens, with the roles (permission sets) the user may take in it.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct SsoAccount {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
}

/// Which role the scan takes in each account reached through the sign-in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct SsoRoles {
    /// The role for every account not named below.
    pub all: Option<String>,
    /// Per account id.
    pub accounts: BTreeMap<String, String>,
}

impl SsoRoles {
    pub fn for_account(&self, account_id: &str) -> Option<&str> {
        self.accounts
            .get(account_id)
            .or(self.all.as_ref())
            .map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_none() && self.accounts.is_empty()
    }
}

/// What a profile may do in the organization, as a "Test" found it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum OrgStanding {
    /// The organization's management account: a scan can start here.
    Management,
    /// A member that may list the organization's accounts (a delegated administrator).
    DelegatedAdministrator,
    /// A member account that cannot list the organization.
    Member,
    /// The account is in no organization.
    NoOrganization,
    /// The credentials did not work at all.
    Unusable,
}

/// The answer of "Test" on a profile: who it acts as and what it may do.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct ProfileCheck {
    pub profile: String,
    pub identity: Option<Identity>,
    pub organization_id: Option<String>,
    pub management_account_id: Option<String>,
    pub standing: OrgStanding,
    /// One sentence for the user: what works, or what failed and what to do.
    pub message: String,
}

/// What the window remembers between starts (the app's config directory, `settings.json`).
/// Environment variables, where set, override it for scripts and tests.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(default)]
#[ts(export)]
pub struct SavedSettings {
    /// The management profile scans start from.
    pub profile: Option<String>,
    /// Roles taken through the profile's IAM Identity Center sign-in.
    pub sso_roles: SsoRoles,
    /// The workspace folder (its `stagecraft.toml`).
    pub workspace: Option<String>,
    /// Workspaces opened before, newest first.
    pub recent_workspaces: Vec<String>,
    /// Scan when the window opens (else show the last snapshot until asked).
    pub scan_on_open: Option<bool>,
    /// Seconds between two passes of the Live mode (default 30).
    pub live_interval: Option<u32>,
    /// Where the team publishes its snapshot (`s3://bucket/prefix`), opened last.
    #[serde(default)]
    pub team_location: Option<String>,
}

/// A folder opened as the workspace: its `stagecraft.toml`, or the one Stagecraft would write for
/// it from the Terraform roots and Serverless services found under it (shown before it is saved).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct WorkspaceProposal {
    pub dir: String,
    pub config_path: String,
    /// The folder has a `stagecraft.toml`: it is used as it is.
    pub exists: bool,
    /// Folders holding Terraform code with a backend (roots), relative to `dir`.
    pub terraform_roots: Vec<String>,
    /// Folders holding a `serverless.yml`, relative to `dir`.
    pub services: Vec<String>,
    /// The config: the file's text when it exists, else what would be written.
    pub text: String,
}

/// What the window needs to know before it scans: the settings, where each came from, and
/// whether the user must first choose a profile (and why).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct SetupState {
    pub saved: SavedSettings,
    /// The management profile a scan would use now, if any.
    pub profile: Option<String>,
    /// `STAGECRAFT_PROFILE` decides it (the window shows it, and cannot change it).
    pub profile_from_env: bool,
    pub config_path: Option<String>,
    pub config_from_env: bool,
    /// Why the user must choose before a scan; `None` when a scan can start.
    pub needs_setup: Option<String>,
    /// Something the user should know (saved settings that could not be read).
    pub warning: Option<String>,
    /// The AWS config files the profiles come from, as a user would name them.
    pub aws_files: String,
}
