//! Secrets Manager: metadata only, including secrets scheduled for deletion. `GetSecretValue` is never
//! called; a secret's value never reaches Stagecraft.

use super::{failure, tag_map, timestamp, CollectError, Collector, Target};
use crate::model::Resource;

pub use stagecraft_model::types::secrets::TYPE;

pub async fn collect(t: &Target<'_>) -> Result<Vec<Resource>, CollectError> {
    let c = Collector::Secretsmanager;
    let client = crate::client!(aws_sdk_secretsmanager, t.config);
    let pages: Vec<_> = client
        .list_secrets()
        .include_planned_deletion(true)
        .max_results(100)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| failure(c, t.region, "secretsmanager:ListSecrets", &e))?;
    let mut out = Vec::new();
    for s in pages.iter().flat_map(|p| p.secret_list()) {
        let mut r = Resource::new(
            TYPE,
            s.arn().unwrap_or_default().to_owned(),
            s.name().unwrap_or_default().to_owned(),
            t.account_id,
            t.region,
        );
        r.tags = tag_map(s.tags().iter().filter_map(|t| Some((t.key()?, t.value()?))));
        r.attr("description", s.description().map(str::to_owned))
            .attr("kms_key_id", s.kms_key_id().map(str::to_owned))
            .attr("created", timestamp(s.created_date()))
            .attr("last_changed", timestamp(s.last_changed_date()))
            .attr("deleted_date", timestamp(s.deleted_date()))
            .attr("rotation_enabled", s.rotation_enabled());
        out.push(r);
    }
    Ok(out)
}
