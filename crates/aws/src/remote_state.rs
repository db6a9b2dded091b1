//! Terraform state in S3: every workspace of a backend, its lock, and, with no backend configured,
//! every `*.tfstate` object of the management account's buckets. Parsing is `stagecraft_iac`'s.

use std::collections::{BTreeMap, BTreeSet};

use aws_config::SdkConfig;
use stagecraft_iac::config::{stage_of_workspace, state_source, Workspace};
use stagecraft_iac::terraform::{
    backend, load_local, loaded, lock_info, parse_state, summary, LoadedState, LockInfo, S3Backend,
    StateError, StateSource,
};
use stagecraft_model::UiError;

use crate::credentials::{self as aws, AwsEnv};
use crate::sdk_error::aws_message;

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

fn s3_error(op: &str, bucket: &str, message: String) -> UiError {
    UiError {
        code: stagecraft_model::ErrorCode::TerraformBackend,
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

/// With no Terraform config: every `*.tfstate` object in the management account's buckets.
async fn discover(mgmt: &SdkConfig) -> Result<Vec<LoadedState>, UiError> {
    let client = aws_sdk_s3::Client::new(mgmt);
    let buckets = client.list_buckets().send().await.map_err(|e| UiError {
        code: stagecraft_model::ErrorCode::TerraformBackend,
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
