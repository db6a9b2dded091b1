//! Terraform state in S3: the backend `stagecraft.toml` names (every workspace of it, with its lock),
//! and, unless turned off, every bucket of every scanned account that holds `*.tfstate` objects:
//! a tooling account's, each stage account's, the management account's. One `ListObjectsV2` page per
//! bucket decides whether it holds state; a state bucket is then listed in full and each state read
//! once. Parsing and the stage of each state are `stagecraft_iac`'s.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::SdkConfig;
use futures::stream::{self, StreamExt};
use stagecraft_iac::config::{state_source, Workspace};
use stagecraft_iac::terraform::{
    backend, load_local, loaded, lock_info, parse_state, summary, LoadedState, LockInfo, S3Backend,
    StateError, StateSource,
};
use stagecraft_model::coverage::{StateBucket, StateCoverage};
use stagecraft_model::UiError;

use crate::credentials::{self as aws, AwsEnv};
use crate::sdk_error::aws_message;

/// Buckets searched at once per account.
const PROBES_AT_ONCE: usize = 8;
/// States (each with its lock) read at once from one bucket.
const STATES_AT_ONCE: usize = 8;

/// One scanned account's buckets and lock tables, and credentials to read them.
#[derive(Debug, Clone)]
pub struct AccountStores {
    pub account_id: String,
    pub config: SdkConfig,
    /// (bucket, region)
    pub buckets: Vec<(String, String)>,
    /// (table, region) of DynamoDB tables keyed by `LockID`, Terraform's lock table shape.
    pub lock_tables: Vec<(String, String)>,
}

/// Every state found, how the search went, and what could not be read.
#[derive(Debug, Default)]
pub struct Found {
    pub states: Vec<LoadedState>,
    pub coverage: StateCoverage,
    pub warnings: Vec<UiError>,
    /// Buckets that could not be searched, each with the reason.
    pub skipped: Vec<String>,
    /// The configured backend's bucket.
    pub configured_bucket: Option<String>,
}

/// The backend `stagecraft.toml` names, with its workspaces' keys listed: listed first (two calls),
/// so that the search of every account can leave those locations to it.
#[derive(Debug)]
pub enum Configured {
    None,
    Invalid(UiError),
    Local(std::path::PathBuf),
    S3 {
        backend: S3Backend,
        config: Box<SdkConfig>,
        /// workspace → key, or why the bucket could not be listed.
        keys: Result<BTreeMap<String, String>, UiError>,
    },
}

impl Configured {
    /// Lists the configured backend's workspaces.
    pub async fn list(
        env: &AwsEnv,
        ws: &Workspace,
        mgmt: &SdkConfig,
        profiles: &BTreeSet<String>,
    ) -> Configured {
        match state_source(ws) {
            Err(e) => Configured::Invalid(e),
            Ok(None) => Configured::None,
            Ok(Some(StateSource::Local(path))) => Configured::Local(path),
            Ok(Some(StateSource::S3(backend))) => {
                let config = backend_config(env, &backend, mgmt, profiles).await;
                let keys = workspaces(&crate::client!(aws_sdk_s3, &config), &backend).await;
                Configured::S3 {
                    backend,
                    config: Box::new(config),
                    keys,
                }
            }
        }
    }

    /// The locations the configured backend reads; the search leaves them to it.
    pub fn locations(&self) -> BTreeSet<String> {
        match self {
            Configured::S3 {
                backend,
                keys: Ok(keys),
                ..
            } => keys
                .values()
                .map(|k| format!("s3://{}/{k}", backend.bucket))
                .collect(),
            _ => BTreeSet::new(),
        }
    }

    /// Reads every workspace's state and lock, all at once.
    pub async fn read(&self) -> Found {
        let mut found = Found::default();
        match self {
            Configured::None => {}
            Configured::Invalid(e) => found.warnings.push(e.clone()),
            Configured::Local(path) => {
                found.coverage.configured = Some(path.display().to_string());
                found.states = load_local(path);
            }
            Configured::S3 {
                backend,
                config,
                keys,
            } => {
                found.coverage.configured =
                    Some(format!("s3://{}/{}", backend.bucket, backend.key));
                found.configured_bucket = Some(backend.bucket.clone());
                match keys {
                    Ok(keys) => found.states = read_workspaces(config, backend, keys).await,
                    Err(e) => {
                        found.skipped.push(format!(
                            "the configured backend s3://{}/{}: {}",
                            backend.bucket, backend.key, e.message
                        ));
                        found.warnings.push(e.clone());
                    }
                }
            }
        }
        found
    }
}

/// Puts together the configured backend's reading and every account's search (`None` when the
/// search is turned off); `owner` names the scanned account that holds a bucket.
pub fn assemble(
    mut found: Found,
    searched: Option<Vec<Searched>>,
    owner: impl Fn(&str) -> Option<String>,
) -> Found {
    if let Some(bucket) = &found.configured_bucket {
        let owner = owner(bucket);
        for s in &mut found.states {
            s.summary.account_id = owner.clone();
        }
    }
    if let Some(searched) = searched {
        found.coverage.discovery = true;
        found.coverage.accounts_searched = searched.len() as u32;
        for s in searched {
            found.coverage.calls += s.calls;
            found.coverage.buckets_probed += s.probed;
            found.coverage.state_buckets.extend(s.buckets);
            found.states.extend(s.states);
            found.skipped.extend(s.skipped);
        }
        found
            .coverage
            .state_buckets
            .sort_by(|a, b| (&a.account_id, &a.bucket).cmp(&(&b.account_id, &b.bucket)));
    }
    found.states.sort_by(|a, b| {
        (&a.summary.workspace, &a.summary.location)
            .cmp(&(&b.summary.workspace, &b.summary.location))
    });
    found.coverage.states_read = found.states.iter().filter(|s| s.state.is_some()).count() as u32;
    found.coverage.states_unreadable =
        found.states.iter().filter(|s| s.state.is_none()).count() as u32;
    found
}

/// What one account's buckets held.
#[derive(Debug, Default)]
pub struct Searched {
    calls: u32,
    probed: u32,
    buckets: Vec<StateBucket>,
    states: Vec<LoadedState>,
    skipped: Vec<String>,
}

/// Searches one account's buckets for `*.tfstate` objects and reads each state found that the
/// configured backend (`known`) does not, with its lock.
pub async fn search_account(account: &AccountStores, known: &BTreeSet<String>) -> Searched {
    let calls = AtomicU32::new(0);
    let calls = &calls;
    let probes: Vec<_> = account
        .buckets
        .iter()
        .map(|(bucket, region)| async move {
            let config = aws::in_region(&account.config, region);
            let client = crate::client!(aws_sdk_s3, &config);
            let keys = probe(&client, bucket, calls).await;
            let keys = match keys {
                Ok(keys) => keys,
                Err(e) => return Err(e),
            };
            let states: Vec<&String> = keys.iter().filter(|k| k.ends_with(".tfstate")).collect();
            if states.is_empty() {
                return Ok(None);
            }
            let lock_tables: Vec<String> = account
                .lock_tables
                .iter()
                .filter(|(_, r)| r == region)
                .map(|(t, _)| t.clone())
                .collect();
            let n = states.len() as u32;
            let reads: Vec<_> = states
                .into_iter()
                .filter(|key| !known.contains(&format!("s3://{bucket}/{key}")))
                .map(|key| {
                    let (config, client, keys, lock_tables) =
                        (&config, &client, &keys, &lock_tables);
                    async move {
                        let ws = key
                            .strip_prefix(&format!("{}/", backend::DEFAULT_WORKSPACE_PREFIX))
                            .and_then(|rest| rest.split_once('/'))
                            .map(|(ws, _)| ws.to_owned())
                            .unwrap_or_else(|| "default".to_owned());
                        calls.fetch_add(1, Ordering::Relaxed);
                        let (mut s, lock) = futures::join!(
                            read_s3_state(client, bucket, key, ws),
                            read_lock(
                                config,
                                client,
                                bucket,
                                key,
                                lock_tables,
                                keys.contains(&format!("{key}.tflock")),
                                calls,
                            )
                        );
                        s.summary.account_id = Some(account.account_id.clone());
                        s.summary.lock = lock;
                        s
                    }
                })
                .collect();
            let states: Vec<LoadedState> =
                stream::iter(reads).buffered(STATES_AT_ONCE).collect().await;
            Ok(Some((
                StateBucket {
                    bucket: bucket.clone(),
                    account_id: account.account_id.clone(),
                    region: region.clone(),
                    states: n,
                    lock_tables,
                },
                states,
            )))
        })
        .collect();
    let probes: Vec<_> = stream::iter(probes)
        .buffered(PROBES_AT_ONCE)
        .collect()
        .await;
    let mut out = Searched {
        probed: account.buckets.len() as u32,
        ..Searched::default()
    };
    for probed in probes {
        match probed {
            Ok(None) => {}
            Ok(Some((bucket, states))) => {
                out.buckets.push(bucket);
                out.states.extend(states);
            }
            Err(e) => out.skipped.push(format!(
                "state search in account {}: {}",
                account.account_id, e.message
            )),
        }
    }
    out.calls = calls.load(Ordering::Relaxed);
    out
}

/// Searches an account another shard scans: its buckets listed here (one `ListBuckets`, which
/// names each bucket's region), then searched as [`search_account`] does. Every shard reads every
/// state, so what a state in one shard's account owns in another's is still decided. Lock tables
/// are left to the shard that scans the account.
pub async fn search_elsewhere(
    account_id: &str,
    config: SdkConfig,
    known: &BTreeSet<String>,
) -> Searched {
    let client = crate::client!(aws_sdk_s3, &config);
    let listed: Result<Vec<_>, _> = client
        .list_buckets()
        .max_buckets(10_000)
        .into_paginator()
        .send()
        .try_collect()
        .await;
    let pages = match listed {
        Ok(pages) => pages,
        Err(e) => {
            return Searched {
                calls: 1,
                skipped: vec![format!(
                    "state search in account {account_id} (another shard's): s3:ListBuckets: {}",
                    aws_message(&e)
                )],
                ..Searched::default()
            }
        }
    };
    let fallback = config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| aws::FALLBACK_REGION.to_owned());
    let buckets = pages
        .iter()
        .flat_map(|p| p.buckets())
        .filter_map(|b| {
            let region = b
                .bucket_region()
                .map(str::to_owned)
                .unwrap_or_else(|| fallback.clone());
            Some((b.name()?.to_owned(), region))
        })
        .collect();
    let stores = AccountStores {
        account_id: account_id.to_owned(),
        config,
        buckets,
        lock_tables: Vec::new(),
    };
    let mut searched = search_account(&stores, known).await;
    searched.calls += pages.len() as u32;
    searched
}

/// The keys of a bucket if its first page holds a `*.tfstate` object (then every page), else the
/// first page's keys.
async fn probe(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    calls: &AtomicU32,
) -> Result<Vec<String>, UiError> {
    calls.fetch_add(1, Ordering::Relaxed);
    let first = client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| s3_error("s3:ListObjectsV2", bucket, aws_message(&e)))?;
    let mut keys: Vec<String> = first
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    if !keys.iter().any(|k| k.ends_with(".tfstate")) {
        return Ok(keys);
    }
    let mut token = first.next_continuation_token().map(str::to_owned);
    while let Some(t) = token.take() {
        calls.fetch_add(1, Ordering::Relaxed);
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .continuation_token(t)
            .send()
            .await
            .map_err(|e| s3_error("s3:ListObjectsV2", bucket, aws_message(&e)))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
    }
    Ok(keys)
}

/// Who holds the lock of a state: an item `LockID = <bucket>/<key>` (with `Info`) in one of `tables`,
/// or, when there is one, the `<key>.tflock` object beside it. A lock that cannot be read is reported
/// as not held (no lock file, `NoSuchKey`, is the usual answer).
async fn read_lock(
    config: &SdkConfig,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    tables: &[String],
    has_lockfile: bool,
    calls: &AtomicU32,
) -> Option<LockInfo> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let ddb = crate::client!(aws_sdk_dynamodb, config);
    for table in tables {
        calls.fetch_add(1, Ordering::Relaxed);
        let item = ddb
            .get_item()
            .table_name(table)
            .key("LockID", AttributeValue::S(format!("{bucket}/{key}")))
            .send()
            .await
            .ok()
            .and_then(|o| o.item);
        if let Some(AttributeValue::S(info)) = item.as_ref().and_then(|i| i.get("Info")) {
            return Some(lock_info("dynamodb", info.as_bytes()));
        }
    }
    if has_lockfile {
        calls.fetch_add(1, Ordering::Relaxed);
        let o = s3
            .get_object()
            .bucket(bucket)
            .key(format!("{key}.tflock"))
            .send()
            .await
            .ok()?;
        let body = o.body.collect().await.ok()?.into_bytes();
        return Some(lock_info("lockfile", &body));
    }
    None
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

/// Every workspace of an S3 backend (workspace → key): the default key and the workspace prefix are
/// listed at once.
async fn workspaces(
    client: &aws_sdk_s3::Client,
    backend: &S3Backend,
) -> Result<BTreeMap<String, String>, UiError> {
    let prefix = format!("{}/", backend.workspace_key_prefix);
    let (default, named) = futures::try_join!(
        list_keys(client, &backend.bucket, &backend.key),
        list_keys(client, &backend.bucket, &prefix)
    )?;
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    for key in default {
        if key == backend.key {
            keys.insert("default".to_owned(), key);
        }
    }
    for key in named {
        if let Some(ws) = backend.workspace_of(&key) {
            keys.insert(ws, key);
        }
    }
    Ok(keys)
}

/// Each workspace's state read and checked for a lock, [`STATES_AT_ONCE`] at a time.
async fn read_workspaces(
    config: &SdkConfig,
    backend: &S3Backend,
    keys: &BTreeMap<String, String>,
) -> Vec<LoadedState> {
    let client = crate::client!(aws_sdk_s3, config);
    let client = &client;
    let reads: Vec<_> = keys
        .iter()
        .map(|(ws, key)| async move {
            let (mut s, lock) = futures::join!(
                read_s3_state(client, &backend.bucket, key, ws.clone()),
                lock_of(config, client, backend, key)
            );
            s.summary.lock = lock;
            s
        })
        .collect();
    stream::iter(reads).buffered(STATES_AT_ONCE).collect().await
}

async fn read_s3_state(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    ws: String,
) -> LoadedState {
    let location = format!("s3://{bucket}/{key}");
    let mut etag = None;
    let bytes = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => {
            etag = o.e_tag.clone();
            o.body
                .collect()
                .await
                .map(|b| b.into_bytes())
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(aws_message(&e)),
    };
    let parsed = bytes
        .map_err(|message| StateError::Shape {
            source_name: location.clone(),
            message: format!("cannot read it: {message}"),
        })
        .and_then(|b| parse_state(&b, &location));
    let mut state = loaded(summary(location, ws), parsed);
    state.summary.etag = etag;
    state
}

/// Who holds the lock of `key` of the configured backend: its DynamoDB lock table or S3 lock file.
async fn lock_of(
    config: &SdkConfig,
    s3: &aws_sdk_s3::Client,
    backend: &S3Backend,
    key: &str,
) -> Option<LockInfo> {
    let tables: Vec<String> = backend.dynamodb_table.iter().cloned().collect();
    let calls = AtomicU32::new(0);
    read_lock(
        config,
        s3,
        &backend.bucket,
        key,
        &tables,
        backend.use_lockfile,
        &calls,
    )
    .await
}

/// Each object's `ETag` under `prefix` in `bucket` (`ListObjectsV2`, 1,000 a page): whether a
/// state changed since it was read, without reading it.
pub async fn etags(
    config: &SdkConfig,
    bucket: &str,
    prefix: &str,
) -> Result<std::collections::HashMap<String, String>, String> {
    let client = crate::client!(aws_sdk_s3, config);
    let mut out = std::collections::HashMap::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_message(&e))?;
        for o in page.contents() {
            if let (Some(k), Some(e)) = (o.key(), o.e_tag()) {
                out.insert(k.to_owned(), e.to_owned());
            }
        }
    }
    Ok(out)
}

/// A state whose location an earlier scan found, with what reading it again needs.
#[derive(Debug, Clone)]
pub struct KnownState {
    pub bucket: String,
    pub key: String,
    pub workspace: String,
    /// Credentials that read the bucket, in its region.
    pub config: SdkConfig,
    /// Lock tables to check (the backend's `dynamodb_table`, or the tables of the bucket's account).
    pub lock_tables: Vec<String>,
    /// Whether a `<key>.tflock` object may hold the lock.
    pub lockfile: bool,
}

/// Reads again states at known locations: no listing, no search (a refresh reads again only the
/// states of the stages that changed). Each costs its `GetObject` and its lock's read.
pub async fn read_known(states: Vec<KnownState>) -> Vec<LoadedState> {
    let reads: Vec<_> = states
        .into_iter()
        .map(|k| async move {
            let client = crate::client!(aws_sdk_s3, &k.config);
            let calls = AtomicU32::new(0);
            let (mut s, lock) = futures::join!(
                read_s3_state(&client, &k.bucket, &k.key, k.workspace.clone()),
                read_lock(
                    &k.config,
                    &client,
                    &k.bucket,
                    &k.key,
                    &k.lock_tables,
                    k.lockfile,
                    &calls
                )
            );
            s.summary.lock = lock;
            s
        })
        .collect();
    stream::iter(reads).buffered(STATES_AT_ONCE).collect().await
}

/// The credentials that read the configured backend (its profile, else the management profile's),
/// in its region.
pub async fn backend_config(
    env: &AwsEnv,
    backend: &S3Backend,
    mgmt: &SdkConfig,
    profiles: &BTreeSet<String>,
) -> SdkConfig {
    match &backend.profile {
        Some(p) if profiles.contains(p) => env.sdk_config(p, backend.region.as_deref()).await,
        _ => match &backend.region {
            Some(r) => aws::in_region(mgmt, r),
            None => mgmt.clone(),
        },
    }
}
