//! What is waiting out a deletion window across the organization, and the names it blocks.
//!
//! Secrets Manager keeps a deleted secret 7–30 days (its name cannot be reused meanwhile), KMS keys
//! wait 7–30 days, a stack can stick in `DELETE_FAILED`, a deleted bucket's name stays unavailable for
//! a while. Each pending deletion is matched against the names Terraform code and `serverless.yml`
//! will create in that stage ([`declared`]): a match is a deploy that will fail.

use time::OffsetDateTime;

use crate::config::Workspace;
use crate::model::action::ActionRequest;
use crate::model::{AccountStatus, Error, ScanReport};
pub use stagecraft_iac::declared;
pub use stagecraft_model::deletion::{
    Blocker, DeclaredName, GoneBucket, PendingDeletion, GONE_BUCKET_DAYS,
};

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

fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The call that scheduled `r`'s deletion: the newest `schedule` event naming it, unless an
/// `undo` event (a restore, a cancel) came after it.
fn scheduled<'a>(
    report: &'a ScanReport,
    r: &crate::model::Resource,
    schedule: &str,
    undo: &str,
) -> Option<&'a crate::model::change::ChangeEvent> {
    // Newest first.
    let last = report
        .changes
        .iter()
        .filter(|c| c.action == schedule || c.action == undo)
        .find(|c| c.touches(r))?;
    (last.action == schedule).then_some(last)
}

fn by_whom(c: &crate::model::change::ChangeEvent) -> String {
    format!("{} with {}, {}", c.who, c.tool.label(), day(&c.at))
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
                if let Some(listed) = r.attr_str("deleted_date") {
                    let scheduling = scheduled(report, r, "DeleteSecret", "RestoreSecret");
                    let exact = scheduling.and_then(|c| {
                        let at = parse(&c.at)?;
                        let days = i64::from(c.window_days?);
                        Some(rfc3339(at + time::Duration::days(days)))
                    });
                    let mut p = match (&exact, scheduling) {
                        (Some(deadline), Some(c)) => item(
                            Some(deadline),
                            "scheduled",
                            format!(
                                "deleted at {} with a {}-day recovery window: recoverable until {}; its name cannot be reused until then",
                                day(&c.at),
                                c.window_days.unwrap_or(30),
                                day(deadline)
                            ),
                            Some("restore_secret"),
                        ),
                        _ => {
                            let mut p = item(
                                Some(listed),
                                "scheduled",
                                format!(
                                    "deleted, recoverable until about {} (uncertain: read from ListSecrets' DeletedDate, which AWS documents both as the time of the deletion and as the date it takes effect; the account's CloudTrail history read holds no DeleteSecret call for it to count from); its name cannot be reused until then",
                                    day(listed)
                                ),
                                Some("restore_secret"),
                            );
                            p.date_certain = false;
                            p
                        }
                    };
                    p.scheduled_by = scheduling.map(by_whom);
                    out.push(p);
                }
            }
            "AWS::KMS::Key" if r.attr_str("key_state") == Some("PendingDeletion") => {
                let date = r.attr_str("deletion_date");
                let mut p = item(
                    date,
                    "scheduled",
                    format!(
                        "scheduled for deletion{}; what it encrypted becomes unreadable then",
                        date.map(|d| format!(" on {}", day(d))).unwrap_or_default()
                    ),
                    Some("cancel_key_deletion"),
                );
                p.scheduled_by =
                    scheduled(report, r, "ScheduleKeyDeletion", "CancelKeyDeletion").map(by_whom);
                out.push(p);
            }
            crate::model::types::cloudformation::STACK_TYPE => {
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
                    .any(|e| e.collector == crate::model::Collector::S3)
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

/// Whether a stage needs its name typed before an action: the config says, else `prod` does.
pub fn is_protected(workspace: &Workspace, stage: &str) -> bool {
    workspace
        .config
        .stages
        .get(stage)
        .and_then(|s| s.protected)
        .unwrap_or(stage == "prod")
}

/// Checks the request against the snapshot and the stage; returns what it acts on.
pub fn validate(
    workspace: &Workspace,
    report: &ScanReport,
    req: &ActionRequest,
) -> Result<PendingDeletion, Error> {
    if !matches!(
        req.action.as_str(),
        "restore_secret" | "cancel_key_deletion"
    ) {
        return Err(Error::Input(format!(
            "unknown action `{}`: Stagecraft can restore a secret or cancel a key deletion",
            req.action
        )));
    }
    let item = pending(report, &[])
        .into_iter()
        .find(|p| p.id == req.resource_id)
        .ok_or_else(|| {
            Error::Input(format!(
                "{} is not pending deletion in the snapshot on screen; rescan and try again",
                req.resource_id
            ))
        })?;
    if item.action.as_deref() != Some(req.action.as_str()) {
        return Err(Error::Input(format!(
            "`{}` does not apply to {} `{}`",
            req.action, item.type_name, item.name
        )));
    }
    if let Some(stage) = item.stage.as_deref() {
        if is_protected(workspace, stage) && req.typed_stage.as_deref() != Some(stage) {
            return Err(Error::Input(format!(
                "{stage} is a protected stage: type `{stage}` to confirm this action on `{}`",
                item.name
            )));
        }
    }
    Ok(item)
}

#[cfg(test)]
mod tests;
