//! Terraform workspaces as a scan found them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::UiError;

/// One workspace's state as the scan found it.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
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
