//! Publishing a snapshot to S3, beside the Terraform state a team already trusts, so one scan serves
//! the whole team: each table as gzipped JSON Lines, partitioned by account, a record per
//! publisher, and a manifest per generation written last.
//!
//! ```text
//! s3://bucket/prefix/data/table=<table>/run=<run>/account=<id>/part-0.jsonl.gz
//! s3://bucket/prefix/runs/<run>/shard-<i>-of-<n>.json
//! s3://bucket/prefix/generations/<generation, ten digits>.json
//! ```
//!
//! A publisher first writes its parts under a run of its own (no other publisher writes there) and
//! its record (the snapshot without its resources: accounts, states, services, coverage), then
//! claims the next generation by writing its manifest with `If-None-Match: *`: S3 refuses the
//! second of two publishers claiming one generation, which takes the next. A reader takes the
//! highest generation's manifest and reads only the objects it names, so a publisher stopped before
//! its manifest leaves the previous generation the visible one, and its parts are never read.
//!
//! A sharded scan (`--shard i/n`) shares one run: each shard writes its accounts' resources and
//! coverage and its record; [`assemble`] (on any machine) reads the n records, writes the tables
//! that need the whole organization (links, findings, deletions) and claims the generation.
//! The layout is Hive-style (`key=value` folders), as Athena and DuckDB read partitions.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::str::FromStr;

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::coverage::Shard;
use crate::model::{AccountStatus, Error, ScanReport};

/// The tables of a published snapshot, in the order they are written.
pub const TABLES: [&str; 5] = ["resources", "links", "findings", "deletions", "coverage"];

/// The manifest's format; a reader refuses a newer one, and an older one (1: no publisher records)
/// is published again.
pub const FORMAT: u32 = 2;

/// The tables a shard writes; the others need the whole organization and are written when the
/// shards are assembled.
pub const SHARD_TABLES: [&str; 2] = ["resources", "coverage"];

/// Where a snapshot is published: `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub bucket: String,
    /// Without a trailing `/`; may be empty.
    pub prefix: String,
}

impl FromStr for Destination {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let rest = s.strip_prefix("s3://").ok_or_else(|| {
            Error::Input(format!(
                "`{s}` is not an S3 location: write it as s3://bucket/prefix"
            ))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !valid {
            return Err(Error::Input(format!(
                "`{bucket}` in `{s}` is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
            )));
        }
        Ok(Destination {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

impl Destination {
    fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_owned()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }

    fn generations(&self) -> String {
        self.key("generations/")
    }

    fn record_key(&self, run: &str, shard: Shard) -> String {
        self.key(&format!(
            "runs/{run}/shard-{}-of-{}.json",
            shard.index, shard.count
        ))
    }
}

/// One object a manifest names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Part {
    pub key: String,
    pub table: String,
    pub account: String,
    pub rows: usize,
}

/// What one generation holds, who published it and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    pub generation: u64,
    /// The publisher's run: the folder its parts are under.
    pub run: String,
    pub organization_id: String,
    /// Who published it: the caller's identity (an ARN).
    pub published_by: String,
    /// RFC 3339.
    pub published_at: String,
    /// When the snapshot's scan started (RFC 3339).
    pub scanned_at: String,
    /// The publishers' records (one per shard), keys under the prefix's bucket.
    #[serde(default)]
    pub records: Vec<String>,
    /// Which key hashed the snapshot's values ([`stagecraft_model::ValueHasher::fingerprint`]):
    /// hashes compare only between snapshots hashed with one key.
    #[serde(default)]
    pub value_key: String,
    pub parts: Vec<Part>,
}

/// What one publisher (a whole scan, or one shard of it) wrote: its parts, and its snapshot
/// without the resources (those are the parts).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub format: u32,
    pub run: String,
    pub shard: Shard,
    pub published_by: String,
    pub published_at: String,
    pub value_key: String,
    pub parts: Vec<Part>,
    pub report: ScanReport,
}

impl Manifest {
    /// Rows per table.
    pub fn rows(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for p in &self.parts {
            *out.entry(p.table.clone()).or_default() += p.rows;
        }
        out
    }
}

/// Each table's rows, by account (`none` for a row no account holds), as gzipped parts in the
/// order the accounts first appear (a snapshot read back lists its resources as it did). A table's
/// rows are grouped by account first and each part compressed to its end before the next begins:
/// one compressor is open at a time (each holds some 300 KiB of state, and an organization of a
/// thousand accounts has thousands of parts), and what is held is the compressed parts, never
/// the rows as JSON.
pub fn tables(
    report: &ScanReport,
    gone: &[crate::deletion::GoneBucket],
    which: &[&str],
) -> Result<Vec<Gzipped>, Error> {
    let account_of: std::collections::HashMap<&str, &str> = report
        .resources
        .iter()
        .map(|r| (r.id.as_str(), r.account_id.as_str()))
        .collect();
    let of = |id: &str| account_of.get(id).copied().unwrap_or("none");
    let mut out: Vec<Gzipped> = Vec::new();
    let wanted = |t: &str| which.contains(&t);
    if wanted("resources") {
        by_account(
            &mut out,
            "resources",
            report.resources.iter().map(|r| (r.account_id.as_str(), r)),
        )?;
    }
    if wanted("links") || wanted("findings") {
        let graph = stagecraft_analysis::graph::Graph::build(report);
        if wanted("links") {
            by_account(&mut out, "links", graph.links().map(|l| (of(l.from), l)))?;
        }
        if wanted("findings") {
            let findings = stagecraft_analysis::audit::audit(report, &graph);
            by_account(
                &mut out,
                "findings",
                findings
                    .iter()
                    .map(|f| (f.resources.first().map_or("none", |id| of(id)), f)),
            )?;
        }
    }
    if wanted("deletions") {
        let pending = crate::deletion::pending(report, gone);
        by_account(
            &mut out,
            "deletions",
            pending.iter().map(|d| (d.account_id.as_str(), d)),
        )?;
    }
    if wanted("coverage") {
        by_account(
            &mut out,
            "coverage",
            report
                .coverage
                .accounts
                .iter()
                .map(|a| (a.account_id.as_str(), a)),
        )?;
    }
    Ok(out)
}

/// `rows` of `table` as one gzipped part per account, in the order the accounts first appear,
/// each finished before the next is begun; within an account the rows keep their order.
fn by_account<'a, T: Serialize>(
    out: &mut Vec<Gzipped>,
    table: &'static str,
    rows: impl Iterator<Item = (&'a str, T)>,
) -> Result<(), Error> {
    let mut accounts: Vec<&str> = Vec::new();
    let mut seat: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut rows: Vec<(usize, T)> = rows
        .map(|(account, row)| {
            let at = *seat.entry(account).or_insert_with(|| {
                accounts.push(account);
                accounts.len() - 1
            });
            (at, row)
        })
        .collect();
    rows.sort_by_key(|(at, _)| *at);
    let mut rows = rows.into_iter().peekable();
    while let Some((at, first)) = rows.next() {
        let mut lines = Lines::new();
        lines.push(&first)?;
        while let Some((_, row)) = rows.next_if(|(a, _)| *a == at) {
            lines.push(&row)?;
        }
        out.push(lines.gzipped(table, accounts[at])?);
    }
    Ok(())
}

/// A finished part: its table and account, its gzipped lines and how many rows they hold.
#[derive(Debug)]
pub struct Gzipped {
    pub table: &'static str,
    pub account: String,
    pub body: Vec<u8>,
    pub rows: usize,
}

/// A part being written: JSON Lines, gzipped row by row.
#[derive(Debug)]
pub struct Lines {
    gz: flate2::write::GzEncoder<Vec<u8>>,
    rows: usize,
}

impl Lines {
    fn new() -> Lines {
        Lines {
            gz: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()),
            rows: 0,
        }
    }

    fn push(&mut self, row: &impl Serialize) -> Result<(), Error> {
        serde_json::to_writer(&mut self.gz, row)
            .map_err(|e| Error::io("writing a row", std::io::Error::other(e)))?;
        self.end_row()
    }

    /// A row already written as JSON (the store keeps resources so).
    fn push_json(&mut self, row: &str) -> Result<(), Error> {
        self.gz
            .write_all(row.as_bytes())
            .map_err(|e| Error::io("compressing a part", e))?;
        self.end_row()
    }

    fn end_row(&mut self) -> Result<(), Error> {
        self.rows += 1;
        self.gz
            .write_all(b"\n")
            .map_err(|e| Error::io("compressing a part", e))
    }

    /// The rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The gzipped part.
    pub fn finish(self) -> Result<Vec<u8>, Error> {
        self.gz
            .finish()
            .map_err(|e| Error::io("compressing a part", e))
    }

    /// The gzipped part of `table` and `account`, with its row count.
    fn gzipped(self, table: &'static str, account: &str) -> Result<Gzipped, Error> {
        let rows = self.rows;
        Ok(Gzipped {
            table,
            account: account.to_owned(),
            body: self.finish()?,
            rows,
        })
    }
}

fn s3_error<'a>(operation: &'static str, dest: &'a Destination) -> impl Fn(String) -> Error + 'a {
    move |message| Error::Aws {
        operation,
        scope: dest.to_string(),
        message,
    }
}

/// A publisher's parts, written and not yet visible: [`Staged::commit`] makes them a generation.
#[derive(Debug)]
pub struct Staged {
    dest: Destination,
    manifest: Manifest,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A run of its own for a publisher: the time and a random part.
pub fn new_run() -> String {
    format!(
        "{}-{:016x}",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        fastrand::u64(..)
    )
}

/// Checks a run given by the user (a CI job's run id): it becomes a folder name.
pub fn check_run(run: &str) -> Result<(), Error> {
    let ok = !run.is_empty()
        && run.len() <= 128
        && run
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !run.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "`{run}` cannot name a run: use up to 128 letters, digits, `-`, `_` and `.` (in GitHub Actions, ${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}})"
        )))
    }
}

async fn put_parts(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    run: &str,
    tables: Vec<Gzipped>,
) -> Result<Vec<Part>, Error> {
    let mut parts = Vec::new();
    for part in tables {
        parts.push(
            put_part(
                s3,
                dest,
                run,
                (part.table, &part.account, 0),
                part.body,
                part.rows,
            )
            .await?,
        );
    }
    Ok(parts)
}

/// Writes one part: `(table, account, n)` names it (`part-<n>`), `body` is its gzipped lines.
async fn put_part(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    run: &str,
    (table, account, n): (&str, &str, usize),
    body: Vec<u8>,
    rows: usize,
) -> Result<Part, Error> {
    let key = dest.key(&format!(
        "data/table={table}/run={run}/account={account}/part-{n}.jsonl.gz"
    ));
    s3.put_object()
        .bucket(&dest.bucket)
        .key(&key)
        .content_type("application/gzip")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| s3_error("s3:PutObject", dest)(stagecraft_aws::sdk_error::aws_message(&e)))?;
    Ok(Part {
        key,
        table: table.to_owned(),
        account: account.to_owned(),
        rows,
    })
}

/// How many stored resources are read at once when a part is written from the store.
const PAGE: usize = 2_000;

/// One account's resources being gzipped as the store's rows come.
struct Pending {
    account: String,
    lines: Lines,
}

/// Writes the resources of stored snapshot `id` as parts, one per account, read from the store a
/// page at a time: what is held is a page and one account's compressed part. An account whose
/// rows are not together (a snapshot stored by an earlier Stagecraft) gets a part per run of them.
async fn put_stored_resources(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    run: &str,
    store: &stagecraft_store::Store,
    id: i64,
) -> Result<Vec<Part>, Error> {
    let mut parts = Vec::new();
    let mut written: BTreeMap<String, usize> = BTreeMap::new();
    let mut pending: Option<Pending> = None;
    let mut after = None;
    loop {
        let page = store.resource_rows(id, after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = Some(last.position);
        for row in page {
            if pending
                .as_ref()
                .is_some_and(|p| p.account != row.account_id)
            {
                if let Some(done) = pending.take() {
                    parts.push(finish_part(s3, dest, run, done, &mut written).await?);
                }
            }
            pending
                .get_or_insert_with(|| Pending {
                    account: row.account_id.clone(),
                    lines: Lines::new(),
                })
                .lines
                .push_json(&row.body)?;
        }
    }
    if let Some(done) = pending.take() {
        parts.push(finish_part(s3, dest, run, done, &mut written).await?);
    }
    Ok(parts)
}

async fn finish_part(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    run: &str,
    done: Pending,
    written: &mut BTreeMap<String, usize>,
) -> Result<Part, Error> {
    let n = written.entry(done.account.clone()).or_default();
    let gz = done.lines.gzipped("resources", &done.account)?;
    let part = put_part(
        s3,
        dest,
        run,
        ("resources", &done.account, *n),
        gz.body,
        gz.rows,
    )
    .await?;
    *n += 1;
    Ok(part)
}

/// The snapshot without its resources (a record holds them as parts); its stacks stay.
fn without_resources(report: &ScanReport) -> ScanReport {
    ScanReport {
        stacks: report.stacks.clone(),
        ..report.head_owned()
    }
}

/// Writes a publisher's record, never over another's.
async fn put_record(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    record: &Record,
) -> Result<String, Error> {
    let key = dest.record_key(&record.run, record.shard);
    let body = serde_json::to_vec(record)
        .map_err(|e| Error::io("writing the publisher's record", std::io::Error::other(e)))?;
    let put = s3
        .put_object()
        .bucket(&dest.bucket)
        .key(&key)
        .content_type("application/json")
        .if_none_match("*")
        .body(ByteStream::from(body))
        .send()
        .await;
    match put {
        Ok(_) => Ok(key),
        Err(e) if is_taken(&e) => Err(Error::Input(format!(
            "shard {} of run {} is already published at {dest}: a new scan takes a new --run",
            record.shard, record.run
        ))),
        Err(e) => Err(s3_error("s3:PutObject", dest)(
            stagecraft_aws::sdk_error::aws_message(&e),
        )),
    }
}

/// Who publishes.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// The caller's identity (an ARN).
    pub arn: String,
}

/// The fingerprint of the key that hashed the report's values; a snapshot that does not record it
/// compares with nothing.
fn value_key(report: &ScanReport) -> String {
    report
        .coverage
        .value_key
        .clone()
        .unwrap_or_else(|| "unrecorded".to_owned())
}

/// Writes `report`'s tables and its record under a run of their own at `dest`; nothing is
/// visible until [`Staged::commit`].
pub async fn stage(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    report: &ScanReport,
    gone: &[crate::deletion::GoneBucket],
    by: &Publisher,
) -> Result<Staged, Error> {
    if let Some(shard) = report.coverage.shard {
        return Err(Error::Input(format!(
            "this snapshot is shard {shard} of a scan: publish it with --run, then assemble the shards"
        )));
    }
    let run = new_run();
    let parts = put_parts(s3, dest, &run, tables(report, gone, &TABLES)?).await?;
    let record = Record {
        format: FORMAT,
        run: run.clone(),
        shard: Shard { index: 1, count: 1 },
        published_by: by.arn.clone(),
        published_at: rfc3339(time::OffsetDateTime::now_utc()),
        value_key: value_key(report),
        parts: parts.clone(),
        report: without_resources(report),
    };
    let key = put_record(s3, dest, &record).await?;
    Ok(Staged {
        dest: dest.clone(),
        manifest: Manifest {
            format: FORMAT,
            generation: 0,
            run,
            organization_id: report.organization.id.clone(),
            published_by: record.published_by,
            published_at: record.published_at,
            scanned_at: report.started_at.clone(),
            records: vec![key],
            value_key: record.value_key,
            parts,
        },
    })
}

/// Writes one shard's accounts (its resources and coverage) and its record under `run`, which
/// the other shards of the scan share. Visible once [`assemble`]d.
pub async fn stage_shard(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    run: &str,
    report: &ScanReport,
    by: &Publisher,
) -> Result<Record, Error> {
    check_run(run)?;
    let shard = report.coverage.shard.ok_or_else(|| {
        Error::Input("--run publishes one shard of a sharded scan: scan with --shard i/n".into())
    })?;
    let parts = put_parts(s3, dest, run, tables(report, &[], &SHARD_TABLES)?).await?;
    put_shard_record(s3, dest, run, shard, by, parts, without_resources(report)).await
}

/// [`stage_shard`] for a stored snapshot: its resources go from the store's rows to the parts an
/// account at a time, so a shard of any size is published without being held.
pub async fn stage_shard_stored(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    run: &str,
    store: &stagecraft_store::Store,
    id: i64,
    by: &Publisher,
) -> Result<Record, Error> {
    check_run(run)?;
    let mut head = store.load_head(id)?;
    let shard = head.coverage.shard.ok_or_else(|| {
        Error::Input(format!(
            "--run publishes one shard of a sharded scan, and snapshot {id} is not one: scan with --shard i/n"
        ))
    })?;
    head.stacks = store.load_stacks(id, &head)?;
    let mut parts = put_stored_resources(s3, dest, run, store, id).await?;
    parts.extend(put_parts(s3, dest, run, tables(&head, &[], &["coverage"])?).await?);
    put_shard_record(s3, dest, run, shard, by, parts, head).await
}

/// Writes a shard's record (the last of its objects), once its parts are written.
async fn put_shard_record(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    run: &str,
    shard: Shard,
    by: &Publisher,
    parts: Vec<Part>,
    head: ScanReport,
) -> Result<Record, Error> {
    let record = Record {
        format: FORMAT,
        run: run.to_owned(),
        shard,
        published_by: by.arn.clone(),
        published_at: rfc3339(time::OffsetDateTime::now_utc()),
        value_key: value_key(&head),
        parts,
        report: head,
    };
    put_record(s3, dest, &record).await?;
    Ok(record)
}

/// The records of `run`'s shards, all of them, or an error naming the missing ones.
pub async fn records(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    run: &str,
) -> Result<Vec<(String, Record)>, Error> {
    check_run(run)?;
    let keys = list_keys(s3, dest, &dest.key(&format!("runs/{run}/"))).await?;
    if keys.is_empty() {
        return Err(Error::Input(format!(
            "no shard of run {run} is published at {dest}: publish each shard with --run {run} first"
        )));
    }
    let mut out = Vec::new();
    for key in keys {
        out.push((key.clone(), read_record(s3, dest, &key).await?));
    }
    out.sort_by_key(|(_, r)| r.shard.index);
    let count = out[0].1.shard.count;
    if let Some((key, r)) = out.iter().find(|(_, r)| r.shard.count != count) {
        return Err(Error::Input(format!(
            "run {run} mixes shard counts ({count} and {}, in s3://{}/{key}): every shard of a run takes the same n in --shard i/n",
            r.shard.count, dest.bucket
        )));
    }
    let have: BTreeSet<u32> = out.iter().map(|(_, r)| r.shard.index).collect();
    let missing: Vec<String> = (1..=count)
        .filter(|i| !have.contains(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Input(format!(
            "run {run} at {dest} lacks shard(s) {}: assemble once every shard has published (a failed shard's job run again with the same --run)",
            missing.join(", ")
        )));
    }
    let org = &out[0].1.report.organization.id;
    if let Some((key, r)) = out.iter().find(|(_, r)| &r.report.organization.id != org) {
        return Err(Error::Input(format!(
            "run {run} mixes organizations ({org} and {}, in s3://{}/{key})",
            r.report.organization.id, dest.bucket
        )));
    }
    Ok(out)
}

async fn read_record(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    key: &str,
) -> Result<Record, Error> {
    read_json(s3, dest, key, "publisher's record", |r: &Record| r.format).await
}

/// A JSON document Stagecraft wrote at `key` (`what` names it in errors), refused when a newer
/// Stagecraft wrote it.
async fn read_json<T: serde::de::DeserializeOwned>(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    key: &str,
    what: &str,
    format: impl Fn(&T) -> u32,
) -> Result<T, Error> {
    let bytes = get(s3, dest, key).await?;
    let doc: T = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Input(format!(
            "s3://{}/{key} is not a Stagecraft {what} ({e}); publish again or choose another location",
            dest.bucket
        ))
    })?;
    if format(&doc) > FORMAT {
        return Err(Error::Input(format!(
            "s3://{}/{key} was published by a newer Stagecraft (format {}); update to read it",
            dest.bucket,
            format(&doc)
        )));
    }
    Ok(doc)
}

/// One snapshot from the records of a scan's shards (one record: that snapshot): each account as
/// the shard that scanned it saw it, each state once (instances unmatched only where no shard
/// matched them), the other shards' notes dropped. An account no shard scanned stays another
/// shard's, and the coverage says so.
pub fn merge(records: Vec<Record>) -> Result<ScanReport, Error> {
    let mut records = records.into_iter();
    let first = records
        .next()
        .ok_or_else(|| Error::Input("no publisher's record to read".into()))?;
    let scanned_stages = |r: &ScanReport| -> BTreeSet<String> {
        r.accounts
            .iter()
            .filter(|a| a.status != AccountStatus::OtherShard)
            .filter_map(|a| a.stage.clone())
            .collect()
    };
    let drop_note = |r: &mut ScanReport| {
        if let Some(shard) = r.coverage.shard.take() {
            let others = r
                .accounts
                .iter()
                .filter(|a| a.status == AccountStatus::OtherShard)
                .count();
            let note = shard.note(others);
            r.coverage.skipped.retain(|l| *l != note);
        }
    };
    let mut out = first.report;
    drop_note(&mut out);
    for record in records {
        let mut other = record.report;
        drop_note(&mut other);
        if other.organization.id != out.organization.id {
            return Err(Error::Input(format!(
                "the records are of two organizations ({} and {})",
                out.organization.id, other.organization.id
            )));
        }
        let stages = scanned_stages(&other);
        for a in other.accounts {
            if a.status == AccountStatus::OtherShard {
                continue;
            }
            match out.accounts.iter_mut().find(|x| x.id == a.id) {
                Some(slot) => *slot = a,
                None => out.accounts.push(a),
            }
        }
        out.stacks.extend(other.stacks);
        for t in other.terraform {
            match out.terraform.iter_mut().find(|x| x.location == t.location) {
                Some(x) => {
                    let unmatched: Vec<String> = x
                        .unmatched
                        .iter()
                        .filter(|u| t.unmatched.contains(u))
                        .cloned()
                        .collect();
                    // A shard that could read the state wins over one that could not.
                    if x.error.is_some() && t.error.is_none() {
                        *x = t;
                    } else if x.lock.is_none() {
                        x.lock = t.lock;
                    }
                    x.unmatched = unmatched;
                }
                None => out.terraform.push(t),
            }
        }
        // A service as the shard that scanned its stage's account resolved it (the values it
        // was deployed with come from that account).
        for svc in other.services {
            let here = stages.contains(&svc.stage);
            match out
                .services
                .iter_mut()
                .find(|x| x.path == svc.path && x.stage == svc.stage)
            {
                Some(slot) if here => *slot = svc,
                Some(_) => {}
                None => out.services.push(svc),
            }
        }
        for w in other.warnings {
            if !out.warnings.iter().any(|x| x.message == w.message) {
                out.warnings.push(w);
            }
        }
        let c = other.coverage;
        out.coverage.accounts.extend(c.accounts);
        for l in c.left_out {
            if !out.coverage.left_out.contains(&l) {
                out.coverage.left_out.push(l);
            }
        }
        for l in c.skipped {
            if !out.coverage.skipped.contains(&l) {
                out.coverage.skipped.push(l);
            }
        }
        out.coverage.partial |= c.partial;
        if c.no_state.is_none() {
            out.coverage.no_state = None;
        }
        out.changes.extend(other.changes);
        out.feed.extend(other.feed);
        for r in other.regions {
            if !out.regions.contains(&r) {
                out.regions.push(r);
            }
        }
        out.started_at = out.started_at.clone().min(other.started_at);
        out.duration_ms = out.duration_ms.max(other.duration_ms);
    }
    let unscanned: Vec<&str> = out
        .accounts
        .iter()
        .filter(|a| a.status == AccountStatus::OtherShard)
        .map(|a| a.id.as_str())
        .collect();
    if !unscanned.is_empty() {
        let line = format!(
            "{} account(s) were scanned by no shard ({}): they joined the organization while the shards ran, or a shard is missing; scan again",
            unscanned.len(),
            unscanned.join(", ")
        );
        out.coverage.skipped.push(line);
        out.coverage.partial = true;
    }
    out.coverage.state.states_read = out.terraform.len() as u32;
    Ok(out)
}

/// The resources the parts hold, each id once: as one scan keeps the first account's copy of a
/// resource two accounts report (an API Gateway custom domain both API versions list), the first
/// shard's is kept.
async fn read_resources(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    parts: &[Part],
) -> Result<Vec<stagecraft_model::Resource>, Error> {
    // Room for what the parts say they hold, made once: grown by doubling, the list of a
    // thousand accounts' resources would hold up to 70 MiB it never uses. The count is the
    // manifest's word, so it only sizes the room, within reason; the rows read decide.
    let said = parts
        .iter()
        .filter(|p| p.table == "resources")
        .map(|p| p.rows)
        .fold(0usize, usize::saturating_add);
    let mut out: Vec<stagecraft_model::Resource> = Vec::new();
    let _ = out.try_reserve_exact(said.min(ROOM_AT_MOST));
    for part in parts.iter().filter(|p| p.table == "resources") {
        out.extend(read_part::<stagecraft_model::Resource>(s3, dest, part, "a resource").await?);
    }
    // The first of each id, found by borrowing the ids rather than copying them (a copy of every
    // id is tens of megabytes at a thousand accounts).
    let first: Vec<bool> = {
        let mut seen = std::collections::HashSet::with_capacity(out.len());
        out.iter().map(|r| seen.insert(r.id.as_str())).collect()
    };
    let mut first = first.into_iter();
    out.retain(|_| first.next().unwrap_or(true));
    Ok(out)
}

/// The most resources a generation's parts are taken at their word for when reading them.
const ROOM_AT_MOST: usize = 4_000_000;

/// Assembles the shards of `run` into one generation: their records merged, the tables that need
/// the whole organization (links, findings, deletions) written, the generation claimed.
pub async fn assemble(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    run: &str,
    by: &str,
    gone: &[crate::deletion::GoneBucket],
) -> Result<Manifest, Error> {
    let records = records(s3, dest, run).await?;
    let value_key = records[0].1.value_key.clone();
    if let Some((key, _)) = records.iter().find(|(_, r)| r.value_key != value_key) {
        return Err(Error::Input(format!(
            "the shards of run {run} hashed values with different keys (s3://{}/{key}): their hashes \
             would not compare; give every shard one store (or one shared key) and scan again",
            dest.bucket
        )));
    }
    let shard_parts: Vec<Part> = records
        .iter()
        .flat_map(|(_, r)| r.parts.iter().cloned())
        .collect();
    let keys: Vec<String> = records.iter().map(|(k, _)| k.clone()).collect();
    let mut report = merge(records.into_iter().map(|(_, r)| r).collect())?;
    report.resources = read_resources(s3, dest, &shard_parts).await?;
    let whole: Vec<&str> = TABLES
        .iter()
        .copied()
        .filter(|t| !SHARD_TABLES.contains(t))
        .collect();
    let mut parts = shard_parts;
    parts.extend(put_parts(s3, dest, run, tables(&report, gone, &whole)?).await?);
    Staged {
        dest: dest.clone(),
        manifest: Manifest {
            format: FORMAT,
            generation: 0,
            run: run.to_owned(),
            organization_id: report.organization.id.clone(),
            published_by: by.to_owned(),
            published_at: rfc3339(time::OffsetDateTime::now_utc()),
            scanned_at: report.started_at.clone(),
            records: keys,
            value_key,
            parts,
        },
    }
    .commit(s3)
    .await
}

/// The snapshot a generation holds (the newest when `generation` is `None`), with its manifest;
/// `None` when nothing is published at `dest`.
pub async fn open(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    generation: Option<u64>,
) -> Result<Option<(Manifest, ScanReport)>, Error> {
    let manifest = match generation {
        Some(g) => Some(read_manifest(s3, dest, g).await?),
        None => latest(s3, dest).await?,
    };
    let Some(manifest) = manifest else {
        return Ok(None);
    };
    if manifest.records.is_empty() {
        return Err(Error::Input(format!(
            "generation {} at {dest} was published by an earlier Stagecraft (format {}) without the publisher's records: publish again",
            manifest.generation, manifest.format
        )));
    }
    let mut records = Vec::new();
    for key in &manifest.records {
        records.push(read_record(s3, dest, key).await?);
    }
    let mut report = merge(records)?;
    report.resources = read_resources(s3, dest, &manifest.parts).await?;
    Ok(Some((manifest, report)))
}

/// Publishes `report` at `dest` as `profile` (its identity is recorded as the publisher): the parts
/// and record, then the next generation's manifest. A shard's report goes under `run`, to be
/// assembled with the others ([`Published::Shard`]).
pub async fn publish(
    env: &crate::aws::AwsEnv,
    profile: &str,
    dest: &Destination,
    report: &ScanReport,
    gone: &[crate::deletion::GoneBucket],
    run: Option<&str>,
) -> Result<Published, Error> {
    let (s3, arn) = writer(env, profile).await?;
    let by = Publisher { arn };
    match (run, report.coverage.shard) {
        (Some(run), Some(_)) => Ok(Published::Shard(
            Box::new(stage_shard(&s3, dest, run, report, &by).await?),
        )),
        (Some(_), None) => Err(Error::Input(
            "--run publishes one shard of a sharded scan: scan with --shard i/n, or publish without --run".into(),
        )),
        (None, Some(shard)) => Err(Error::Input(format!(
            "shard {shard} is one part of a scan: publish it with --run <id shared by every shard>, then assemble them"
        ))),
        (None, None) => Ok(Published::Generation(
            stage(&s3, dest, report, gone, &by).await?.commit(&s3).await?,
        )),
    }
}

/// What [`publish`] did.
#[derive(Debug)]
pub enum Published {
    /// A generation, visible now.
    Generation(Manifest),
    /// A shard's part, visible once the shards are assembled.
    Shard(Box<Record>),
}

/// An S3 client for `profile`, and who it is.
pub async fn writer(
    env: &crate::aws::AwsEnv,
    profile: &str,
) -> Result<(aws_sdk_s3::Client, String), Error> {
    env.require_profile(profile).await?;
    let config = env.sdk_config(profile, None).await;
    let me = crate::aws::caller_identity(&config)
        .await
        .map_err(|message| Error::Aws {
            operation: "sts:GetCallerIdentity",
            scope: format!("the profile `{profile}`"),
            message,
        })?;
    Ok((aws_sdk_s3::Client::new(&config), me.arn))
}

/// How many times a publisher that lost a generation to another tries the next one.
const CLAIMS: u64 = 8;

impl Staged {
    /// Claims the next generation with the manifest, written only if no manifest of that
    /// generation exists (`If-None-Match: *`); a generation another publisher took first is
    /// skipped for the next.
    pub async fn commit(mut self, s3: &aws_sdk_s3::Client) -> Result<Manifest, Error> {
        let mut generation = newest(s3, &self.dest).await?.map_or(1, |g| g + 1);
        for _ in 0..CLAIMS {
            self.manifest.generation = generation;
            let body = serde_json::to_vec_pretty(&self.manifest)
                .map_err(|e| Error::io("writing the manifest", std::io::Error::other(e)))?;
            let put = s3
                .put_object()
                .bucket(&self.dest.bucket)
                .key(manifest_key(&self.dest, generation))
                .content_type("application/json")
                .if_none_match("*")
                .body(ByteStream::from(body))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(self.manifest),
                Err(e) if is_taken(&e) => generation += 1,
                Err(e) => {
                    return Err(s3_error("s3:PutObject", &self.dest)(
                        stagecraft_aws::sdk_error::aws_message(&e),
                    ))
                }
            }
        }
        Err(Error::Input(format!(
            "other publishers took {CLAIMS} generations in a row at {} while this one tried to claim one; publish again",
            self.dest
        )))
    }
}

/// Whether S3 refused a conditional write because the object exists (412, or 409 when another
/// conditional write to the key is in flight).
fn is_taken<E>(e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>) -> bool {
    e.raw_response()
        .is_some_and(|r| matches!(r.status().as_u16(), 409 | 412))
}

fn manifest_key(dest: &Destination, generation: u64) -> String {
    dest.key(&format!("generations/{generation:010}.json"))
}

/// The highest generation published at `dest`.
pub async fn newest(s3: &aws_sdk_s3::Client, dest: &Destination) -> Result<Option<u64>, Error> {
    Ok(list_keys(s3, dest, &dest.generations())
        .await?
        .iter()
        .filter_map(|k| {
            k.rsplit('/')
                .next()
                .and_then(|name| name.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .max())
}

/// Every key under `prefix` in the destination's bucket.
async fn list_keys(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    prefix: &str,
) -> Result<Vec<String>, Error> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(&dest.bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            s3_error("s3:ListObjectsV2", dest)(stagecraft_aws::sdk_error::aws_message(&e))
        })?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    Ok(keys)
}

/// The newest generation's manifest at `dest`, or `None` when nothing is published there.
pub async fn latest(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
) -> Result<Option<Manifest>, Error> {
    let Some(generation) = newest(s3, dest).await? else {
        return Ok(None);
    };
    read_manifest(s3, dest, generation).await.map(Some)
}

/// The manifest of one generation at `dest`.
pub async fn read_manifest(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    generation: u64,
) -> Result<Manifest, Error> {
    let key = manifest_key(dest, generation);
    read_json(s3, dest, &key, "manifest", |m: &Manifest| m.format).await
}

async fn get(s3: &aws_sdk_s3::Client, dest: &Destination, key: &str) -> Result<Vec<u8>, Error> {
    let object = s3
        .get_object()
        .bucket(&dest.bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| s3_error("s3:GetObject", dest)(stagecraft_aws::sdk_error::aws_message(&e)))?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| s3_error("s3:GetObject", dest)(e.to_string()))?;
    Ok(bytes.into_bytes().to_vec())
}

/// Every row of `table` in the generation `manifest` describes.
pub async fn read_table(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    manifest: &Manifest,
    table: &str,
) -> Result<Vec<Value>, Error> {
    let mut rows = Vec::new();
    for part in manifest.parts.iter().filter(|p| p.table == table) {
        rows.extend(read_part(s3, dest, part, "JSON").await?);
    }
    Ok(rows)
}

/// A part's rows, each read as a `T`.
async fn read_part<T: serde::de::DeserializeOwned>(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    part: &Part,
    what: &str,
) -> Result<Vec<T>, Error> {
    let gz = get(s3, dest, &part.key).await?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_string(&mut text)
        .map_err(|e| {
            Error::Input(format!(
                "s3://{}/{} is not gzipped JSON Lines ({e})",
                dest.bucket, part.key
            ))
        })?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        rows.push(serde_json::from_str(line).map_err(|e| {
            Error::Input(format!(
                "s3://{}/{} line {}: not {what} ({e})",
                dest.bucket,
                part.key,
                n + 1
            ))
        })?);
    }
    Ok(rows)
}

fn key_key(dest: &Destination) -> String {
    dest.key("keys/value-hash.key")
}

/// Shares the key that hashes values at `dest` (only when the user says so).
pub async fn share_key(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    key: &[u8; 32],
) -> Result<(), Error> {
    s3.put_object()
        .bucket(&dest.bucket)
        .key(key_key(dest))
        .content_type("text/plain")
        .body(ByteStream::from(
            stagecraft_model::hash::key_hex(key).into_bytes(),
        ))
        .send()
        .await
        .map_err(|e| s3_error("s3:PutObject", dest)(stagecraft_aws::sdk_error::aws_message(&e)))?;
    Ok(())
}

/// The key shared at `dest`.
pub async fn shared_key(s3: &aws_sdk_s3::Client, dest: &Destination) -> Result<[u8; 32], Error> {
    let key = key_key(dest);
    let bytes = get(s3, dest, &key).await.map_err(|e| {
        Error::Input(format!(
            "no hash key is shared at {dest} ({e}): the publisher shares one with `stagecraft publish --share-hash-key`"
        ))
    })?;
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(stagecraft_model::hash::parse_key)
        .ok_or_else(|| {
            Error::Input(format!(
                "s3://{}/{key} is not a hash key (64 hex digits); publish again with --share-hash-key",
                dest.bucket
            ))
        })
}

/// A team snapshot opened read-only: the generation, who published it and when, the snapshot, and
/// how it differs from the local one.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct TeamSnapshot {
    /// `s3://bucket/prefix`.
    pub location: String,
    #[ts(type = "number")]
    pub generation: u64,
    pub published_by: String,
    pub published_at: String,
    pub scanned_at: String,
    /// How many shards the scan was (1: one machine scanned it all).
    pub shards: u32,
    pub report: ScanReport,
    /// Against the latest local snapshot of the organization, when there is one.
    pub comparison: Option<TeamComparison>,
}

/// The local snapshot against the team's: `diff` reads from local to team (`added` is what the
/// team's has and the local one does not).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct TeamComparison {
    #[ts(type = "number")]
    pub local_id: i64,
    pub local_started_at: String,
    pub diff: stagecraft_store::SnapshotDiff,
    /// Whether both were hashed with one key; when not, value hashes cannot show a difference.
    pub hashes_comparable: bool,
    /// Differences in hashed values left out because the keys differ.
    pub hash_changes_left_out: u32,
}

/// Whether two values differ in hashed values only (`sha256:…` strings, at any depth: a
/// function's environment is a map of them), which keys that differ cannot compare.
fn differ_in_hashes_only(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            x == y || (x.starts_with("sha256:") && y.starts_with("sha256:"))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| differ_in_hashes_only(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| differ_in_hashes_only(v, w))
        }
        _ => a == b,
    }
}

/// The local snapshot against the team's.
pub fn compare(local: &ScanReport, local_id: i64, team: &ScanReport) -> TeamComparison {
    let mut diff = stagecraft_store::diff(local, team, Some(local_id), None);
    let comparable =
        local.coverage.value_key.is_some() && local.coverage.value_key == team.coverage.value_key;
    let mut left_out = 0u32;
    if !comparable {
        for c in &mut diff.changed {
            let before = c.changes.len();
            c.changes.retain(|f| match (&f.before, &f.after) {
                (Some(a), Some(b)) => !differ_in_hashes_only(a, b),
                _ => true,
            });
            left_out += (before - c.changes.len()) as u32;
        }
        diff.changed.retain(|c| !c.changes.is_empty());
    }
    TeamComparison {
        local_id,
        local_started_at: local.started_at.clone(),
        diff,
        hashes_comparable: comparable,
        hash_changes_left_out: left_out,
    }
}

/// The latest snapshot of an organization in the store at `path`, with its id: the local side of
/// [`open_team`]'s comparison (`None` when the store cannot be read or holds none).
pub fn latest_local(path: std::path::PathBuf) -> impl FnOnce(&str) -> Option<(ScanReport, i64)> {
    move |organization| {
        let store = stagecraft_store::Store::open(&path).ok()?;
        let id = store.latest_id_in(Some(organization)).ok()??;
        Some((store.load(id).ok()?, id))
    }
}

/// Opens the team snapshot at `dest` (the newest generation unless one is given) and compares it
/// with what `local` gives for its organization: the latest local snapshot and its id.
pub async fn open_team(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    generation: Option<u64>,
    local: impl FnOnce(&str) -> Option<(ScanReport, i64)>,
) -> Result<Option<TeamSnapshot>, Error> {
    let Some((manifest, report)) = open(s3, dest, generation).await? else {
        return Ok(None);
    };
    let comparison = local(&report.organization.id)
        .filter(|(l, _)| l.organization.id == report.organization.id)
        .map(|(l, id)| compare(&l, id, &report));
    Ok(Some(TeamSnapshot {
        location: dest.to_string(),
        generation: manifest.generation,
        published_by: manifest.published_by,
        published_at: manifest.published_at,
        scanned_at: manifest.scanned_at,
        shards: manifest.records.len() as u32,
        report,
        comparison,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_is_read_from_an_s3_url_and_a_wrong_one_says_how_to_write_it() {
        let d: Destination = "s3://team-state/stagecraft/".parse().expect("valid");
        assert_eq!(d.bucket, "team-state");
        assert_eq!(d.prefix, "stagecraft");
        assert_eq!(
            manifest_key(&d, 7),
            "stagecraft/generations/0000000007.json"
        );
        let bare: Destination = "s3://team-state".parse().expect("valid");
        assert_eq!(bare.generations(), "generations/");
        for bad in ["team-state/x", "s3://", "s3://Team_State/x", "https://x/y"] {
            let e = bad.parse::<Destination>().expect_err(bad).to_string();
            assert!(e.contains("s3://"), "{bad}: {e}");
        }
    }

    #[test]
    fn hashes_under_another_key_are_no_difference_and_anything_else_is() {
        let a = serde_json::json!({"DB": "sha256:aa", "STAGE": "dev"});
        let b = serde_json::json!({"DB": "sha256:bb", "STAGE": "dev"});
        assert!(differ_in_hashes_only(&a, &b));
        let c = serde_json::json!({"DB": "sha256:bb", "STAGE": "qa"});
        assert!(!differ_in_hashes_only(&a, &c));
        let d = serde_json::json!({"DB": "sha256:bb", "STAGE": "dev", "NEW": "x"});
        assert!(!differ_in_hashes_only(&a, &d));
        assert!(differ_in_hashes_only(
            &serde_json::json!("sha256:1"),
            &serde_json::json!("sha256:2")
        ));
        assert!(!differ_in_hashes_only(
            &serde_json::json!("python3.12"),
            &serde_json::json!("python3.13")
        ));
    }

    #[test]
    fn parts_are_gzipped_json_lines() {
        let mut lines = Lines::new();
        lines.push(&serde_json::json!({"a": 1})).expect("row");
        lines.push(&serde_json::json!({"b": "x\ny"})).expect("row");
        assert_eq!(lines.rows(), 2);
        let gz = lines.finish().expect("gzip");
        let mut text = String::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_string(&mut text)
            .expect("gunzip");
        assert_eq!(text, "{\"a\":1}\n{\"b\":\"x\\ny\"}\n");
    }
}
