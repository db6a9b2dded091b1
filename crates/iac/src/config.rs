//! The workspace config (`stagecraft.toml`): what the AWS APIs cannot tell.
//!
//! Everything is optional. Without a file, Stagecraft works from the AWS profiles alone: stages come from
//! account tags or names, and credentials from a profile named after the stage or an assumed role.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use stagecraft_model::{Error, UiError};

use crate::terraform::{read_backend_with, Backend, StateSource};

pub const DEFAULT_ASSUME_ROLE: &str = "OrganizationAccountAccessRole";
/// Accounts scanned at once. Each account's API limits are its own, so more at once is faster until
/// the machine's CPU is busy: at 50 accounts on two cores, 32 took a fifth less time than 16 and as
/// long as all 51, with about 1 MiB held for each account in flight (`BENCHMARKS.md`).
pub const DEFAULT_PARALLELISM: usize = 32;

/// The variables through which a process gets AWS credentials or profile files: a deploy step gets
/// the ones Stagecraft writes for it, and the config may not set them.
pub const CREDENTIAL_VARIABLES: [&str; 9] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
];

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceConfig {
    #[serde(default)]
    pub organization: OrganizationConfig,
    #[serde(default)]
    pub stages: BTreeMap<String, StageConfig>,
    pub terraform: Option<TerraformConfig>,
    pub serverless: Option<ServerlessConfig>,
    #[serde(default)]
    pub scan: ScanConfig,
    #[serde(default)]
    pub deploy: DeployConfig,
    #[serde(default)]
    pub history: HistoryConfig,
}

/// How many snapshots the store keeps. Deploy runs and action records are never pruned.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// The newest snapshots kept per organization; older ones are deleted after each scan.
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// When set, snapshots older than this many days are deleted too (the newest never is).
    #[serde(default)]
    pub keep_days: Option<u32>,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            keep: DEFAULT_KEEP,
            keep_days: None,
        }
    }
}

/// A hundred snapshots: months of scans by hand, hours of periodic ones.
pub const DEFAULT_KEEP: usize = 100;

fn default_keep() -> usize {
    DEFAULT_KEEP
}

/// How deploys run.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// Extra environment for every step (not for credentials: Stagecraft hands each step its own).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The services' order (their names), instead of the order their dependencies give.
    #[serde(default)]
    pub order: Vec<String>,
    /// Terraform after the services: `auto` (when the stage has no base path mapping yet),
    /// `always` or `never`.
    #[serde(default = "default_post_deploy")]
    pub post_deploy: String,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            env: BTreeMap::new(),
            order: Vec::new(),
            post_deploy: default_post_deploy(),
        }
    }
}

fn default_post_deploy() -> String {
    "auto".to_owned()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OrganizationConfig {
    /// The management account's profile, which discovers the accounts.
    pub profile: Option<String>,
    /// Role assumed in member accounts that have no profile of their own.
    pub assume_role: Option<String>,
    /// Regions to scan; default: the management profile's region.
    #[serde(default)]
    pub regions: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// The stage's account id (12 digits).
    pub account: Option<String>,
    /// The profile for this stage; default: a profile named after the stage, if one exists.
    pub profile: Option<String>,
    /// Deploys and actions need the stage name typed. Default: true for `prod`.
    pub protected: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TerraformConfig {
    /// The Terraform root module, relative to the config file; its `backend` block says where the
    /// state is.
    pub dir: Option<PathBuf>,
    #[serde(default = "default_terraform")]
    pub binary: String,
    /// The S3 backend, when the code does not name it (partial configuration) or is not at hand.
    pub backend: Option<crate::terraform::S3Backend>,
    /// Workspace → stage, where the names differ (`default = "prod"`). A workspace named like a
    /// stage maps to it without this.
    #[serde(default)]
    pub workspaces: BTreeMap<String, String>,
    /// State → stage, for layouts without workspaces: a state's location (`s3://bucket/key`) or
    /// key (`live/qa/network/terraform.tfstate`), or a prefix of it ending in `/`.
    #[serde(default)]
    pub states: BTreeMap<String, String>,
    /// Look for `*.tfstate` objects in every scanned account's buckets besides the backend above.
    #[serde(default = "yes")]
    pub discover: bool,
    /// Extra `terraform init` arguments for every workspace: partial backend configuration
    /// (`-backend-config=key=value`, `-backend-config=backend.hcl`), `-upgrade`, …
    #[serde(default)]
    pub init_args: Vec<String>,
    /// Extra environment for every Terraform step (`TF_VAR_…`, backend endpoints, `TF_DATA_DIR`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Per workspace: init arguments and environment added to the ones above.
    #[serde(default)]
    pub by_workspace: BTreeMap<String, WorkspaceSettings>,
}

/// What one Terraform workspace adds to the `[terraform]` settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceSettings {
    #[serde(default)]
    pub init_args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl TerraformConfig {
    /// `terraform init`'s extra arguments in `workspace`: every workspace's, then its own.
    pub fn init_args_for(&self, workspace: &str) -> Vec<String> {
        let mut out = self.init_args.clone();
        if let Some(w) = self.by_workspace.get(workspace) {
            out.extend(w.init_args.iter().cloned());
        }
        out
    }

    /// The environment of a Terraform step in `workspace`: every workspace's, then its own.
    pub fn env_for(&self, workspace: &str) -> BTreeMap<String, String> {
        let mut out = self.env.clone();
        if let Some(w) = self.by_workspace.get(workspace) {
            out.extend(w.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }

    /// The `-backend-config=key=value` pairs of `workspace`'s init arguments (a later one wins,
    /// as in Terraform); files given as `-backend-config=path` are not read.
    pub fn backend_overrides(&self, workspace: &str) -> BTreeMap<String, String> {
        self.init_args_for(workspace)
            .iter()
            .filter_map(|a| a.strip_prefix("-backend-config="))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerlessConfig {
    /// Service directories (each holding a `serverless.yml`), relative to the config file.
    #[serde(default)]
    pub services: Vec<PathBuf>,
    #[serde(default = "default_serverless")]
    pub binary: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    /// How many accounts are scanned at once.
    #[serde(default = "default_parallelism")]
    pub parallelism: usize,
    /// Seconds one account may take before what it has not answered is given up on (a network
    /// that swallows its traffic must not hold the whole scan).
    #[serde(default = "default_account_timeout")]
    pub account_timeout: u64,
    /// Days of CloudTrail event history the first scan of an account reads (1–90); later scans
    /// read on from where the last one stopped.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            parallelism: DEFAULT_PARALLELISM,
            account_timeout: DEFAULT_ACCOUNT_TIMEOUT,
            history_days: DEFAULT_HISTORY_DAYS,
        }
    }
}

/// A week: enough to see who touched what lately without paging through a busy account's 90 days
/// (50 events a request, two requests a second) on the first scan.
pub const DEFAULT_HISTORY_DAYS: u32 = 7;

fn default_history_days() -> u32 {
    DEFAULT_HISTORY_DAYS
}

/// Five minutes: the largest sandbox account takes under a second, a real one with every region
/// in use about a minute.
pub const DEFAULT_ACCOUNT_TIMEOUT: u64 = 300;

fn default_terraform() -> String {
    "terraform".to_owned()
}
fn default_serverless() -> String {
    "serverless".to_owned()
}
fn default_parallelism() -> usize {
    DEFAULT_PARALLELISM
}
fn default_account_timeout() -> u64 {
    DEFAULT_ACCOUNT_TIMEOUT
}

/// A config together with the directory its relative paths are resolved against.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub config: WorkspaceConfig,
    /// `None` when no config file was given.
    pub path: Option<PathBuf>,
}

impl Workspace {
    /// Reads and validates a `stagecraft.toml`.
    pub fn load(path: &Path) -> Result<Workspace, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_owned(),
            source,
        })?;
        let config = WorkspaceConfig::parse(&text).map_err(|message| Error::ConfigInvalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(Workspace {
            config,
            path: Some(path.to_owned()),
        })
    }

    /// The directory relative paths in the config are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The stage configured for an account id, if any.
    pub fn stage_of_account(&self, account_id: &str) -> Option<&str> {
        self.config
            .stages
            .iter()
            .find(|(_, s)| s.account.as_deref() == Some(account_id))
            .map(|(name, _)| name.as_str())
    }
}

impl WorkspaceConfig {
    /// Parses and validates the TOML text; the error names the line and what to change.
    pub fn parse(text: &str) -> Result<WorkspaceConfig, String> {
        let config: WorkspaceConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        for (name, stage) in &self.stages {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "stage name `{name}` may only hold letters, digits, `-` and `_`"
                ));
            }
            if let Some(account) = &stage.account {
                if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!(
                        "[stages.{name}] account = \"{account}\" is not a 12-digit AWS account id"
                    ));
                }
            }
        }
        let mut accounts: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, stage) in &self.stages {
            if let Some(account) = stage.account.as_deref() {
                if let Some(other) = accounts.insert(account, name) {
                    return Err(format!(
                        "stages `{other}` and `{name}` both map to account {account}; each stage has an account of its own"
                    ));
                }
            }
        }
        if !matches!(
            self.deploy.post_deploy.as_str(),
            "auto" | "always" | "never"
        ) {
            return Err(format!(
                "[deploy] post_deploy = \"{}\" must be \"auto\", \"always\" or \"never\"",
                self.deploy.post_deploy
            ));
        }
        if let Some(tf) = &self.terraform {
            let every = std::iter::once(("[terraform]".to_owned(), &tf.init_args, &tf.env)).chain(
                tf.by_workspace.iter().map(|(w, s)| {
                    (
                        format!("[terraform.by_workspace.{w}]"),
                        &s.init_args,
                        &s.env,
                    )
                }),
            );
            for (section, args, env) in every {
                if let Some(a) = args.iter().find(|a| {
                    let kv = a.strip_prefix("-backend-config=").unwrap_or("");
                    ["access_key=", "secret_key=", "token="]
                        .iter()
                        .any(|k| kv.trim_start().starts_with(k))
                }) {
                    let key = a.split('=').nth(1).unwrap_or("");
                    return Err(format!(
                        "{section} init_args sets the backend's `{key}`: credentials do not go in stagecraft.toml; \
                         Stagecraft hands each step short-lived keys for the profiles its backend and providers name"
                    ));
                }
                if let Some(k) = env
                    .keys()
                    .find(|k| CREDENTIAL_VARIABLES.contains(&k.as_str()))
                {
                    return Err(format!(
                        "{section} env sets {k}: Stagecraft hands each step the credentials of the profiles it uses; remove it"
                    ));
                }
            }
        }
        if let Some(k) = self
            .deploy
            .env
            .keys()
            .find(|k| CREDENTIAL_VARIABLES.contains(&k.as_str()))
        {
            return Err(format!(
                "[deploy.env] sets {k}: Stagecraft hands each step the credentials of the profiles it uses; remove it"
            ));
        }
        if self.scan.parallelism == 0 {
            return Err("[scan] parallelism must be at least 1".to_owned());
        }
        if self.history.keep == 0 {
            return Err(
                "[history] keep must be at least 1: the newest snapshot is what the window opens on"
                    .to_owned(),
            );
        }
        if !(1..=90).contains(&self.scan.history_days) {
            return Err(format!(
                "[scan] history_days is {}; CloudTrail's event history holds 1 to 90 days",
                self.scan.history_days
            ));
        }
        if self.scan.account_timeout == 0 {
            return Err(
                "[scan] account_timeout must be at least 1 (seconds one account may take)"
                    .to_owned(),
            );
        }
        Ok(())
    }

    pub fn assume_role(&self) -> &str {
        self.organization
            .assume_role
            .as_deref()
            .unwrap_or(DEFAULT_ASSUME_ROLE)
    }
}

/// The state the config names: `[terraform.backend]`, else the backend block in `[terraform] dir`,
/// else local state in that dir; `None` when it names none (then only discovery finds state).
pub fn state_source(ws: &Workspace) -> Result<Option<StateSource>, UiError> {
    let Some(tf) = &ws.config.terraform else {
        return Ok(None);
    };
    if let Some(b) = &tf.backend {
        return Ok(Some(StateSource::S3(b.clone())));
    }
    let Some(dir) = &tf.dir else {
        return Ok(None);
    };
    let dir = ws.base_dir().join(dir);
    // The arguments every workspace's `terraform init` gets complete the block (partial configuration).
    let overrides = tf.backend_overrides("");
    match read_backend_with(&dir, &overrides) {
        Ok(Some(Backend::S3(b))) => Ok(Some(StateSource::S3(b))),
        Ok(Some(Backend::Local { path })) => Ok(Some(StateSource::Local(path))),
        Ok(None) => Ok(Some(StateSource::Local(dir.join("terraform.tfstate")))),
        Err(e) => Err(UiError {
            code: stagecraft_model::ErrorCode::TerraformBackend,
            message: e.to_string(),
        }),
    }
}

/// Whether a scan looks for state in every account's buckets (`[terraform] discover`, default on).
pub fn discovers_state(ws: &Workspace) -> bool {
    ws.config.terraform.as_ref().is_none_or(|t| t.discover)
}

/// The stage `[terraform.states]` maps a state to, by its location or key, or a prefix of either
/// ending in `/` (the longest wins).
pub fn stage_of_state_key(ws: &Workspace, location: &str) -> Option<String> {
    let states = &ws.config.terraform.as_ref()?.states;
    let key = location
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, key)| key);
    states
        .iter()
        .filter(|(pattern, _)| {
            let matches = |s: &str| {
                s == pattern.as_str() || (pattern.ends_with('/') && s.starts_with(pattern.as_str()))
            };
            matches(location) || key.is_some_and(matches)
        })
        .max_by_key(|(pattern, _)| pattern.len())
        .map(|(_, stage)| stage.clone())
}

/// The stage a workspace deploys: the config's mapping, else a stage of the same name.
pub fn stage_of_workspace(
    ws: &Workspace,
    workspace: &str,
    stages: &BTreeSet<String>,
) -> Option<String> {
    if let Some(s) = ws
        .config
        .terraform
        .as_ref()
        .and_then(|t| t.workspaces.get(workspace))
    {
        return Some(s.clone());
    }
    stages.contains(workspace).then(|| workspace.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_design_sketch() {
        let c = WorkspaceConfig::parse(
            r#"
[organization]
profile = "master"

[stages.dev]
account = "111111111111"
[stages.prod]
account = "333333333333"
protected = true

[terraform]
dir = "infra"

[serverless]
services = ["services/auth", "services/users"]
binary = "sls"
"#,
        )
        .expect("valid config");
        assert_eq!(c.organization.profile.as_deref(), Some("master"));
        assert_eq!(c.stages["prod"].protected, Some(true));
        assert_eq!(
            c.terraform.as_ref().map(|t| t.binary.as_str()),
            Some("terraform")
        );
        assert_eq!(
            c.serverless.as_ref().map(|s| s.binary.as_str()),
            Some("sls")
        );
        assert_eq!(c.assume_role(), DEFAULT_ASSUME_ROLE);
        assert_eq!(c.scan.parallelism, DEFAULT_PARALLELISM);
    }

    #[test]
    fn state_discovery_is_on_unless_turned_off() {
        let mut ws = Workspace::default();
        assert!(discovers_state(&ws), "no config: discovery");
        ws.config = WorkspaceConfig::parse("[terraform]\ndir = \"infra\"\n").unwrap();
        assert!(discovers_state(&ws), "a backend named: discovery too");
        ws.config = WorkspaceConfig::parse(
            "[terraform]\ndiscover = false\n[terraform.states]\n\"live/qa/\" = \"qa\"\n",
        )
        .unwrap();
        assert!(!discovers_state(&ws));
        assert_eq!(
            stage_of_state_key(&ws, "s3://b/live/qa/net/terraform.tfstate").as_deref(),
            Some("qa")
        );
        assert_eq!(stage_of_state_key(&ws, "s3://b/live/qaz/x.tfstate"), None);
    }

    #[test]
    fn rejects_unknown_keys_with_the_line() {
        let err = WorkspaceConfig::parse("[organization]\nprofil = \"x\"\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("profil"), "{err}");
    }

    #[test]
    fn rejects_a_malformed_account_id() {
        let err = WorkspaceConfig::parse("[stages.qa]\naccount = \"12345\"\n").unwrap_err();
        assert!(err.contains("12-digit"), "{err}");
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stagecraft.toml");
        std::fs::write(&path, "stages = 3").expect("write");
        let err = Workspace::load(&path).unwrap_err().to_string();
        assert!(err.contains("stagecraft.toml"), "{err}");
        let missing = Workspace::load(&dir.path().join("nope.toml")).unwrap_err();
        assert_eq!(missing.code(), stagecraft_model::ErrorCode::ConfigRead);
    }
}
