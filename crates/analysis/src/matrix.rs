//! The stage matrix: logical resources (Terraform address, `<service>/<logical id>`, parameter name) as
//! rows, stages as columns, each cell present or missing, and what differs between the present ones
//! (a parameter's value hash, a function's runtime, a parameter's type).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::model::{AccountStatus, Claim, Resource, ScanReport};

/// One cell: the resource of that row in that stage, if any.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct MatrixCell {
    /// The resource id, `None` when the stage lacks it.
    pub id: Option<String>,
    pub name: Option<String>,
    /// What is compared across stages (`runtime nodejs20.x`, `value sha256:1a2b3c4d`), if anything.
    pub compared: Option<String>,
    /// This present cell's compared value differs from another stage's.
    pub differs: bool,
    /// Who last changed the cell's resource, as far as the history read reaches.
    pub last_change: Option<crate::model::change::ChangeEvent>,
}

/// One row: a logical resource across the stages.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct MatrixRow {
    /// `tf:<address>`, `sls:<service>/<logical id>`, `cfn:<stack>/<logical id>` or `ssm:<name>`.
    pub key: String,
    /// `terraform`, `serverless`, `cloudformation` or `parameter`.
    pub kind: String,
    /// What a person reads: the address, `users / ListLambdaFunction`, the parameter name.
    pub label: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// Stage → cell, for every stage of the matrix.
    pub cells: BTreeMap<String, MatrixCell>,
    /// `same`, `differs` (present everywhere, compared values differ) or `missing` (absent somewhere).
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct StageMatrix {
    /// Stages in display order.
    pub stages: Vec<String>,
    /// Stages whose account was not scanned completely: a missing cell there means "unknown".
    pub incomplete: Vec<String>,
    pub rows: Vec<MatrixRow>,
}

/// What is compared for a resource, if anything.
fn compared(r: &Resource) -> Option<String> {
    match r.type_name.as_str() {
        crate::model::types::ssm::TYPE => {
            match (r.attr_str("parameter_type"), r.attr_str("value_hash")) {
                (_, Some(h)) => Some(format!(
                    "value {}",
                    h.get(..15).unwrap_or(h) // `sha256:` and 8 hex digits
                )),
                (Some(t), None) => Some(t.to_owned()),
                _ => None,
            }
        }
        "AWS::Lambda::Function" => r.attr_str("runtime").map(|v| format!("runtime {v}")),
        "AWS::DynamoDB::Table" => r.attr_str("billing_mode").map(|v| format!("billing {v}")),
        _ => None,
    }
}

/// The rows a resource belongs to: (key, kind, label) for each of its claims (a conflict's resource
/// sits in the row of each claim), and its parameter name.
fn identities(r: &Resource, stages: &[&str]) -> Vec<(String, String, String)> {
    if r.type_name == crate::model::types::ssm::TYPE {
        return vec![(
            format!("ssm:{}", r.name),
            "parameter".into(),
            r.name.clone(),
        )];
    }
    claim_rows(r, stages)
}

/// The row of each of a resource's claims: (key, kind, label). A stack resource is keyed by service
/// and logical id, with the Serverless Framework's deploy-time ids made stable.
pub(crate) fn claim_rows(r: &Resource, stages: &[&str]) -> Vec<(String, String, String)> {
    r.owner
        .claims()
        .into_iter()
        .filter_map(|claim| match claim {
            Claim::Terraform(c) => {
                Some((format!("tf:{}", c.address), "terraform".into(), c.address))
            }
            Claim::Serverless(c) => {
                let logical = logical(c.logical_id.as_deref());
                Some((
                    format!("sls:{}/{logical}", c.service),
                    "serverless".into(),
                    format!("{} / {logical}", c.service),
                ))
            }
            Claim::Cloudformation(c) => {
                let (base, _) = crate::serverless::split_stack_name(&c.stack, stages)?;
                let logical = logical(c.logical_id.as_deref());
                Some((
                    format!("cfn:{base}/{logical}"),
                    "cloudformation".into(),
                    format!("{base} / {logical}"),
                ))
            }
        })
        .collect()
}

fn logical(id: Option<&str>) -> &str {
    id.map_or("(stack)", crate::serverless::stable_logical_id)
}

/// The matrix of a snapshot.
pub fn stage_matrix(report: &ScanReport) -> StageMatrix {
    let mut stages: Vec<String> = Vec::new();
    for a in &report.accounts {
        if let Some(s) = &a.stage {
            if !stages.contains(s) {
                stages.push(s.clone());
            }
        }
    }
    let incomplete: Vec<String> = report
        .accounts
        .iter()
        .filter(|a| a.status != AccountStatus::Ok)
        .filter_map(|a| a.stage.clone())
        .collect();
    let stage_refs: Vec<&str> = stages.iter().map(String::as_str).collect();
    let mut rows: BTreeMap<String, MatrixRow> = BTreeMap::new();
    for r in &report.resources {
        let Some(stage) = r.stage.as_deref() else {
            continue;
        };
        for (key, kind, label) in identities(r, &stage_refs) {
            let row = rows.entry(key.clone()).or_insert_with(|| MatrixRow {
                key,
                kind,
                label,
                type_name: r.type_name.clone(),
                cells: stages
                    .iter()
                    .map(|s| {
                        (
                            s.clone(),
                            MatrixCell {
                                id: None,
                                name: None,
                                compared: None,
                                differs: false,
                                last_change: None,
                            },
                        )
                    })
                    .collect(),
                status: String::new(),
            });
            if let Some(cell) = row.cells.get_mut(stage) {
                if cell.id.is_none() {
                    cell.id = Some(r.id.clone());
                    cell.name = Some(r.name.clone());
                    cell.compared = compared(r);
                    cell.last_change = r.changed.as_ref().and_then(|c| c.last_change.clone());
                }
            }
        }
    }
    let mut rows: Vec<MatrixRow> = rows.into_values().collect();
    for row in &mut rows {
        let values: Vec<&String> = row
            .cells
            .values()
            .filter_map(|c| c.compared.as_ref())
            .collect();
        let all_same = values.windows(2).all(|w| w[0] == w[1]);
        // Parameters holding ids differ by nature (each stage's API has its own id): only a
        // difference in type, or in a value that is equal elsewhere, is interesting — so a value is
        // marked when some other stage holds the same value as a third (a majority) and this one not.
        let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
        for v in &values {
            *counts.entry(v).or_insert(0) += 1;
        }
        let majority = counts
            .iter()
            .max_by_key(|(_, n)| **n)
            .filter(|(_, n)| **n > 1)
            .map(|(v, _)| (*v).clone());
        let is_param = row.kind == "parameter";
        for cell in row.cells.values_mut() {
            cell.differs = match (&cell.compared, &majority) {
                (Some(v), Some(m)) => v != m,
                (Some(_), None) => !is_param && !all_same,
                _ => false,
            };
        }
        let missing = row.cells.values().any(|c| c.id.is_none());
        row.status = if missing {
            "missing"
        } else if row.cells.values().any(|c| c.differs) {
            "differs"
        } else {
            "same"
        }
        .to_owned();
    }
    rows.sort_by(|a, b| {
        let rank = |s: &str| match s {
            "missing" => 0,
            "differs" => 1,
            _ => 2,
        };
        (rank(&a.status), &a.kind, &a.label).cmp(&(rank(&b.status), &b.kind, &b.label))
    });
    StageMatrix {
        stages,
        incomplete,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{seam, tf, Org};

    #[test]
    fn rows_are_logical_resources_and_cells_say_present_missing_or_differs() {
        let mut org = Org::new(&["dev", "qa", "prod"]);
        for s in ["dev", "qa", "prod"] {
            seam(&mut org, s);
        }
        // Only dev and qa have the mapping; prod's runtime lags behind.
        for s in ["dev", "qa"] {
            org.add(
                s,
                "AWS::ApiGateway::BasePathMapping",
                &format!(
                    "arn:aws:apigateway:us-east-1::/domainnames/api.{s}/basepathmappings/(none)"
                ),
                &format!("api.{s}/"),
                tf(s, "module.api.aws_api_gateway_base_path_mapping.main"),
                &[],
            );
        }
        for r in &mut org.report.resources {
            if r.type_name == "AWS::Lambda::Function" {
                let rt = if r.stage.as_deref() == Some("prod") {
                    "nodejs18.x"
                } else {
                    "nodejs20.x"
                };
                r.attr("runtime", rt);
            }
        }
        let m = stage_matrix(&org.report);
        assert_eq!(m.stages, ["dev", "qa", "prod"]);
        let mapping = m
            .rows
            .iter()
            .find(|r| r.key == "tf:module.api.aws_api_gateway_base_path_mapping.main")
            .expect("mapping row");
        assert_eq!(mapping.status, "missing");
        assert!(mapping.cells["prod"].id.is_none() && mapping.cells["qa"].id.is_some());
        assert_eq!(m.rows[0].key, mapping.key, "missing rows come first");

        let function = m
            .rows
            .iter()
            .find(|r| r.key == "sls:users/ListLambdaFunction")
            .expect("function row");
        assert_eq!(function.status, "differs");
        assert!(function.cells["prod"].differs && !function.cells["dev"].differs);
        assert_eq!(
            function.cells["prod"].compared.as_deref(),
            Some("runtime nodejs18.x")
        );

        // Each stage's REST API id differs by nature: not a difference worth a mark.
        let api_id = m
            .rows
            .iter()
            .find(|r| r.key == "ssm:/api/rest_api_id")
            .expect("parameter row");
        assert_eq!(api_id.status, "same");
        // The same secret name everywhere: same.
        let name = m.rows.iter().find(|r| r.key == "ssm:/db_pw_name").unwrap();
        assert_eq!(name.status, "same");
    }

    #[test]
    fn a_parameter_whose_value_departs_from_the_others_differs() {
        let mut org = Org::new(&["dev", "qa", "prod"]);
        for (s, v) in [("dev", "on"), ("qa", "on"), ("prod", "off")] {
            org.param(s, "/flags/checkout", v, tf(s, "aws_ssm_parameter.checkout"));
        }
        let m = stage_matrix(&org.report);
        let row = &m.rows[0];
        assert_eq!(
            (row.key.as_str(), row.status.as_str()),
            ("ssm:/flags/checkout", "differs")
        );
        assert!(row.cells["prod"].differs && !row.cells["qa"].differs);
    }
}
