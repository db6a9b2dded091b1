//! Publishing a snapshot to S3, beside the Terraform state a team already trusts, so one scan serves
//! the whole team: each table as gzipped JSON Lines, partitioned by account, and a manifest per
//! generation written last.
//!
//! ```text
//! s3://bucket/prefix/data/table=<table>/run=<run>/account=<id>/part-0.jsonl.gz
//! s3://bucket/prefix/generations/<generation, ten digits>.json
//! ```
//!
//! A publisher first writes its parts under a run of its own (no other publisher writes there), then
//! claims the next generation by writing its manifest with `If-None-Match: *`: S3 refuses the
//! second of two publishers claiming one generation, which takes the next. A reader takes the
//! highest generation's manifest and reads only the objects it names, so a publisher stopped before
//! its manifest leaves the previous generation the visible one, and its parts are never read.
//! The layout is Hive-style (`key=value` folders), as Athena and DuckDB read partitions.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::str::FromStr;

use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Error, ScanReport};

/// The tables of a published snapshot, in the order they are written.
pub const TABLES: [&str; 5] = ["resources", "links", "findings", "deletions", "coverage"];

/// The manifest's format; a reader refuses a newer one.
pub const FORMAT: u32 = 1;

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
    pub parts: Vec<Part>,
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

/// Each table's rows, by account (`none` for a row no account holds).
pub fn tables(
    report: &ScanReport,
    gone: &[crate::deletion::GoneBucket],
) -> Result<BTreeMap<(&'static str, String), Vec<Value>>, Error> {
    let json = |v: &dyn erased::Ser| {
        v.to_value()
            .map_err(|e| Error::io("writing a row as JSON", std::io::Error::other(e)))
    };
    let account_of: BTreeMap<&str, &str> = report
        .resources
        .iter()
        .map(|r| (r.id.as_str(), r.account_id.as_str()))
        .collect();
    let of = |id: &str| account_of.get(id).copied().unwrap_or("none").to_owned();
    let mut out: BTreeMap<(&'static str, String), Vec<Value>> = BTreeMap::new();
    for r in &report.resources {
        out.entry(("resources", r.account_id.clone()))
            .or_default()
            .push(json(r)?);
    }
    let graph = stagecraft_analysis::graph::Graph::build(report);
    for l in graph.links() {
        out.entry(("links", of(&l.from)))
            .or_default()
            .push(json(l)?);
    }
    for f in stagecraft_analysis::audit::audit(report, &graph) {
        let account = f
            .resources
            .first()
            .map(|id| of(id))
            .unwrap_or_else(|| "none".into());
        out.entry(("findings", account))
            .or_default()
            .push(json(&f)?);
    }
    for d in crate::deletion::pending(report, gone) {
        out.entry(("deletions", d.account_id.clone()))
            .or_default()
            .push(json(&d)?);
    }
    for a in &report.coverage.accounts {
        out.entry(("coverage", a.account_id.clone()))
            .or_default()
            .push(json(a)?);
    }
    Ok(out)
}

/// Serialising rows of any table through one closure.
mod erased {
    pub trait Ser {
        fn to_value(&self) -> Result<serde_json::Value, serde_json::Error>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
            serde_json::to_value(self)
        }
    }
}

fn gzip_lines(rows: &[Value]) -> Result<Vec<u8>, Error> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for row in rows {
        serde_json::to_writer(&mut gz, row)
            .map_err(|e| Error::io("writing a row", std::io::Error::other(e)))?;
        gz.write_all(b"\n")
            .map_err(|e| Error::io("compressing a part", e))?;
    }
    gz.finish().map_err(|e| Error::io("compressing a part", e))
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

/// Writes `report`'s tables under a run of their own at `dest`; nothing is visible until
/// [`Staged::commit`].
pub async fn stage(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
    report: &ScanReport,
    gone: &[crate::deletion::GoneBucket],
    published_by: &str,
) -> Result<Staged, Error> {
    let now = time::OffsetDateTime::now_utc();
    let run = format!("{}-{:016x}", now.unix_timestamp(), fastrand::u64(..));
    let mut parts = Vec::new();
    for ((table, account), rows) in tables(report, gone)? {
        let key = dest.key(&format!(
            "data/table={table}/run={run}/account={account}/part-0.jsonl.gz"
        ));
        let body = gzip_lines(&rows)?;
        s3.put_object()
            .bucket(&dest.bucket)
            .key(&key)
            .content_type("application/gzip")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| {
                s3_error("s3:PutObject", dest)(stagecraft_aws::sdk_error::aws_message(&e))
            })?;
        parts.push(Part {
            key,
            table: table.to_owned(),
            account,
            rows: rows.len(),
        });
    }
    Ok(Staged {
        dest: dest.clone(),
        manifest: Manifest {
            format: FORMAT,
            generation: 0,
            run,
            organization_id: report.organization.id.clone(),
            published_by: published_by.to_owned(),
            published_at: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            scanned_at: report.started_at.clone(),
            parts,
        },
    })
}

/// Publishes `report` at `dest` as `profile` (its identity is recorded as the publisher): the parts,
/// then the next generation's manifest.
pub async fn publish(
    env: &crate::aws::AwsEnv,
    profile: &str,
    dest: &Destination,
    report: &ScanReport,
    gone: &[crate::deletion::GoneBucket],
) -> Result<Manifest, Error> {
    env.require_profile(profile).await?;
    let config = env.sdk_config(profile, None).await;
    let me = crate::aws::caller_identity(&config)
        .await
        .map_err(|message| Error::Aws {
            operation: "sts:GetCallerIdentity",
            scope: format!("the profile `{profile}`"),
            message,
        })?;
    let s3 = aws_sdk_s3::Client::new(&config);
    stage(&s3, dest, report, gone, &me.arn)
        .await?
        .commit(&s3)
        .await
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
    let mut pages = s3
        .list_objects_v2()
        .bucket(&dest.bucket)
        .prefix(dest.generations())
        .into_paginator()
        .send();
    let mut newest = None;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            s3_error("s3:ListObjectsV2", dest)(stagecraft_aws::sdk_error::aws_message(&e))
        })?;
        for o in page.contents() {
            let n = o
                .key()
                .and_then(|k| k.rsplit('/').next())
                .and_then(|name| name.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok());
            newest = newest.max(n);
        }
    }
    Ok(newest)
}

/// The newest generation's manifest at `dest`, or `None` when nothing is published there.
pub async fn latest(
    s3: &aws_sdk_s3::Client,
    dest: &Destination,
) -> Result<Option<Manifest>, Error> {
    let Some(generation) = newest(s3, dest).await? else {
        return Ok(None);
    };
    let key = manifest_key(dest, generation);
    let bytes = get(s3, dest, &key).await?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        Error::Input(format!(
            "s3://{}/{key} is not a Stagecraft manifest ({e}); publish again or choose another location",
            dest.bucket
        ))
    })?;
    if manifest.format > FORMAT {
        return Err(Error::Input(format!(
            "s3://{}/{key} was published by a newer Stagecraft (format {}); update to read it",
            dest.bucket, manifest.format
        )));
    }
    Ok(Some(manifest))
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
        for (n, line) in text.lines().enumerate() {
            rows.push(serde_json::from_str(line).map_err(|e| {
                Error::Input(format!(
                    "s3://{}/{} line {}: {e}",
                    dest.bucket,
                    part.key,
                    n + 1
                ))
            })?);
        }
    }
    Ok(rows)
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
    fn parts_are_gzipped_json_lines() {
        let rows = vec![
            serde_json::json!({"a": 1}),
            serde_json::json!({"b": "x\ny"}),
        ];
        let gz = gzip_lines(&rows).expect("gzip");
        let mut text = String::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_string(&mut text)
            .expect("gunzip");
        assert_eq!(text, "{\"a\":1}\n{\"b\":\"x\\ny\"}\n");
    }
}
