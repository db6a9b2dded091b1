//! SSM Parameter Store: the seam where Terraform and Serverless hand values to each other.
//!
//! Metadata comes from `DescribeParameters`. Values are read for `String` and `StringList` parameters
//! only, with `WithDecryption=false`; a `SecureString`'s value is never requested, stored or shown.
//! Tags come from [`super::tags`].

use aws_sdk_ssm::types::ParameterType;

use super::{failure, timestamp, CollectError, Collector, Target};
use crate::model::Resource;

pub use stagecraft_model::types::ssm::TYPE;

/// The ARN of a parameter (`/a/b` → `…:parameter/a/b`, `a` → `…:parameter/a`).
pub fn parameter_arn(region: &str, account_id: &str, name: &str) -> String {
    let sep = if name.starts_with('/') { "" } else { "/" };
    format!("arn:aws:ssm:{region}:{account_id}:parameter{sep}{name}")
}

pub async fn collect(t: &Target<'_>) -> Result<Vec<Resource>, CollectError> {
    let c = Collector::Ssm;
    let client = crate::client!(aws_sdk_ssm, t.config);
    let pages: Vec<_> = client
        .describe_parameters()
        .max_results(50)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| failure(c, t.region, "ssm:DescribeParameters", &e))?;
    let metas: Vec<_> = pages.iter().flat_map(|p| p.parameters()).collect();

    // Plain values, ten names per call (the API's limit); never with decryption.
    let plain: Vec<String> = metas
        .iter()
        .filter(|m| m.r#type() != Some(&ParameterType::SecureString))
        .filter_map(|m| m.name().map(str::to_owned))
        .collect();
    let mut values = std::collections::BTreeMap::new();
    for chunk in plain.chunks(10) {
        let got = client
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .with_decryption(false)
            .send()
            .await
            .map_err(|e| failure(c, t.region, "ssm:GetParameters", &e))?;
        for p in got.parameters() {
            if p.r#type() == Some(&ParameterType::SecureString) {
                continue;
            }
            if let (Some(n), Some(v)) = (p.name(), p.value()) {
                values.insert(n.to_owned(), v.to_owned());
            }
        }
    }

    let mut out = Vec::new();
    for m in metas {
        let name = m.name().unwrap_or_default().to_owned();
        let arn = m
            .arn()
            .map(str::to_owned)
            .unwrap_or_else(|| parameter_arn(t.region, t.account_id, &name));
        let mut r = Resource::new(TYPE, arn, name.clone(), t.account_id, t.region);
        // The keyed hash compares with the hashes of deployed Lambda environments (stale deployments).
        let value_hash = values.get(&name).map(|v| t.hasher.hash(v));
        r.attr("parameter_type", m.r#type().map(|t| t.as_str().to_owned()))
            .attr("version", m.version())
            .attr("last_modified", timestamp(m.last_modified_date()))
            .attr("description", m.description().map(str::to_owned))
            .attr("data_type", m.data_type().map(str::to_owned))
            .attr("value", values.remove(&name))
            .attr("value_hash", value_hash);
        out.push(r);
    }
    Ok(out)
}
