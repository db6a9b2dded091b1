//! What is waiting out a deletion window across the organization, and the names it blocks.
//!
//! Secrets Manager keeps a deleted secret 7–30 days (its name cannot be reused meanwhile), KMS keys
//! wait 7–30 days, a stack can stick in `DELETE_FAILED`, a deleted bucket's name stays unavailable for
//! a while. Each pending deletion is matched against the names Terraform code and `serverless.yml`
//! will create in that stage ([`declared`]): a match is a deploy that will fail.

pub mod actions;
pub mod declared;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use ts_rs::TS;

use crate::model::{AccountStatus, Owner, Resource, ScanReport};
pub use declared::DeclaredName;

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
}

impl PendingDeletion {
    /// The entry for resource `r`, before its blockers are known.
    fn of(
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

/// Buckets the snapshots of the last [`GONE_BUCKET_DAYS`] saw (what [`pending`] checks for
/// "deleted recently").
pub fn recently_seen_buckets(
    store: &crate::store::Store,
) -> Result<Vec<GoneBucket>, crate::store::StoreError> {
    let cutoff = (OffsetDateTime::now_utc() - time::Duration::days(GONE_BUCKET_DAYS))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    store.buckets_seen_since(&cutoff)
}

fn day(date: &str) -> String {
    date.get(..16)
        .map(|d| d.replace('T', " "))
        .unwrap_or_else(|| date.to_owned())
        + " UTC"
}

/// "6 days 23 hours" until `date`, or "any moment now" once it has passed.
pub fn time_left(date: &str, now: OffsetDateTime) -> String {
    let Ok(at) = OffsetDateTime::parse(date, &time::format_description::well_known::Rfc3339) else {
        return "unknown".into();
    };
    let secs = (at - now).whole_seconds();
    if secs <= 0 {
        return "any moment now".into();
    }
    let (d, h, m) = (secs / 86_400, (secs % 86_400) / 3600, (secs % 3600) / 60);
    match (d, h) {
        (0, 0) => format!("{m} minutes"),
        (0, h) => format!("{h} hours {m} minutes"),
        (d, h) => format!("{d} days {h} hours"),
    }
}

/// Everything pending deletion in `report` (and buckets earlier snapshots saw that are gone), with the
/// names each blocks. Soonest first; undated ones last.
pub fn pending(report: &ScanReport, gone: &[GoneBucket]) -> Vec<PendingDeletion> {
    let mut out = Vec::new();
    for r in &report.resources {
        let item =
            |deletion_date: Option<&str>, state: &str, detail: String, action: Option<&str>| {
                PendingDeletion::of(r, deletion_date, state, detail, action)
            };
        match r.type_name.as_str() {
            "AWS::SecretsManager::Secret" => {
                if let Some(date) = r.attr_str("deleted_date") {
                    out.push(item(
                        Some(date),
                        "scheduled",
                        format!(
                            "deleted, recoverable until {}; its name cannot be reused until then",
                            day(date)
                        ),
                        Some("restore_secret"),
                    ));
                }
            }
            "AWS::KMS::Key" if r.attr_str("key_state") == Some("PendingDeletion") => {
                let date = r.attr_str("deletion_date");
                out.push(item(
                    date,
                    "scheduled",
                    format!(
                        "scheduled for deletion{}; what it encrypted becomes unreadable then",
                        date.map(|d| format!(" on {}", day(d))).unwrap_or_default()
                    ),
                    Some("cancel_key_deletion"),
                ));
            }
            crate::collect::cloudformation::STACK_TYPE => {
                let status = r.attr_str("status").unwrap_or_default();
                if status == "DELETE_FAILED" || status == "DELETE_IN_PROGRESS" {
                    let stuck = report
                        .stacks
                        .iter()
                        .find(|s| s.account_id == r.account_id && s.name == r.name)
                        .map(|s| {
                            s.members
                                .iter()
                                .filter(|m| m.status == "DELETE_FAILED")
                                .map(|m| {
                                    let hint = if m.type_name == "AWS::S3::Bucket" {
                                        " (a bucket must be empty before CloudFormation can delete it)"
                                    } else {
                                        ""
                                    };
                                    format!("{} {}{hint}", m.type_name, m.logical_id)
                                })
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default();
                    let detail = if stuck.is_empty() {
                        format!("stack is {status}")
                    } else {
                        format!("stack is {status}, held up by {}", stuck.join(", "))
                    };
                    out.push(item(None, status, detail, None));
                }
            }
            _ => {}
        }
    }
    for g in gone {
        let r = &g.resource;
        let still_there = report.resources.iter().any(|x| x.id == r.id);
        // Only an account of this organization whose buckets were listed this time can say a bucket
        // is gone: another organization's snapshot, or a failed S3 listing, says nothing.
        let listed_here = report.accounts.iter().any(|a| {
            a.id == r.account_id
                && matches!(a.status, AccountStatus::Ok | AccountStatus::Partial)
                && !a
                    .collect_errors
                    .iter()
                    .any(|e| e.collector == crate::collect::Collector::S3)
        });
        if still_there || !listed_here {
            continue;
        }
        out.push(PendingDeletion::of(
            r,
            None,
            "deleted",
            format!(
                "deleted since the snapshot of {}; S3 may keep the name unavailable for a while",
                day(&g.last_seen)
            ),
            None,
        ));
    }
    for p in &mut out {
        p.blocks = blockers(p, &report.declared);
    }
    out.sort_by(|a, b| {
        (
            a.deletion_date.is_none(),
            &a.deletion_date,
            &a.stage,
            &a.name,
        )
            .cmp(&(
                b.deletion_date.is_none(),
                &b.deletion_date,
                &b.stage,
                &b.name,
            ))
    });
    out
}

/// The deploys that will fail because `p` holds a name they create.
fn blockers(p: &PendingDeletion, declared: &[DeclaredName]) -> Vec<Blocker> {
    let kind = match p.type_name.as_str() {
        "AWS::SecretsManager::Secret" => "secret",
        "AWS::S3::Bucket" => "bucket",
        _ => return Vec::new(),
    };
    declared
        .iter()
        .filter(|d| d.type_name == p.type_name && d.name == p.name)
        // Secret names are per account (the stage's); bucket names are global.
        .filter(|d| kind == "bucket" || p.stage.as_deref() == Some(d.stage.as_str()))
        .map(|d| {
            let run = if d.tool == "terraform" {
                format!("terraform apply in {}", d.stage)
            } else {
                format!(
                    "serverless deploy --stage {} of {}",
                    d.stage,
                    d.address.split(" / ").next().unwrap_or(&d.address)
                )
            };
            let why = match (&p.state[..], &p.deletion_date) {
                ("scheduled", Some(date)) => format!("is scheduled for deletion on {}", day(date)),
                _ => "was deleted recently".to_owned(),
            };
            let fix = if kind == "secret" {
                "restore it (if the code should keep it) or force-delete it (`aws secretsmanager delete-secret --force-delete-without-recovery`) before the next run"
            } else {
                "wait until S3 releases the name, or use another name"
            };
            Blocker {
                tool: d.tool.clone(),
                stage: d.stage.clone(),
                declared_by: format!("{} ({})", d.address, d.file),
                message: format!("{run} will fail: {kind} `{}` {why} — {fix}", p.name),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
