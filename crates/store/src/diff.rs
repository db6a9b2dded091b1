//! What changed between two snapshots: resources added, removed, and changed field by field (owner,
//! name, stage, tags, attributes), plus accounts whose status changed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use stagecraft_model::change::ChangeEvent;
use stagecraft_model::{Resource, ScanReport};

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct SnapshotDiff {
    /// Snapshot ids (`null` when diffing reports that were not stored).
    #[ts(type = "number | null")]
    pub from: Option<i64>,
    #[ts(type = "number | null")]
    pub to: Option<i64>,
    pub from_started_at: String,
    pub to_started_at: String,
    pub added: Vec<Resource>,
    pub removed: Vec<Resource>,
    pub changed: Vec<ResourceChange>,
    /// Accounts whose status changed: `(account id, before, after)`.
    pub accounts: Vec<FieldChange>,
    /// The call that deleted each removed resource (by its id), when the newer snapshot's
    /// CloudTrail history holds it.
    #[serde(default)]
    pub removed_by: BTreeMap<String, ChangeEvent>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct ResourceChange {
    pub id: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub name: String,
    pub account_id: String,
    pub changes: Vec<FieldChange>,
    /// Its latest change between the two snapshots, when the history holds it: who, with which tool.
    #[serde(default)]
    pub by: Option<ChangeEvent>,
}

/// `field` is `owner`, `name`, `stage`, `tags.<key>` or `attributes.<key>` (for accounts: the id).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl SnapshotDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.accounts.is_empty()
    }
}

pub fn diff(
    from: &ScanReport,
    to: &ScanReport,
    from_id: Option<i64>,
    to_id: Option<i64>,
) -> SnapshotDiff {
    let before: BTreeMap<&str, &Resource> =
        from.resources.iter().map(|r| (r.id.as_str(), r)).collect();
    let after: BTreeMap<&str, &Resource> =
        to.resources.iter().map(|r| (r.id.as_str(), r)).collect();
    let added = to
        .resources
        .iter()
        .filter(|r| !before.contains_key(r.id.as_str()))
        .cloned()
        .collect();
    let removed: Vec<Resource> = from
        .resources
        .iter()
        .filter(|r| !after.contains_key(r.id.as_str()))
        .cloned()
        .collect();
    let mut changed = Vec::new();
    for r in &to.resources {
        let Some(old) = before.get(r.id.as_str()) else {
            continue;
        };
        let changes = resource_changes(old, r);
        if !changes.is_empty() {
            changed.push(ResourceChange {
                id: r.id.clone(),
                type_name: r.type_name.clone(),
                name: r.name.clone(),
                account_id: r.account_id.clone(),
                changes,
                by: r
                    .changed
                    .as_ref()
                    .and_then(|p| p.last_change.clone())
                    .filter(|c| since(c, from)),
            });
        }
    }
    let old_status: BTreeMap<&str, Value> = from
        .accounts
        .iter()
        .map(|a| {
            (
                a.id.as_str(),
                serde_json::to_value(a.status).unwrap_or_default(),
            )
        })
        .collect();
    let accounts = to
        .accounts
        .iter()
        .filter_map(|a| {
            let now = serde_json::to_value(a.status).unwrap_or_default();
            let was = old_status.get(a.id.as_str()).cloned();
            (was.as_ref() != Some(&now)).then(|| FieldChange {
                field: a.id.clone(),
                before: was,
                after: Some(now),
            })
        })
        .collect();
    let removed_by = deleted_by(&removed, to, from);
    SnapshotDiff {
        from: from_id,
        to: to_id,
        from_started_at: from.started_at.clone(),
        to_started_at: to.started_at.clone(),
        added,
        removed,
        changed,
        accounts,
        removed_by,
    }
}

/// Whether a change came after the older snapshot began (to the second: CloudTrail's times are
/// whole seconds).
fn since(c: &ChangeEvent, from: &ScanReport) -> bool {
    let second = |s: &str| s.get(..19).unwrap_or(s).to_owned();
    second(&c.at) >= second(&from.started_at)
}

/// For each removed resource, the newest `Delete…` call after the older snapshot that named it (by
/// ARN, name or the id's last part) in its account.
fn deleted_by(
    removed: &[Resource],
    to: &ScanReport,
    from: &ScanReport,
) -> BTreeMap<String, ChangeEvent> {
    let mut out = BTreeMap::new();
    for r in removed {
        let found = to
            .changes
            .iter()
            .find(|c| c.action.starts_with("Delete") && since(c, from) && c.touches(r));
        if let Some(c) = found {
            out.insert(r.id.clone(), c.clone());
        }
    }
    out
}

fn resource_changes(a: &Resource, b: &Resource) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut field = |name: String, x: Option<Value>, y: Option<Value>| {
        if x != y {
            out.push(FieldChange {
                field: name,
                before: x,
                after: y,
            });
        }
    };
    field(
        "owner".into(),
        serde_json::to_value(&a.owner).ok(),
        serde_json::to_value(&b.owner).ok(),
    );
    field(
        "name".into(),
        Some(a.name.clone().into()),
        Some(b.name.clone().into()),
    );
    field(
        "stage".into(),
        a.stage.clone().map(Value::from),
        b.stage.clone().map(Value::from),
    );
    let keys: BTreeSet<&String> = a.tags.keys().chain(b.tags.keys()).collect();
    for k in keys {
        field(
            format!("tags.{k}"),
            a.tags.get(k).cloned().map(Value::from),
            b.tags.get(k).cloned().map(Value::from),
        );
    }
    let keys: BTreeSet<&String> = a.attributes.keys().chain(b.attributes.keys()).collect();
    for k in keys {
        field(
            format!("attributes.{k}"),
            a.attributes.get(k).cloned(),
            b.attributes.get(k).cloned(),
        );
    }
    out
}
