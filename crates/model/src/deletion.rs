//! Pending deletions, the names they block, and the names the tools declare.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Owner, Resource};

/// A name a tool will create in a stage.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq, PartialOrd, Ord)]
#[ts(export)]
pub struct DeclaredName {
    /// `terraform` or `serverless`.
    pub tool: String,
    pub stage: String,
    /// CloudFormation type name of what would be created (`AWS::SecretsManager::Secret`).
    #[serde(rename = "type")]
    pub type_name: String,
    pub name: String,
    /// `aws_secretsmanager_secret.legacy_api_key` or `<service> / <logical id>`.
    pub address: String,
    /// The file that declares it, relative to the workspace.
    pub file: String,
}

/// A deploy a pending deletion will break.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Blocker {
    /// `terraform` or `serverless`.
    pub tool: String,
    pub stage: String,
    /// What declares the name: `aws_secretsmanager_secret.legacy_api_key (infra/secrets.tf)`.
    pub declared_by: String,
    /// In plain words, with what to do.
    pub message: String,
}

/// One resource in a deletion window (or stuck deleting).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct PendingDeletion {
    #[serde(rename = "type")]
    pub type_name: String,
    pub name: String,
    pub id: String,
    pub account_id: String,
    pub stage: Option<String>,
    pub region: String,
    /// RFC 3339; when AWS deletes it for good (`None` for a stack stuck deleting, a bucket gone).
    pub deletion_date: Option<String>,
    /// `scheduled`, `DELETE_FAILED`, `DELETE_IN_PROGRESS` or `deleted`.
    pub state: String,
    /// Why it is listed, or what holds it up (a stack's resource that failed to delete).
    pub detail: String,
    pub owner: Owner,
    /// The action the core offers: `restore_secret`, `cancel_key_deletion`, or none.
    pub action: Option<String>,
    pub blocks: Vec<Blocker>,
    /// Who scheduled it, with which tool and when, from the account's CloudTrail history.
    #[serde(default)]
    pub scheduled_by: Option<String>,
    /// Whether `deletion_date` is exact: from the scheduling call's time and window, or an API
    /// that documents it as the deletion date. `false`: read from a field AWS documents two ways.
    #[serde(default = "certain")]
    pub date_certain: bool,
}

fn certain() -> bool {
    true
}

impl PendingDeletion {
    /// The entry for resource `r`, before its blockers are known.
    pub fn of(
        r: &Resource,
        deletion_date: Option<&str>,
        state: &str,
        detail: String,
        action: Option<&str>,
    ) -> PendingDeletion {
        PendingDeletion {
            type_name: r.type_name.clone(),
            name: r.name.clone(),
            id: r.id.clone(),
            account_id: r.account_id.clone(),
            stage: r.stage.clone(),
            region: r.region.clone(),
            deletion_date: deletion_date.map(str::to_owned),
            state: state.to_owned(),
            detail,
            owner: r.owner.clone(),
            action: action.map(str::to_owned),
            blocks: Vec::new(),
            scheduled_by: None,
            date_certain: true,
        }
    }
}

/// A bucket an earlier snapshot saw that the current one does not.
#[derive(Debug, Clone)]
pub struct GoneBucket {
    pub resource: Resource,
    /// When the last snapshot that had it started (RFC 3339).
    pub last_seen: String,
}

/// How far back earlier snapshots are searched for buckets that are gone now.
pub const GONE_BUCKET_DAYS: i64 = 30;
