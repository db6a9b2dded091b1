//! Terraform workspaces as a scan found them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::UiError;

/// One workspace's state as the scan found it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct TerraformState {
    /// `s3://bucket/key` or a local path.
    pub location: String,
    pub workspace: String,
    /// The stage this workspace deploys, if known.
    pub stage: Option<String>,
    pub terraform_version: Option<String>,
    #[ts(type = "number | null")]
    pub serial: Option<u64>,
    pub lineage: Option<String>,
    pub managed_resources: u32,
    pub data_sources: u32,
    /// Present while somebody holds the state lock.
    pub lock: Option<LockInfo>,
    /// Managed instances Stagecraft found no live resource for (their type is collected, yet the
    /// resource is gone or in another account/region).
    pub unmatched: Vec<String>,
    pub error: Option<UiError>,
    /// The account whose bucket holds the state (discovered or configured), when known.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Which rule decided `stage`, and the evidence in words.
    #[serde(default)]
    pub stage_rule: Option<StageRule>,
    #[serde(default)]
    pub stage_evidence: Option<String>,
    /// The accounts the state's managed resources live in (from the account ids in their ARNs).
    /// More than one stage account: the state spans stages and is not forced into one.
    #[serde(default)]
    pub resource_accounts: Vec<String>,
    /// Regions named in the ARNs of its managed resources.
    #[serde(default)]
    pub resource_regions: Vec<String>,
    /// Parameters the state reads through `data "aws_ssm_parameter"` (the Serverless → SSM →
    /// Terraform direction).
    #[serde(default)]
    pub ssm_reads: Vec<StateRead>,
    /// The state object's `ETag` when it was read (S3): a refresh lists the bucket and reads again
    /// a state whose object changed, which no CloudTrail event tells (S3 object writes are data
    /// events: `terraform import`, `state rm` and `state mv` change only the state).
    #[serde(default)]
    pub etag: Option<String>,
}

/// How a state's stage was decided, in the order the rules are tried.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, TS, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum StageRule {
    /// `[terraform.workspaces]` or `[terraform.states]` in `stagecraft.toml`.
    Config,
    /// The workspace (`env:/<ws>/…`) is named like a stage.
    Workspace,
    /// Every managed resource lives in that stage's account.
    Account,
    /// A stage word in the key path (`live/qa/network/terraform.tfstate`).
    Key,
    /// Its resources live in several stage accounts: no single stage.
    Spans,
}

/// A `data "aws_ssm_parameter"` instance of a state.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct StateRead {
    pub address: String,
    pub name: String,
    pub arn: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct LockInfo {
    /// `dynamodb` (the lock table) or `lockfile` (`<key>.tflock` in the bucket).
    pub via: String,
    pub id: Option<String>,
    pub operation: Option<String>,
    pub who: Option<String>,
    pub created: Option<String>,
}
