//! Terraform state: where it is (backend block, config, or found in the management account's buckets),
//! every workspace of it, whether it is locked, and which stage each workspace deploys.

pub mod backend;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aws_config::SdkConfig;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use backend::{read_backend, Backend, S3Backend};
pub use state::{parse_state, Instance, State, StateError};

use crate::aws::{self, AwsEnv};
use crate::config::Workspace;
use crate::error::aws_message;
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

/// A state read for ownership: its summary and its instances (identifying attributes only).
#[derive(Debug, Clone)]
pub struct LoadedState {
    pub summary: TerraformState,
    pub state: Option<State>,
}

/// Where states come from for this workspace config.
#[derive(Debug, Clone)]
pub enum StateSource {
    S3(S3Backend),
    Local(PathBuf),
    /// No Terraform config: look for `*.tfstate` objects in the management account's buckets.
    Discover,
}

/// Decides where to look: `[terraform.backend]`, else the backend block in `[terraform] dir`, else
/// local state in that dir; with no `[terraform]` at all, discovery.
pub fn state_source(ws: &Workspace) -> Result<StateSource, UiError> {
    let Some(tf) = &ws.config.terraform else {
        return Ok(StateSource::Discover);
    };
    if let Some(b) = &tf.backend {
        return Ok(StateSource::S3(b.clone()));
    }
    let Some(dir) = &tf.dir else {
        return Ok(StateSource::Discover);
    };
    let dir = ws.base_dir().join(dir);
    match read_backend(&dir) {
        Ok(Some(Backend::S3(b))) => Ok(StateSource::S3(b)),
        Ok(Some(Backend::Local { path })) => Ok(StateSource::Local(path)),
        Ok(None) => Ok(StateSource::Local(dir.join("terraform.tfstate"))),
        Err(e) => Err(UiError {
            code: "terraform_backend".to_owned(),
            message: e.to_string(),
        }),
    }
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

/// Reads every workspace's state. `mgmt` is the management account's config; an S3 backend with a
/// `profile` that exists is read with that profile instead.
pub async fn load_states(
    env: &AwsEnv,
    ws: &Workspace,
    mgmt: &SdkConfig,
    profiles: &BTreeSet<String>,
    stages: &BTreeSet<String>,
) -> Result<Vec<LoadedState>, UiError> {
    let source = state_source(ws)?;
    let mut out = match source {
        StateSource::Local(path) => load_local(&path),
        StateSource::S3(backend) => {
            let config = match &backend.profile {
                Some(p) if profiles.contains(p) => {
                    env.sdk_config(p, backend.region.as_deref()).await
                }
                _ => match &backend.region {
                    Some(r) => aws::in_region(mgmt, r),
                    None => mgmt.clone(),
                },
            };
            load_s3(&config, &backend).await?
        }
        StateSource::Discover => discover(mgmt).await?,
    };
    for s in &mut out {
        s.summary.stage = stage_of_workspace(ws, &s.summary.workspace, stages);
    }
    out.sort_by(|a, b| {
        (&a.summary.workspace, &a.summary.location)
            .cmp(&(&b.summary.workspace, &b.summary.location))
    });
    Ok(out)
}

/// A state's summary before it is read.
pub(crate) fn summary(location: String, workspace: String) -> TerraformState {
    TerraformState {
        location,
        workspace,
        stage: None,
        terraform_version: None,
        serial: None,
        lineage: None,
        managed_resources: 0,
        data_sources: 0,
        lock: None,
        unmatched: Vec::new(),
        error: None,
    }
}

fn loaded(mut summary: TerraformState, parsed: Result<State, StateError>) -> LoadedState {
    match parsed {
        Ok(state) => {
            summary.terraform_version = Some(state.terraform_version.clone());
            summary.serial = Some(state.serial);
            summary.lineage = Some(state.lineage.clone());
            summary.managed_resources =
                state.instances.iter().filter(|i| i.managed()).count() as u32;
            summary.data_sources = state.instances.iter().filter(|i| !i.managed()).count() as u32;
            LoadedState {
                summary,
                state: Some(state),
            }
        }
        Err(e) => {
            summary.error = Some(UiError {
                code: "terraform_state".to_owned(),
                message: e.to_string(),
            });
            LoadedState {
                summary,
                state: None,
            }
        }
    }
}

/// Local state: the default workspace's file and `terraform.tfstate.d/<ws>/terraform.tfstate`.
pub fn load_local(path: &Path) -> Vec<LoadedState> {
    let mut out = Vec::new();
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut candidates = vec![("default".to_owned(), path.to_owned())];
    if let Ok(entries) = std::fs::read_dir(dir.join("terraform.tfstate.d")) {
        for e in entries.flatten() {
            let ws = e.file_name().to_string_lossy().into_owned();
            candidates.push((ws, e.path().join("terraform.tfstate")));
        }
    }
    for (ws, file) in candidates {
        if !file.is_file() {
            continue;
        }
        let name = file.display().to_string();
        let parsed = std::fs::read(&file)
            .map_err(|e| StateError::Shape {
                source_name: name.clone(),
                message: e.to_string(),
            })
            .and_then(|bytes| parse_state(&bytes, &name));
        out.push(loaded(summary(name, ws), parsed));
    }
    out
}

fn s3_error(op: &str, bucket: &str, message: String) -> UiError {
    UiError {
        code: "terraform_backend".to_owned(),
        message: format!("{op} on s3://{bucket}: {message}"),
    }
}

/// Every object key in `bucket` under `prefix` (all pages).
async fn list_keys(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>, UiError> {
    let pages: Vec<_> = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| s3_error("s3:ListObjectsV2", bucket, aws_message(&e)))?;
    Ok(pages
        .iter()
        .flat_map(|p| p.contents())
        .filter_map(|o| o.key().map(str::to_owned))
        .collect())
}

/// Every workspace of an S3 backend, each read and checked for a lock.
pub async fn load_s3(config: &SdkConfig, backend: &S3Backend) -> Result<Vec<LoadedState>, UiError> {
    let client = aws_sdk_s3::Client::new(config);
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    for key in list_keys(&client, &backend.bucket, &backend.key).await? {
        if key == backend.key {
            keys.insert("default".to_owned(), key);
        }
    }
    for key in list_keys(
        &client,
        &backend.bucket,
        &format!("{}/", backend.workspace_key_prefix),
    )
    .await?
    {
        if let Some(ws) = backend.workspace_of(&key) {
            keys.insert(ws, key);
        }
    }
    let mut out = Vec::new();
    for (ws, key) in keys {
        let mut s = read_s3_state(&client, &backend.bucket, &key, ws).await;
        s.summary.lock = lock_of(config, &client, backend, &key).await;
        out.push(s);
    }
    Ok(out)
}

async fn read_s3_state(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    ws: String,
) -> LoadedState {
    let location = format!("s3://{bucket}/{key}");
    let bytes = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => o
            .body
            .collect()
            .await
            .map(|b| b.into_bytes())
            .map_err(|e| e.to_string()),
        Err(e) => Err(aws_message(&e)),
    };
    let parsed = bytes
        .map_err(|message| StateError::Shape {
            source_name: location.clone(),
            message: format!("cannot read it: {message}"),
        })
        .and_then(|b| parse_state(&b, &location));
    loaded(summary(location, ws), parsed)
}

/// Who holds the lock of `key`, from the DynamoDB lock table (`LockID = <bucket>/<key>` with `Info`)
/// or an S3 lock file. A lock that cannot be checked is reported as not held.
async fn lock_of(
    config: &SdkConfig,
    s3: &aws_sdk_s3::Client,
    backend: &S3Backend,
    key: &str,
) -> Option<LockInfo> {
    if let Some(table) = &backend.dynamodb_table {
        use aws_sdk_dynamodb::types::AttributeValue;
        let item = aws_sdk_dynamodb::Client::new(config)
            .get_item()
            .table_name(table)
            .key(
                "LockID",
                AttributeValue::S(format!("{}/{key}", backend.bucket)),
            )
            .send()
            .await
            .ok()?
            .item?;
        if let Some(AttributeValue::S(info)) = item.get("Info") {
            return Some(lock_info("dynamodb", info.as_bytes()));
        }
    }
    if backend.use_lockfile {
        // No lock file (`NoSuchKey`) is the usual answer: nobody holds the lock.
        let lock_key = format!("{key}.tflock");
        let o = s3
            .get_object()
            .bucket(&backend.bucket)
            .key(&lock_key)
            .send()
            .await
            .ok()?;
        let body = o.body.collect().await.ok()?.into_bytes();
        return Some(lock_info("lockfile", &body));
    }
    None
}

fn lock_info(via: &str, json: &[u8]) -> LockInfo {
    let v: serde_json::Value = serde_json::from_slice(json).unwrap_or_default();
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    LockInfo {
        via: via.to_owned(),
        id: field("ID"),
        operation: field("Operation"),
        who: field("Who"),
        created: field("Created"),
    }
}

/// With no Terraform config: every `*.tfstate` object in the management account's buckets.
async fn discover(mgmt: &SdkConfig) -> Result<Vec<LoadedState>, UiError> {
    let client = aws_sdk_s3::Client::new(mgmt);
    let buckets = client.list_buckets().send().await.map_err(|e| UiError {
        code: "terraform_backend".to_owned(),
        message: format!(
            "s3:ListBuckets in the management account: {}",
            aws_message(&e)
        ),
    })?;
    let mut out = Vec::new();
    for b in buckets.buckets() {
        let Some(bucket) = b.name() else { continue };
        // A bucket this profile cannot list is not a state bucket we can use; skip it quietly.
        let Ok(keys) = list_keys(&client, bucket, "").await else {
            continue;
        };
        for key in keys.into_iter().filter(|k| k.ends_with(".tfstate")) {
            let ws = key
                .strip_prefix(&format!("{}/", backend::DEFAULT_WORKSPACE_PREFIX))
                .and_then(|rest| rest.split_once('/'))
                .map(|(ws, _)| ws.to_owned())
                .unwrap_or_else(|| "default".to_owned());
            out.push(read_s3_state(&client, bucket, &key, ws).await);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_workspaces_are_found_and_a_broken_one_is_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let state = r#"{"version": 4, "terraform_version": "1.9.8", "serial": 1, "lineage": "l", "resources": []}"#;
        std::fs::write(dir.path().join("terraform.tfstate"), state).unwrap();
        let qa = dir.path().join("terraform.tfstate.d/qa");
        std::fs::create_dir_all(&qa).unwrap();
        std::fs::write(qa.join("terraform.tfstate"), "{ broken").unwrap();
        let mut got = load_local(&dir.path().join("terraform.tfstate"));
        got.sort_by(|a, b| a.summary.workspace.cmp(&b.summary.workspace));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].summary.workspace, "default");
        assert_eq!(got[0].summary.serial, Some(1));
        assert_eq!(got[1].summary.workspace, "qa");
        let err = got[1].summary.error.as_ref().unwrap();
        assert!(
            err.message.contains("qa/terraform.tfstate") && err.message.contains("not JSON"),
            "{}",
            err.message
        );
    }

    #[test]
    fn workspaces_map_to_stages_by_name_or_config() {
        let mut ws = Workspace::default();
        let stages: BTreeSet<String> = ["dev", "prod"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            stage_of_workspace(&ws, "dev", &stages).as_deref(),
            Some("dev")
        );
        assert_eq!(stage_of_workspace(&ws, "default", &stages), None);
        ws.config = crate::config::WorkspaceConfig::parse(
            "[terraform]\ndir = \"infra\"\n[terraform.workspaces]\ndefault = \"prod\"\n",
        )
        .unwrap();
        assert_eq!(
            stage_of_workspace(&ws, "default", &stages).as_deref(),
            Some("prod")
        );
    }
}
